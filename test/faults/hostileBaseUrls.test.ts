/**
 * Hostile input: odd base URLs in the CAMB.AI API credential, in n8n's real engine against the
 * CAMB stand-in. Each is refused clearly, naming the problem, or sends exactly the request it
 * should to exactly where it should; the API key shows up nowhere (hostileRig.ts checks after
 * every test).
 */

import { API_KEY, runStatusNode } from '../fixtures/cambWorkflow';
import { taskStatusPath } from '../stand-in/cambStandIn';
import { findSecret } from './soak';
import { camb, guard, run, storage, useHostileRig } from './hostileRig';

useHostileRig();

// ---------------------------------------------------------------------------------------------
// Base URLs in the credential
// ---------------------------------------------------------------------------------------------

const BASE_MESSAGE = /^The Base URL of the "CAMB.AI API" credential /;
const REFUSED_BASES: Array<[label: string, make: (port: number) => string, problem: RegExp]> = [
	['empty', () => '', /is empty$/],
	['blank', () => '   ', /is empty$/],
	[
		'not a URL',
		() => 'not a url',
		/is not a URL; it must look like https:\/\/client\.camb\.ai\/apis$/,
	],
	[
		'no scheme',
		() => 'client.camb.ai/apis',
		/is not a URL; it must look like https:\/\/client\.camb\.ai\/apis$/,
	],
	[
		'host:port without a scheme (parsed as scheme "localhost:")',
		(port) => `localhost:${port}`,
		/must start with https:\/\//,
	],
	['ftp:', (port) => `ftp://127.0.0.1:${port}/apis`, /must start with https:\/\/, not ftp:/],
	['file:', () => 'file:///etc/passwd', /must start with https:\/\//],
	['javascript:', () => 'javascript:alert(1)', /must start with https:\/\//],
	['data:', () => 'data:text/plain,hello', /must start with https:\/\//],
	['ws:', (port) => `ws://127.0.0.1:${port}`, /must start with https:\/\//],
	[
		'plain http to another host',
		() => 'http://camb.invalid/apis',
		/plain http:\/\/ to a host that is not this machine/,
	],
	[
		'plain http to a host that only starts like loopback',
		() => 'http://127.0.0.1.invalid/apis',
		/plain http:\/\//,
	],
	['plain http to localhost.invalid', () => 'http://localhost.invalid', /plain http:\/\//],
	['plain http to 0.0.0.0', (port) => `http://0.0.0.0:${port}`, /plain http:\/\//],
	[
		'plain http to an IPv4-mapped loopback',
		(port) => `http://[::ffff:127.0.0.1]:${port}`,
		/plain http:\/\//,
	],
	[
		'plain http, backslash trick',
		(port) => `http://camb.invalid\\@127.0.0.1:${port}`,
		/plain http:\/\/ to a host that is not this machine/,
	],
	[
		'plain http, fragment trick',
		(port) => `http://camb.invalid#@127.0.0.1:${port}`,
		/plain http:\/\/|fragment/,
	],
	[
		'loopback user info pointing elsewhere',
		(port) => `http://127.0.0.1:${port}@camb.invalid/`,
		/user name or password|plain http/,
	],
	[
		'credentials in the URL',
		(port) => `http://user:secret-pw@127.0.0.1:${port}/apis`,
		/must not contain a user name or password$/,
	],
	[
		'credentials in an https URL',
		() => 'https://user:secret-pw@client.camb.ai/apis',
		/must not contain a user name or password$/,
	],
	['a query', (port) => `http://127.0.0.1:${port}/apis?x=1`, /query \(\?\) or fragment \(#\)$/],
	['a fragment', (port) => `http://127.0.0.1:${port}/apis#top`, /query \(\?\) or fragment \(#\)$/],
];

describe('base URLs', () => {
	it.each(REFUSED_BASES)(
		'refuses %s: a clear error for every item, nothing sent anywhere',
		async (_, make, problem) => {
			const baseUrl = make(camb.port);
			const result = await run(baseUrl, [{ task_id: 'a' }, { task_id: 'b' }], {
				onError: 'continueErrorOutput',
			});
			expect(result.errorOutput.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
			for (const item of result.errorOutput) {
				expect(item.error?.name).toBe('NodeOperationError');
				expect(item.error?.message).toMatch(BASE_MESSAGE);
				expect(item.error?.message).toMatch(problem);
				expect(item.error?.message).not.toContain('secret-pw');
			}
			const stopped = await run(baseUrl, [{ task_id: 'a' }]);
			expect(stopped.run.error?.name).toBe('NodeOperationError');
			expect(stopped.run.error?.message).toMatch(BASE_MESSAGE);
			expect(camb.requests).toEqual([]);
			expect(storage.requests).toEqual([]);
			expect(guard.connects).toEqual([]);
		},
	);

	it.each([
		['a trailing slash', '/apis/'],
		['several trailing slashes', '/apis///'],
		['a deeper path', '/v1/apis/'],
		['an upper-case scheme', '/apis', 'HTTP'],
	])('keeps the path of a base URL with %s', async (_, path, scheme = 'http') => {
		const baseUrl = `${scheme}://127.0.0.1:${camb.port}${path}`;
		const prefix = path.replace(/\/+$/, '');
		camb.on('GET', `${prefix}/audio-separation/a%2Fb`, { json: 'SUCCESS' });
		const result = await run(baseUrl, [{ task_id: 'a/b' }], {
			parameters: { fetchResultUrls: false },
		});
		expect(result.run.error).toBeUndefined();
		expect(result.success.map((item) => item.json.task_id)).toEqual(['a/b']);
		expect(camb.requests.map((request) => [request.path, request.headers['x-api-key']])).toEqual([
			[`${prefix}/audio-separation/a%2Fb`, API_KEY],
		]);
	});

	it.each([
		['surrounding spaces', (port: number) => `  http://127.0.0.1:${port}  `],
		['short loopback form 127.1', (port: number) => `http://127.1:${port}`],
		['loopback as one number', (port: number) => `http://2130706433:${port}`],
		['loopback in hex', (port: number) => `http://0x7f000001:${port}`],
		['an empty query and fragment', (port: number) => `http://127.0.0.1:${port}?#`],
	])('accepts loopback written as %s, and talks to the stand-in only', async (_, make) => {
		camb.task('a', { json: 'SUCCESS' });
		const result = await run(make(camb.port), [{ task_id: 'a' }], {
			parameters: { fetchResultUrls: false },
		});
		expect(result.run.error).toBeUndefined();
		expect(camb.requests.map((request) => request.path)).toEqual([taskStatusPath('a')]);
		expect(guard.connects.map((attempt) => `${attempt.host}:${attempt.port}`)).toEqual([
			`127.0.0.1:${camb.port}`,
		]);
	});

	it('reaches an https base URL over TLS only, and fails clearly when the host is unknown', async () => {
		const result = await run('https://camb.invalid/apis', [{ task_id: 'a' }], {
			onError: 'continueErrorOutput',
			parameters: { options: { attempts: 2 } },
		});
		expect(result.errorOutput).toHaveLength(1);
		expect(result.errorOutput[0].error?.message).toMatch(
			/GET \/audio-separation\/a failed|could not answer/,
		);
		expect(String(result.errorOutput[0].error?.description)).toMatch(/ENOTFOUND/);
		expect(guard.connects.length).toBeGreaterThan(0);
		for (const attempt of guard.connects)
			expect(attempt).toEqual({ host: 'camb.invalid', port: 443, tls: true, blocked: true });
	});

	it('fails clearly when https:// meets a server that speaks plain HTTP', async () => {
		const result = await run(`https://127.0.0.1:${camb.port}`, [{ task_id: 'a' }], {
			onError: 'continueErrorOutput',
			parameters: { options: { attempts: 1 } },
		});
		expect(result.errorOutput).toHaveLength(1);
		expect(result.errorOutput[0].error?.message).toMatch(/GET \/audio-separation\/a/);
		// The TLS handshake failed: no HTTP request, so no key, reached the server.
		expect(camb.requests).toEqual([]);
	});

	it('fails clearly on loopback where nothing listens ([::1])', async () => {
		const result = await run(`http://[::1]:${camb.port}`, [{ task_id: 'a' }], {
			onError: 'continueErrorOutput',
			parameters: { options: { attempts: 1 } },
		});
		expect(result.errorOutput).toHaveLength(1);
		expect(String(result.errorOutput[0].error?.description)).toMatch(/ECONNREFUSED/);
		expect(camb.requests).toEqual([]);
	});

	// Was a node bug, fixed: the "is not a URL" error quotes the Base URL field's content, so a key
	// pasted there (key and URL swapped, a common slip) lands in the error and the execution data.
	// The Base URL is part of the credential, which n8n encrypts; execution data is not.
	it('does not echo the key when it was pasted into the Base URL field', async () => {
		// Run outside `runs`: the afterEach secret check would fail too, and this test says it more precisely.
		const result = await runStatusNode(API_KEY, [{ task_id: 'a' }], {
			apiKey: 'https://client.camb.ai/apis',
			onError: 'continueErrorOutput',
		});
		expect(result.errorOutput[0].error?.message).toMatch(BASE_MESSAGE);
		expect(findSecret([result.run.runData, result.errorOutput], API_KEY)).toEqual([]);
	});
});
