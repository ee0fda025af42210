/**
 * Hostile input, in n8n's real engine against the CAMB stand-in (and a second stand-in playing
 * the storage host of the stem links): crafted task ids, odd base URLs in the credential, and
 * answer bodies no sane server sends. For every case the node must either refuse clearly, naming
 * the item, or send exactly the request it should, to exactly where it should; and the API key
 * must show up nowhere (checked after every test, see afterEach).
 *
 * Every TCP connection of the process is recorded by netGuard.ts; connections to anything but
 * loopback are refused before a name is looked up, so nothing here leaves the machine.
 *
 * This file: the network guard and crafted task ids; odd base URLs are in
 * hostileBaseUrls.test.ts, hostile answer bodies, Retry-After values and the README's reasons in
 * hostileAnswers.test.ts. The shared set-up and after-each checks are in hostileRig.ts.
 */

import type { IDataObject } from 'n8n-workflow';

import { taskStatusPath } from '../stand-in/cambStandIn';
import { camb, check, guard, run, useHostileRig } from './hostileRig';

useHostileRig();

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
