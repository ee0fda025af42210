/**
 * Hostile input: answer bodies no sane server sends (huge, truncated, gzip bombs, wrong types),
 * hostile Retry-After values, and the README's reasons for each failure, in n8n's real engine
 * against the CAMB stand-in and a storage host. The API key shows up nowhere (hostileRig.ts
 * checks after every test).
 */
import { gzipSync } from 'node:zlib';

import { type StatusRun } from '../fixtures/cambWorkflow';
import { resultPath, taskStatusPath, type Reply } from '../stand-in/cambStandIn';
import { KEYED_PATH, camb, check, storage, useHostileRig } from './hostileRig';

useHostileRig();

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
