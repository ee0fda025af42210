/**
 * Hostile input, in n8n's real engine against the CAMB stand-in (and a second stand-in playing
 * the storage host of the stem links): crafted task ids, odd base URLs in the credential, and
 * answer bodies no sane server sends. For every case the node must either refuse clearly, naming
 * the item, or send exactly the request it should, to exactly where it should; and the API key
 * must show up nowhere (checked after every test, see afterEach).
 *
 * Every TCP connection of the process is recorded by netGuard.ts; connections to anything but
 * loopback are refused before a name is looked up, so nothing here leaves the machine.
 */
import { gzipSync } from 'node:zlib';

import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { API_KEY, NODE_NAME, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import {
	resultPath,
	startStandIn,
	taskStatusPath,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import { guardNetwork, type NetGuard } from './netGuard';
import { findSecret, secretPlaces } from './soak';

let camb: StandIn;
let storage: StandIn;
let guard: NetGuard;
/** Every run of the current test, for the secret checks in afterEach. */
const runs: StatusRun[] = [];

beforeAll(async () => {
	guard = guardNetwork();
	camb = await startStandIn({ apiKey: API_KEY });
	storage = await startStandIn();
});
afterAll(async () => {
	await camb.close();
	await storage.close();
	guard.restore();
});

type RunOptions = Parameters<typeof runStatusNode>[2];
async function run(
	baseUrl: string,
	items: Array<IDataObject | INodeExecutionData>,
	options: RunOptions = {},
): Promise<StatusRun> {
	const result = await runStatusNode(baseUrl, items, options);
	runs.push(result);
	return result;
}
const check = (items: Array<IDataObject | INodeExecutionData>, options: RunOptions = {}) =>
	run(camb.baseUrl, items, {
		onError: 'continueErrorOutput',
		...options,
		parameters: { fetchResultUrls: false, ...options.parameters },
	});

/** The only requests the key may travel with: CAMB's status and result endpoints, below the base path. */
const KEYED_PATH = /^(\/v1)?(\/apis)?\/audio-separation(\/[^/?#]+|-results|-result\/\d+)$/;

afterEach(() => {
	try {
		// The key is in no output item, error (message, description, cause, stack...) or run data.
		for (const result of runs) {
			expect(secretPlaces(result, API_KEY)).toEqual([]);
			expect(findSecret(result.run.nodeError(NODE_NAME), API_KEY)).toEqual([]);
		}
		// It went to the CAMB stand-in's API paths only, never to the storage host, never in a path or body.
		for (const request of camb.requests) {
			if (request.headers['x-api-key'] === API_KEY)
				expect([request.path, KEYED_PATH.test(request.path)]).toEqual([request.path, true]);
			expect(request.path + request.body).not.toContain(API_KEY);
		}
		expect(JSON.stringify(storage.requests)).not.toContain(API_KEY);
		// Nothing reached anything but the two stand-ins; the only other connections tried were TLS (https://) ones.
		for (const attempt of guard.connects) {
			expect([
				attempt,
				attempt.blocked ? attempt.tls : [camb.port, storage.port].includes(attempt.port),
			]).toEqual([attempt, true]);
		}
	} finally {
		runs.length = 0;
		guard.connects.length = 0;
		camb.reset();
		storage.reset();
	}
});

describe('the network guard', () => {
	it('records connections, lets loopback through and refuses anything else before it is looked up', async () => {
		const http = await import('node:http');
		const https = await import('node:https');
		const get = (get: typeof http.get, url: string) =>
			new Promise<string>((resolve) => {
				get(url, (response) => {
					response.resume();
					resolve(String(response.statusCode));
				}).on('error', (error) => resolve(error.message));
			});
		expect(await get(http.get, `${camb.baseUrl}/list-voices`)).toBe('401');
		expect(await get(https.get, 'https://camb.invalid/x')).toMatch(
			/ENOTFOUND camb\.invalid \(refused by the test's network guard\)/,
		);
		expect(await get(http.get, 'http://evil.invalid/x')).toMatch(/ENOTFOUND evil\.invalid/);
		expect(guard.connects).toEqual([
			{ host: '127.0.0.1', port: camb.port, tls: false, blocked: false },
			{ host: 'camb.invalid', port: 443, tls: true, blocked: true },
			{ host: 'evil.invalid', port: 80, tls: false, blocked: true },
		]);
		// The plain-http attempt above is what afterEach must never see from the node.
		guard.connects.length = 0;
	});
});

// ---------------------------------------------------------------------------------------------
// Task ids
// ---------------------------------------------------------------------------------------------

/** sent: exactly one request to /audio-separation/<encodeURIComponent(sentAs ?? id)>. refused: an error naming the item, nothing sent for it. either: one of the two. */
type Outcome = 'sent' | 'refused' | 'either';
const TASK_IDS: Array<[label: string, value: unknown, outcome: Outcome, sentAs?: string]> = [
	['path traversal', '../list-voices', 'sent'],
	['encoded traversal', '..%2Flist-voices', 'sent'],
	['encoded dot segment', '%2e%2e/x', 'sent'],
	['encoded dots alone', '%2e%2e', 'sent'],
	['mixed dots', '.%2e', 'sent'],
	['dots and slashes', '....//', 'sent'],
	['deep traversal', 'x/../../../list-voices', 'sent'],
	['backslash traversal', '..\\..\\list-voices', 'sent'],
	['absolute path', '/list-voices', 'sent'],
	['protocol-relative URL', '//evil.invalid/x', 'sent'],
	['full URL', 'http://evil.invalid/steal', 'sent'],
	['at sign', '@evil.invalid', 'sent'],
	['"." (URL parsing would drop it)', '.', 'refused'],
	['".." (URL parsing would climb)', '..', 'refused'],
	['".." padded with spaces', '  ..  ', 'refused'],
	['query', '?x=1', 'sent'],
	['fragment', '#frag', 'sent'],
	['query and fragment', 'a?b=c&d#e', 'sent'],
	['percent signs', '%00%0d%0a%25', 'sent'],
	['an expression in the data (never evaluated)', '={{ $env.HOME }}', 'sent'],
	['template braces', '{{ 7*7 }}', 'sent'],
	['prototype key', '__proto__', 'sent'],
	['CR LF header injection', 'abc\r\nX-Evil: 1', 'refused'],
	['LF', 'a\nb', 'refused'],
	['NUL', 'a\u0000b', 'refused'],
	['bell', 'a\u0007', 'refused'],
	['ANSI escape', '\u001b[31mred', 'refused'],
	['tab inside', 'a\tb', 'refused'],
	['DEL', 'a\u007fb', 'refused'],
	['C1 next line (U+0085)', 'a\u0085b', 'refused'],
	['C1 CSI (U+009B)', 'a\u009bb', 'refused'],
	['Unicode line separator (U+2028)', 'a\u2028b', 'either'],
	['zero-width space', 'a\u200bb', 'sent'],
	['right-to-left override', 'a\u202eb', 'sent'],
	['lone surrogate', 'a\ud800b', 'refused'],
	['200 characters', 'a'.repeat(200), 'sent'],
	['201 characters', 'a'.repeat(201), 'refused'],
	['100 000 characters', 'x'.repeat(100_000), 'refused'],
	['200 snowmen', '☃'.repeat(200), 'sent'],
	['101 emoji (202 UTF-16 units)', '😀'.repeat(101), 'refused'],
	['fullwidth solidus (U+FF0F)', '..／list-voices', 'sent'],
	['one-dot leaders (U+2024)', '․․/list-voices', 'sent'],
	['fullwidth full stops (U+FF0E)', '．．', 'sent'],
	['division slash (U+2215)', '..∕list-voices', 'sent'],
	['fullwidth percent-encoding', '％２ｅ％２ｅ', 'sent'],
	['surrounding spaces (trimmed)', '  abc  ', 'sent', 'abc'],
	['only spaces', '   ', 'refused'],
	['empty', '', 'refused'],
	['number 0', 0, 'sent', '0'],
	['number 42', 42, 'sent', '42'],
	['largest safe integer', Number.MAX_SAFE_INTEGER, 'sent', String(Number.MAX_SAFE_INTEGER)],
	['2^53 (not exact)', 2 ** 53, 'refused'],
	['number 1e21', 1e21, 'refused'],
	['negative number', -1, 'refused'],
	['float', 1.5, 'refused'],
	['NaN', NaN, 'refused'],
	['Infinity', Infinity, 'refused'],
	['object', { id: 'abc' }, 'refused'],
	['array', ['abc'], 'refused'],
	['empty array', [], 'refused'],
	['null', null, 'refused'],
	['true', true, 'refused'],
	['false', false, 'refused'],
];

describe('task ids', () => {
	// Every row has four entries: with fewer, jest would pass its done callback as the fourth argument.
	const rows = TASK_IDS.map(
		([label, value, outcome, sentAs]) => [label, value, outcome, sentAs ?? null] as const,
	);
	it.each(rows)(
		'%s: refused naming the item, or exactly one request to its own status path',
		async (_, value, outcome, sentAs) => {
			const sentId = sentAs ?? (typeof value === 'number' ? String(value) : (value as string));
			const script = () => {
				camb.task('fine', { json: 'SUCCESS' });
				if (outcome !== 'refused') camb.task(sentId, { json: 'PENDING' });
			};
			const paths = () => camb.requests.map((request) => request.path).sort();
			const ownPath =
				outcome === 'refused' ? undefined : `/audio-separation/${encodeURIComponent(sentId)}`;

			// Continue (using error output): the hostile item is refused or checked; the other item goes on.
			script();
			const result = await check([{ task_id: 'fine' }, { task_id: value } as IDataObject]);
			const refused = result.errorOutput.length > 0;
			if (outcome !== 'either') expect(refused ? 'refused' : 'sent').toBe(outcome);
			expect(result.run.error).toBeUndefined();
			expect(result.success.map((item) => [item.json.task_id, item.pairedItem])).toEqual([
				['fine', { item: 0 }],
			]);
			if (refused) {
				const [item] = result.errorOutput;
				expect(result.errorOutput).toHaveLength(1);
				expect(item.pairedItem).toEqual({ item: 1 });
				expect(item.error?.name).toBe('NodeOperationError');
				expect(item.error?.message).toMatch(/^The task ID of item 1 (is|must|contains)/);
				expect(paths()).toEqual([taskStatusPath('fine')]);
			} else {
				expect(result.pending.map((item) => [item.json.task_id, item.pairedItem])).toEqual([
					[sentId, { item: 1 }],
				]);
				expect(paths()).toEqual([taskStatusPath('fine'), ownPath].sort());
				// One segment below /audio-separation/, nothing a server could read as another path, query or fragment.
				expect(ownPath).toMatch(/^\/audio-separation\/[^/?#\\]+$/);
			}

			// Stop Workflow: a refused id stops the run before anything is sent.
			camb.reset();
			script();
			const stopped = await run(
				camb.baseUrl,
				[{ task_id: 'fine' }, { task_id: value } as IDataObject],
				{ parameters: { fetchResultUrls: false } },
			);
			if (refused) {
				expect(stopped.run.error?.name).toBe('NodeOperationError');
				expect(stopped.run.error?.message).toMatch(/^The task ID of item 1 /);
				expect(camb.requests).toEqual([]);
			} else {
				expect(stopped.run.error).toBeUndefined();
				expect(paths()).toEqual([taskStatusPath('fine'), ownPath].sort());
			}
		},
	);

	it('refuses a Task ID expression that resolves to nothing, naming each item', async () => {
		camb.task('fine', { json: 'SUCCESS' });
		const result = await check([{ task_id: 'fine' }, { other: 1 }], {
			parameters: { taskId: '={{ $json.missing }}' },
		});
		expect(
			result.errorOutput.map((item) => [item.pairedItem, item.error?.name, item.error?.message]),
		).toEqual([
			[
				{ item: 0 },
				'NodeOperationError',
				'The task ID of item 0 is empty (the expression gave nothing)',
			],
			[
				{ item: 1 },
				'NodeOperationError',
				'The task ID of item 1 is empty (the expression gave nothing)',
			],
		]);
		expect(camb.requests).toEqual([]);
	});

	it('treats a literal Task ID (no expression) the same way', async () => {
		camb.task('../list-voices', { json: 'SUCCESS' });
		const result = await check([{ a: 1 }, { a: 2 }], { parameters: { taskId: '../list-voices' } });
		expect(result.success.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(camb.requests.map((request) => request.path)).toEqual([
			taskStatusPath('../list-voices'),
			taskStatusPath('../list-voices'),
		]);
	});

	it('never sends a request anywhere but a status path, over all the ids above in one execution', async () => {
		const values = TASK_IDS.map(([, value]) => value);
		const result = await check(values.map((task_id) => ({ task_id }) as IDataObject));
		const outputs = [
			...result.success,
			...result.pending,
			...result.failure,
			...result.errorOutput,
		];
		expect(
			outputs.map((item) => (item.pairedItem as { item: number }).item).sort((a, b) => a - b),
		).toEqual(values.map((_, i) => i));
		for (const request of camb.requests)
			expect(request.path).toMatch(/^\/audio-separation\/[^/?#\\]+$/);
		expect(camb.requests.length + result.errorOutput.length).toBe(values.length);
		// Objects in the input are not polluted into the prototype.
		expect(({} as Record<string, unknown>).status).toBeUndefined();
	});
});

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

// ---------------------------------------------------------------------------------------------
// Answer bodies
// ---------------------------------------------------------------------------------------------

const MB = 1024 * 1024;
const sizeOf = (result: StatusRun) => JSON.stringify(result.run.runData).length;

describe('answer bodies', () => {
	// README: an answer over 1 MiB is no status; it is refused and the rest is not read.
	it.each([
		[
			'a 20 MB answer that has a status',
			{
				json: {
					status: 'SUCCESS',
					run_id: 3,
					exception_reason: null,
					message: null,
					padding: 'x'.repeat(20 * MB),
				},
			},
		],
		['a 20 MB page', { text: `<html>${'<p>filler</p>'.repeat((20 * MB) / 13)}</html>` }],
		['a body just over 1 MiB', { text: 'x'.repeat(MB + 1) }],
	])(
		'refuses %s as too large, once, without copying the bulk anywhere',
		async (_, reply: Reply) => {
			camb.task('huge', reply);
			const result = await check([{ task_id: 'huge' }]);
			const error = result.errorOutput[0].error;
			expect(error?.message).toBe(
				"CAMB.AI's answer to GET /audio-separation/huge is larger than 1 MiB; the rest was not read",
			);
			expect(camb.requestsForTask('huge')).toHaveLength(1);
			expect(sizeOf(result)).toBeLessThan(20_000);
		},
	);

	it('gives up on an answer that stops arriving halfway, after Request Timeout of silence per attempt', async () => {
		const status = JSON.stringify({ status: 'SUCCESS', run_id: 4, padding: 'z'.repeat(2000) });
		camb.task('halfway', {
			text: status,
			headers: { 'content-type': 'application/json' },
			fault: 'stall',
		});
		const started = Date.now();
		const result = await check([{ task_id: 'halfway' }], {
			parameters: { options: { timeoutSeconds: 1, attempts: 2 } },
		});
		expect(result.errorOutput[0].error?.message).toBe(
			'CAMB.AI could not answer GET /audio-separation/halfway after 2 attempts (last: no usable connection)',
		);
		expect(result.errorOutput[0].error?.description).toMatch(/the answer stalled: no data for 1 s/);
		expect(camb.requestsForTask('halfway')).toHaveLength(2);
		// Two silences of 1 s each, at least: the watchdog does not fire early.
		expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
	});

	it('refuses an answer whose length is announced as over 1 MiB without reading it', async () => {
		camb.task('announced', {
			text: 'SUCCESS',
			headers: { 'content-length': String(2 * MB) },
			fault: 'stall',
		});
		const result = await check([{ task_id: 'announced' }]);
		expect(result.errorOutput[0].error?.message).toMatch(
			/is larger than 1 MiB; the rest was not read/,
		);
	});

	it('refuses a small gzip body that inflates past 1 MiB, and stops inflating it', async () => {
		const bomb = gzipSync(Buffer.alloc(200 * MB, 0x20));
		expect(bomb.length).toBeLessThan(MB);
		camb.task('bomb', {
			raw: bomb,
			headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
		});
		const before = process.memoryUsage().rss;
		const result = await check([{ task_id: 'bomb' }]);
		expect(result.errorOutput[0].error?.message).toMatch(
			/is larger than 1 MiB; the rest was not read/,
		);
		// Inflated whole, the body alone would be 200 MB.
		expect(process.memoryUsage().rss - before).toBeLessThan(100 * MB);
	});

	it('reads a 1 MiB answer that is a status, at the cap', async () => {
		const status = JSON.stringify({ status: 'SUCCESS', run_id: 4, message: null, padding: '' });
		camb.task('full', {
			text: status.replace('"padding":""', `"padding":"${'y'.repeat(MB - status.length)}"`),
			headers: { 'content-type': 'application/json' },
		});
		const result = await check([{ task_id: 'full' }]);
		expect(result.success.map((item) => item.json.run_id)).toEqual([4]);
	});

	// Was a node bug, fixed: an unknown status and CAMB's exception_reason are copied whole into
	// status, reason and message (1 MB in, 2 MB of Failure item out); control characters too.
	it.each([
		['an unknown status', (big: string) => ({ json: big })],
		['an unknown status in an object', (big: string) => ({ json: { status: big } })],
		[
			'an exception_reason',
			(big: string) => ({ json: { status: 'ERROR', exception_reason: big } }),
		],
	])('keeps the Failure item small when CAMB sends half a MB as %s', async (_, reply) => {
		camb.task('bloat', reply('Q'.repeat(MB / 2)));
		const result = await check([{ task_id: 'bloat' }]);
		expect(result.failure).toHaveLength(1);
		// README: message is "one sentence"; a status or reason is a short code.
		expect(String(result.failure[0].json.message).length).toBeLessThan(1000);
		expect(sizeOf(result)).toBeLessThan(20_000);
	});

	it.each([
		['an unknown status', { json: 'DONE\nX-Injected: 1' }],
		[
			'an exception_reason',
			{ json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR\r\nX-Injected: 1' } },
		],
	])('keeps reason and message on one line when CAMB puts line breaks in %s', async (_, reply) => {
		camb.task('lines', reply);
		const result = await check([{ task_id: 'lines' }]);
		expect(result.failure).toHaveLength(1);
		const { reason, message } = result.failure[0].json;
		// eslint-disable-next-line no-control-regex
		expect([reason, message].filter((text) => /[\u0000-\u001f\u007f]/.test(String(text)))).toEqual(
			[],
		);
	});

	const deep = (depth: number, open: string, close: string, inner = '1') =>
		open.repeat(depth) + inner + close.repeat(depth);
	it.each([
		['100 000 nested arrays', deep(100_000, '[', ']')],
		['100 000 nested objects', deep(100_000, '{"a":', '}')],
		[
			'a status beside 100 000 nested objects',
			`{"status":"PENDING","extra":${deep(100_000, '{"a":', '}')}}`,
		],
		[
			'a message of 100 000 nested objects',
			`{"status":"ERROR","exception_reason":"PROCESSING_ERROR","message":${deep(100_000, '{"a":', '}')}}`,
		],
		[
			'a run_id of 100 000 nested arrays',
			`{"status":"SUCCESS","run_id":${deep(100_000, '[', ']')}}`,
		],
	])('copes with %s: routed or refused as no status, at once', async (_, body) => {
		camb.task('deep', { text: body, headers: { 'content-type': 'application/json' } });
		const started = Date.now();
		const result = await check([{ task_id: 'deep' }]);
		expect(Date.now() - started).toBeLessThan(10_000);
		expect(result.run.error).toBeUndefined();
		const out = [...result.success, ...result.pending, ...result.failure, ...result.errorOutput];
		expect(out.map((item) => item.pairedItem)).toEqual([{ item: 0 }]);
		if (result.errorOutput.length)
			expect(result.errorOutput[0].error?.message).toMatch(/is not a task status/);
		expect(sizeOf(result)).toBeLessThan(20_000);
		if (body.startsWith('{"status":"SUCCESS"'))
			expect(result.success[0].json).not.toHaveProperty('run_id');
	});

	it.each([
		['a number', { status: 1 }],
		['null', { status: null }],
		['an object', { status: { value: 'SUCCESS' } }],
		['a list', { status: ['SUCCESS'] }],
		['a boolean', { status: true }],
		['an empty string', { status: '' }],
		['missing, under __proto__', JSON.parse('{"__proto__": {"status": "SUCCESS"}}')],
		['missing, under constructor.prototype', { constructor: { prototype: { status: 'SUCCESS' } } }],
		['a bare number', 200],
		['a bare null', null],
		['a bare list', ['SUCCESS']],
		['a bare empty string', ''],
	])('refuses a status that is %s as no status, naming the item', async (_, json) => {
		camb.task('fine', { json: 'SUCCESS' });
		camb.task('odd', { json });
		const result = await check([{ task_id: 'fine' }, { task_id: 'odd' }]);
		expect(result.success.map((item) => item.pairedItem)).toEqual([{ item: 0 }]);
		expect(result.errorOutput.map((item) => [item.pairedItem, item.error?.message])).toEqual([
			[{ item: 1 }, "CAMB.AI's answer for item 1 is not a task status"],
		]);
		expect(({} as Record<string, unknown>).status).toBeUndefined();
	});

	it.each([
		['digits as text', '12', 12],
		['a negative number', -1, undefined],
		['a fraction', 1.5, undefined],
		['a number too large to be exact', 2 ** 53, undefined],
		['text', 'abc', undefined],
		['a path', '../list-voices', undefined],
		['digits with a path', '12/../../list-voices', undefined],
		['an object', { id: 12 }, undefined],
		['a list', [12], undefined],
		['a boolean', true, undefined],
		['null', null, undefined],
	])(
		"treats a run_id that is %s as a run only when it is a whole number, and asks only CAMB's result path",
		async (_, runId, expected) => {
			camb.task('done', { json: { status: 'SUCCESS', run_id: runId } });
			camb.on('GET', resultPath(12), {
				json: {
					foreground_audio_url: `${storage.baseUrl}/fg.flac`,
					background_audio_url: `${storage.baseUrl}/bg.flac`,
				},
			});
			const result = await check([{ task_id: 'done' }], { parameters: { fetchResultUrls: true } });
			expect(result.success).toHaveLength(1);
			expect(result.success[0].json.run_id).toBe(expected);
			const paths = camb.requests.map((request) => request.path);
			expect(paths).toEqual(
				expected === undefined
					? [taskStatusPath('done')]
					: [taskStatusPath('done'), resultPath(12)],
			);
			if (expected !== undefined)
				expect(result.success[0].json.foreground_audio_url).toBe(`${storage.baseUrl}/fg.flac`);
			else expect(result.success[0].json).not.toHaveProperty('foreground_audio_url');
		},
	);

	it('sends only whole run ids in the bulk result request', async () => {
		const runIds: unknown[] = [7, '8', -1, 'x', 9.5, '10'];
		runIds.forEach((runId, i) =>
			camb.task(`r${i}`, { json: { status: 'SUCCESS', run_id: runId } }),
		);
		camb.on('POST', '/audio-separation-results', { json: {} });
		for (const n of [7, 8, 10])
			camb.on('GET', resultPath(n), { status: 404, json: { detail: 'gone' } });
		const result = await check(
			runIds.map((_, i) => ({ task_id: `r${i}` })),
			{ parameters: { fetchResultUrls: true } },
		);
		const bulk = camb.requests.filter((request) => request.path === '/audio-separation-results');
		expect(bulk.map((request) => JSON.parse(request.body))).toEqual([{ run_ids: [7, 8, 10] }]);
		expect(result.failure.map((item) => [item.json.task_id, item.json.reason])).toEqual([
			['r0', 'RESULT_NOT_FOUND'],
			['r1', 'RESULT_NOT_FOUND'],
			['r5', 'RESULT_NOT_FOUND'],
		]);
		expect(result.success.map((item) => item.json.task_id)).toEqual(['r2', 'r3', 'r4']);
	});

	it.each([
		['file:', 'file:///etc/passwd'],
		['javascript:', 'javascript:alert(1)'],
		['data:', 'data:audio/flac;base64,AAAA'],
		['ftp:', 'ftp://127.0.0.1/fg.flac'],
		['a relative path', '/runs/1/fg.flac'],
		['protocol-relative', '//127.0.0.1/fg.flac'],
		['not text', 12345],
		['missing', undefined],
	])('never follows a stem link that is %s', async (_, link) => {
		camb.task('done', { json: { status: 'SUCCESS', run_id: 1 } });
		camb.on('GET', resultPath(1), {
			json: { foreground_audio_url: link, background_audio_url: `${storage.baseUrl}/bg.flac` },
		});
		storage.on('GET', '/bg.flac', { text: 'bg' });
		const result = await check([{ task_id: 'done' }], {
			parameters: { fetchResultUrls: true, downloadStems: true },
		});
		expect(result.errorOutput.map((item) => [item.pairedItem, item.error?.message])).toEqual([
			[{ item: 0 }, "CAMB.AI's result for item 0 has no usable stem links"],
		]);
		expect(storage.requests).toEqual([]);
		expect(camb.requests.map((request) => request.path)).toEqual([
			taskStatusPath('done'),
			resultPath(1),
		]);
	});

	it('never sends the key with a stem download, even when the link (or a redirect) points at the CAMB host', async () => {
		camb.task('done', { json: { status: 'SUCCESS', run_id: 1 } });
		camb.on('GET', resultPath(1), {
			json: {
				foreground_audio_url: `${camb.baseUrl}/list-voices?sig=1`,
				background_audio_url: `${storage.baseUrl}/bg.flac?sig=2`,
			},
		});
		storage.on('GET', '/bg.flac', { status: 302, headers: { location: `${camb.baseUrl}/steal` } });
		camb.on('GET', '/steal', { text: 'stolen?' });
		const result = await check([{ task_id: 'done' }], {
			parameters: { fetchResultUrls: true, downloadStems: true },
		});
		// CAMB's stand-in refuses requests without the key (401): the download fails, clearly.
		expect(result.errorOutput).toHaveLength(1);
		expect(result.errorOutput[0].error?.message).toMatch(
			/stem link has expired or the file is gone|storage host answered/,
		);
		const downloads = camb.requests.filter((request) => !KEYED_PATH.test(request.path));
		expect(downloads.length).toBeGreaterThan(0);
		for (const request of downloads) expect(request.headers['x-api-key']).toBeUndefined();
	});
});

// ---------------------------------------------------------------------------------------------
// Hostile headers
// ---------------------------------------------------------------------------------------------

describe('hostile Retry-After', () => {
	it.each([
		['an absurd number of seconds', { 'retry-after': '99999999999999999999' }],
		['a date far in the future', { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' }],
		['an absurd retry-after-ms', { 'retry-after-ms': '1e300' }],
	])('gives up at once on %s instead of waiting', async (_, headers) => {
		camb.task('later', { status: 429, json: {}, headers });
		const started = Date.now();
		const result = await check([{ task_id: 'later' }]);
		expect(Date.now() - started).toBeLessThan(3000);
		expect(result.errorOutput[0].error?.message).toMatch(
			/asked to wait (\d+ s|more than a day) before trying again, longer than this node waits/,
		);
		expect(camb.requestsForTask('later')).toHaveLength(1);
	});

	it.each([
		['negative', '-5'],
		['not a number', 'soon'],
		['empty', ''],
	])('falls back to its own pause on a %s Retry-After', async (_, value) => {
		camb.task(
			'busy',
			{ status: 429, json: {}, headers: { 'retry-after': value } },
			{ json: 'SUCCESS' },
		);
		const started = Date.now();
		const result = await check([{ task_id: 'busy' }]);
		expect(result.success).toHaveLength(1);
		expect(Date.now() - started).toBeLessThan(3000);
	});

	// Was a node bug, fixed: while waiting, a 429's Retry-After goes straight into next_check_in_seconds
	// (99999999999999980000 here), though the same header fails the check at once when not waiting.
	it('while waiting, suggests a sane next_check_in_seconds whatever Retry-After says', async () => {
		camb.task('storm', {
			status: 429,
			json: {},
			headers: { 'retry-after': '99999999999999999999' },
		});
		const started = Date.now();
		const result = await check([{ task_id: 'storm' }], {
			parameters: {
				waitForCompletion: true,
				options: { firstIntervalSeconds: 1, maxIntervalSeconds: 1, maxWaitSeconds: 1 },
			},
		});
		expect(Date.now() - started).toBeLessThan(5000);
		expect(result.pending.map((item) => item.json.status)).toEqual(['RATE_LIMITED']);
		const next = result.pending[0].json.next_check_in_seconds as number;
		// A Wait node fed this must be able to wait it: a whole number of seconds, no more than a day.
		expect(Number.isSafeInteger(next) && next <= 86_400 ? 'sane' : next).toBe('sane');
	});
});

// ---------------------------------------------------------------------------------------------
// The README's status table, where the code disagrees
// ---------------------------------------------------------------------------------------------

describe("the README's reasons", () => {
	// NODE BUG (reported), README: "TIMEOUT | Failure | reason TIMEOUT", "PAYMENT_REQUIRED | Failure |
	// reason PAYMENT_REQUIRED", "ERROR (or FAILED) | ... else ERROR". The code takes CAMB's
	// exception_reason for every failure status, and the status itself when there is none.
	it.each([
		[
			'TIMEOUT with an exception_reason',
			{ status: 'TIMEOUT', exception_reason: 'PROCESSING_ERROR' },
			'TIMEOUT',
		],
		[
			'PAYMENT_REQUIRED with an exception_reason',
			{ status: 'PAYMENT_REQUIRED', exception_reason: 'INTERNAL_ERROR' },
			'PAYMENT_REQUIRED',
		],
		['FAILED without an exception_reason', 'FAILED', 'ERROR'],
	])('%s has the reason the README gives', async (_, json, reason) => {
		camb.task('f', { json });
		const result = await check([{ task_id: 'f' }]);
		expect(result.failure.map((item) => item.json.reason)).toEqual([reason]);
	});

	it.each([
		[
			'ERROR with an exception_reason',
			{ status: 'ERROR', exception_reason: 'source_too_large' },
			'SOURCE_TOO_LARGE',
			false,
		],
		[
			'ERROR with exception_reason NONE',
			{ status: 'error', exception_reason: 'NONE' },
			'ERROR',
			true,
		],
		['TIMEOUT without one', 'timeout', 'TIMEOUT', false],
		[
			'PAYMENT_REQUIRED without one',
			{ status: 'Payment_Required', exception_reason: null },
			'PAYMENT_REQUIRED',
			false,
		],
	])('%s has the reason the README gives (control)', async (_, json, reason, retryable) => {
		camb.task('f', { json });
		const result = await check([{ task_id: 'f' }]);
		expect(result.failure.map((item) => [item.json.reason, item.json.retryable])).toEqual([
			[reason, retryable],
		]);
	});
});
