/**
 * The Camb Separation Status node inside the real n8n engine, against the CAMB stand-in.
 */
import { API_KEY, ids, runStatusNode, type OnError } from '../fixtures/cambWorkflow';
import {
	resultPath,
	sendTime,
	startStandIn,
	taskStatusPath,
	type StandIn,
} from '../stand-in/cambStandIn';

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

const run = (
	items: Parameters<typeof runStatusNode>[1],
	options?: Parameters<typeof runStatusNode>[2],
) => runStatusNode(camb.baseUrl, items, options);

describe('routing', () => {
	it('sends every status, in both answer shapes and any case, to its output in input order', async () => {
		camb.task('s1', { json: 'SUCCESS' });
		camb.task('p1', {
			json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
		});
		camb.task('s2', {
			json: { status: 'success', run_id: 42, exception_reason: null, message: null },
		});
		camb.task('e1', {
			json: {
				status: 'ERROR',
				run_id: null,
				exception_reason: 'PROCESSING_ERROR',
				message: 'boom',
			},
		});
		camb.task('p2', { json: 'pending' });
		camb.task('t1', { json: 'TIMEOUT' });
		camb.task('pay', { json: { status: 'PAYMENT_REQUIRED' } });
		camb.task('u1', { json: { status: 'RUNNING' } });
		camb.task('s3', { json: 'Success' });

		const tasks = ['s1', 'p1', 's2', 'e1', 'p2', 't1', 'pay', 'u1', 's3'];
		const result = await run(
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { fetchResultUrls: false } },
		);

		expect(result.run.error).toBeUndefined();
		expect(ids(result.success)).toEqual(['s1', 's2', 's3']);
		expect(ids(result.pending)).toEqual(['p1', 'p2']);
		expect(ids(result.failure)).toEqual(['e1', 't1', 'pay', 'u1']);
		expect(result.errorOutput).toEqual([]);

		// pairedItem points back at the input item, and every input item left exactly once.
		const paired = [...result.success, ...result.pending, ...result.failure].map(
			(item) => item.pairedItem,
		);
		expect(paired).toHaveLength(tasks.length);
		for (const item of [...result.success, ...result.pending, ...result.failure]) {
			expect(item.pairedItem).toEqual({ item: tasks.indexOf(item.json.task_id as string) });
		}
		expect(result.failure.map((item) => item.json.reason)).toEqual([
			'PROCESSING_ERROR',
			'TIMEOUT',
			'PAYMENT_REQUIRED',
			'UNKNOWN_STATUS',
		]);
	});

	it('adds the documented fields, keeps the input JSON and passes binary data through', async () => {
		camb.task('s', { json: { status: 'SUCCESS', run_id: 7 } });
		camb.on('GET', resultPath(7), {
			json: {
				foreground_audio_url: 'https://store.example/fg_audio.flac',
				background_audio_url: 'https://store.example/bg_audio.flac',
			},
		});
		camb.task('p', { json: 'PENDING' });
		camb.task('e', { json: { status: 'ERROR', exception_reason: 'SOURCE_TOO_LARGE' } });
		const binary = { data: { data: 'aGVsbG8=', mimeType: 'audio/wav', fileName: 'a.wav' } };
		const result = await run([
			{ json: { task_id: 's', project: 'x' }, binary },
			{
				json: {
					task_id: 'p',
					project: 'z',
					check_count: 4,
					pending_since: '2026-11-28T10:00:00.000Z',
				},
			},
			{ json: { task_id: 'e', project: 'y' } },
		]);

		const [success] = result.success;
		expect(success.json).toEqual({
			task_id: 's',
			project: 'x',
			status: 'SUCCESS',
			run_id: 7,
			checked_at: expect.any(String),
			check_count: 1,
			pending_since: null,
			foreground_audio_url: 'https://store.example/fg_audio.flac',
			background_audio_url: 'https://store.example/bg_audio.flac',
		});
		expect(Date.parse(success.json.checked_at as string)).not.toBeNaN();
		expect(success.binary).toEqual(binary);

		// A looped-back item carries its count and first-pending time on, plus a suggested pause.
		expect(result.pending[0].json).toEqual({
			task_id: 'p',
			project: 'z',
			status: 'PENDING',
			checked_at: expect.any(String),
			check_count: 5,
			pending_since: '2026-11-28T10:00:00.000Z',
			next_check_in_seconds: expect.any(Number),
		});

		const [failure] = result.failure;
		expect(failure.json).toEqual({
			task_id: 'e',
			project: 'y',
			status: 'ERROR',
			checked_at: expect.any(String),
			check_count: 1,
			pending_since: null,
			reason: 'SOURCE_TOO_LARGE',
			message: expect.stringContaining('SOURCE_TOO_LARGE'),
			retryable: false,
		});
		expect(failure.error).toBeUndefined();
	});

	it('sends one GET per item to the status path, with the key in x-api-key', async () => {
		camb.task('a/b?c#d', { json: 'SUCCESS' });
		camb.task('plain', { json: 'SUCCESS' });
		await run([{ task_id: 'a/b?c#d' }, { task_id: 'plain' }]);

		expect(camb.requests.map((r) => [r.method, r.path])).toEqual(
			expect.arrayContaining([
				['GET', '/audio-separation/a%2Fb%3Fc%23d'],
				['GET', '/audio-separation/plain'],
			]),
		);
		expect(camb.requests).toHaveLength(2);
		for (const request of camb.requests) expect(request.headers['x-api-key']).toBe(API_KEY);
	});

	it('reads the credential once per execution, however many requests it sends', async () => {
		const items = Array.from({ length: 20 }, (_, i) => ({ task_id: `once-${i}` }));
		for (const { task_id } of items) camb.task(task_id, { json: 'PENDING' });
		const result = await run(items);

		expect(camb.requests).toHaveLength(20);
		for (const request of camb.requests) expect(request.headers['x-api-key']).toBe(API_KEY);
		expect(result.run.credentialReads).toBe(1);
	});

	it('reads the task id from the Task ID parameter, numbers included', async () => {
		camb.task('12345', { json: 'PENDING' });
		const result = await run([{ job: { id: 12345 } }], {
			parameters: { taskId: '={{ $json.job.id }}' },
		});
		expect(ids(result.pending)).toEqual(['12345']);
	});

	it('puts a 404 on Failure as TASK_NOT_FOUND, or on Pending when the option says so', async () => {
		const strict = await run([{ task_id: 'nobody' }]);
		expect(strict.failure[0].json).toMatchObject({ reason: 'TASK_NOT_FOUND', retryable: false });

		const lenient = await run([{ task_id: 'nobody' }], {
			parameters: { options: { notFoundAsPending: true } },
		});
		expect(ids(lenient.pending)).toEqual(['nobody']);
	});

	it('puts unknown statuses on Pending when the option says so', async () => {
		camb.task('q', { json: 'QUEUED' });
		const result = await run([{ task_id: 'q' }], {
			parameters: { options: { unknownStatusAsPending: true } },
		});
		expect(result.pending[0].json).toMatchObject({ task_id: 'q', status: 'QUEUED' });
	});

	it('keeps at most "Max Requests in Flight" requests open at once', async () => {
		const tasks = Array.from({ length: 12 }, (_, i) => `t${i}`);
		for (const task of tasks) camb.task(task, { json: 'SUCCESS', delayMs: 150 });
		const started = Date.now();
		const result = await run(
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { options: { maxInFlight: 3 } } },
		);
		expect(ids(result.success)).toEqual(tasks);
		// 12 requests of 150 ms, 3 at a time, need 4 waves; all at once would take one.
		expect(camb.maxClientInFlight).toBe(3);
		expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 150);
	});
});

describe('bad input', () => {
	it.each([
		['an empty id', '', /item 1 is empty/],
		['a missing id', undefined, /item 1 is empty/],
		['a line break', 'abc\r\nX-Evil: 1', /item 1 contains control characters/],
		['a dot segment', '..', /item 1 is "\.\."/],
		['an object', { id: 1 }, /item 1 must be text/],
	])('stops on %s, naming the item, before any request', async (_, taskId, message) => {
		camb.task('fine', { json: 'SUCCESS' });
		const result = await run([{ task_id: 'fine' }, { task_id: taskId }]);
		expect(result.run.error?.message).toMatch(message);
		expect(result.run.error?.name).toBe('NodeOperationError');
		expect(camb.requests).toHaveLength(0);
	});

	it('never lets a crafted id reach another path', async () => {
		const crafted = [
			'../list-voices',
			'..%2Flist-voices',
			'%2e%2e',
			'x/../../list-voices',
			'?x=1',
			'#frag',
		];
		const result = await run(crafted.map((task_id) => ({ task_id })));
		expect(result.failure).toHaveLength(crafted.length);
		expect(camb.requests.map((r) => r.path).sort()).toEqual(
			crafted.map((id) => taskStatusPath(id)).sort(),
		);
	});

	it('refuses a plain-http base URL that is not loopback, without sending the key', async () => {
		const result = await runStatusNode('http://camb.example.invalid/apis', [{ task_id: 'a' }]);
		expect(result.run.error?.message).toMatch(/Base URL .* plain http:\/\/ .*unencrypted/);
	});
});

describe('request failures', () => {
	it('retries 429 honouring Retry-After, then routes the answer', async () => {
		camb.task(
			'busy',
			{ status: 429, json: { detail: 'slow down' }, headers: { 'retry-after': '1' } },
			{ json: 'SUCCESS' },
		);
		const started = Date.now();
		const result = await run([{ task_id: 'busy' }]);
		expect(ids(result.success)).toEqual(['busy']);
		expect(camb.requestsForTask('busy')).toHaveLength(2);
		const [first, second] = camb.requestsForTask('busy');
		expect(sendTime(second) - sendTime(first)).toBeGreaterThanOrEqual(950);
		expect(Date.now() - started).toBeLessThan(5000);
	});

	it('retries 5xx and dropped connections', async () => {
		camb.task(
			'flaky',
			{ status: 503, text: 'busy', headers: { 'retry-after': '0' } },
			{ fault: 'reset' },
			{ json: 'PENDING' },
		);
		const result = await run([{ task_id: 'flaky' }], { parameters: { options: { attempts: 3 } } });
		expect(ids(result.pending)).toEqual(['flaky']);
		expect(camb.requestsForTask('flaky')).toHaveLength(3);
	});

	it('times out a request that never answers and tries again', async () => {
		camb.task('slow', { fault: 'hang' }, { json: 'SUCCESS' });
		const result = await run([{ task_id: 'slow' }], {
			parameters: { options: { timeoutSeconds: 1 } },
		});
		expect(ids(result.success)).toEqual(['slow']);
		expect(camb.requestsForTask('slow')).toHaveLength(2);
	});

	it('gives up after "Attempts per Check" and says what was tried', async () => {
		camb.task('down', {
			status: 502,
			text: '<html>Bad Gateway</html>',
			headers: { 'retry-after': '0' },
		});
		const result = await run([{ task_id: 'down' }], { parameters: { options: { attempts: 2 } } });
		expect(camb.requestsForTask('down')).toHaveLength(2);
		expect(result.run.error?.name).toBe('NodeApiError');
		expect(result.run.error?.message).toMatch(
			/could not answer GET \/audio-separation\/down after 2 attempts \(last: HTTP 502\)/,
		);
		expect(result.run.error?.description).toMatch(
			/Tried GET \/audio-separation\/down 2 times .*HTTP 502 <html>Bad Gateway<\/html>/,
		);
	});

	it('gives up at once when Retry-After asks for longer than the node waits', async () => {
		camb.task('later', { status: 429, json: {}, headers: { 'retry-after': '3600' } });
		const result = await run([{ task_id: 'later' }]);
		expect(camb.requestsForTask('later')).toHaveLength(1);
		expect(result.run.error?.message).toMatch(/asked to wait 3600 s/);
	});

	it('stops with a clear error when the key is rejected, and does not keep sending it', async () => {
		const tasks = Array.from({ length: 20 }, (_, i) => ({ task_id: `k${i}` }));
		const result = await run(tasks, {
			apiKey: 'wrong-key',
			parameters: { options: { maxInFlight: 2 } },
		});
		expect(result.run.error?.name).toBe('NodeApiError');
		expect(result.run.error?.message).toMatch(/CAMB.AI rejected the API key \(HTTP 401\)/);
		expect(camb.requests.length).toBeLessThanOrEqual(2);
	});

	it('reports 403 as a key without permission', async () => {
		camb.task('f', { status: 403, json: { detail: 'Forbidden' } });
		const result = await run([{ task_id: 'f' }]);
		expect(result.run.error?.message).toMatch(/rejected the API key \(HTTP 403\)/);
		expect(result.run.error?.description).toMatch(/not allowed/);
	});

	it.each([
		[
			'HTML',
			{ text: '<html><body>Welcome to nginx</body></html>' },
			/not a task status/,
			/Welcome to nginx/,
		],
		[
			'broken JSON',
			{ text: '{"status": "SUCC', headers: { 'content-type': 'application/json' } },
			/not a task status/,
			/not JSON/,
		],
		['JSON without status', { json: { hello: 'world' } }, /not a task status/, /has no status/],
	])(
		'stops on a 200 whose body is %s, quoting a short excerpt',
		async (_, reply, message, description) => {
			camb.task('odd', reply);
			const result = await run([{ task_id: 'odd' }]);
			expect(result.run.error?.message).toMatch(message);
			expect(result.run.error?.description).toMatch(description);
		},
	);

	it('does not follow redirects, so the key cannot be carried to another host', async () => {
		const elsewhere = await startStandIn();
		try {
			camb.task('moved', { status: 302, headers: { location: `${elsewhere.baseUrl}/steal` } });
			const result = await run([{ task_id: 'moved' }]);
			expect(result.run.error?.message).toMatch(/HTTP 302/);
			expect(elsewhere.requests).toHaveLength(0);
		} finally {
			await elsewhere.close();
		}
	});
});

describe("n8n's On Error settings", () => {
	const scenario = () => {
		camb.task('ok', { json: 'SUCCESS' });
		camb.task('failed', { json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR' } });
		camb.task('broken', { status: 500, text: 'oops', headers: { 'retry-after': '0' } });
		return [{ task_id: 'ok' }, { task_id: 'failed' }, { task_id: 'broken' }, { task_id: '' }];
	};

	it('Stop Workflow: the first error by item order fails the run', async () => {
		const result = await run(scenario(), { onError: 'stopWorkflow' });
		expect(result.run.error?.message).toMatch(/item 3 is empty/);
	});

	it('Stop Workflow: reports the error that stopped the run, not the items it kept from being checked', async () => {
		camb.task('slow', { json: { status: 'SUCCESS', run_id: 1 }, delayMs: 300 });
		camb.task('bad', { status: 400, json: { detail: 'Bad request' } });
		const result = await run([{ task_id: 'slow' }, { task_id: 'bad' }, { task_id: 'never' }], {
			parameters: { options: { maxInFlight: 2 } },
		});
		expect(result.run.error?.message).toMatch(/HTTP 400/);
		expect(camb.requestsForTask('never')).toHaveLength(0);
	});

	it('Continue: request errors and bad ids leave on Failure carrying the error; task failures stay as they are', async () => {
		const result = await run(scenario(), { onError: 'continueRegularOutput' satisfies OnError });
		expect(result.run.error).toBeUndefined();
		expect(ids(result.success)).toEqual(['ok']);
		expect(result.failure).toHaveLength(3);
		expect(result.failure[0].json).toMatchObject({ task_id: 'failed', reason: 'PROCESSING_ERROR' });
		expect(result.failure[0].error).toBeUndefined();
		expect(result.failure[1].json).toEqual({ error: expect.stringMatching(/could not answer/) });
		expect(result.failure[2].json).toEqual({ error: expect.stringMatching(/item 3 is empty/) });
		expect(result.failure.map((item) => item.pairedItem)).toEqual([
			{ item: 1 },
			{ item: 2 },
			{ item: 3 },
		]);
		expect(result.errorOutput).toEqual([]);
	});

	it("Continue (using error output): errors reach n8n's error output, task failures stay on Failure", async () => {
		const result = await run(scenario(), { onError: 'continueErrorOutput' });
		expect(result.run.error).toBeUndefined();
		expect(ids(result.success)).toEqual(['ok']);
		expect(ids(result.failure)).toEqual(['failed']);
		expect(result.errorOutput.map((item) => item.pairedItem)).toEqual([{ item: 2 }, { item: 3 }]);
		expect(result.errorOutput[0].json.error).toMatch(/could not answer/);
	});

	it('Continue with a rejected key: every item carries the error, and the key is sent only once per slot', async () => {
		const items = Array.from({ length: 10 }, (_, i) => ({ task_id: `k${i}` }));
		const result = await run(items, {
			apiKey: 'wrong-key',
			onError: 'continueErrorOutput',
			parameters: { options: { maxInFlight: 1 } },
		});
		expect(result.errorOutput).toHaveLength(10);
		expect(
			result.errorOutput.every((item) => /rejected the API key/.test(item.json.error as string)),
		).toBe(true);
		expect(camb.requests).toHaveLength(1);
	});
});

describe('secrets', () => {
	const WRONG_KEY = 'wrong-key-5e6f7a8b9c0d';
	it('never puts the API key in output items, errors or run data', async () => {
		camb.task('s', { json: 'SUCCESS' });
		camb.task('e', { json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR' } });
		camb.task('x', { status: 500, text: 'oops', headers: { 'retry-after': '0' } });
		camb.task('h', { text: '<html/>' });
		const runs = [
			await run([{ task_id: 's' }, { task_id: 'e' }, { task_id: 'x' }, { task_id: 'h' }], {
				onError: 'continueRegularOutput',
			}),
			await run([{ task_id: 'x' }]),
			await run([{ task_id: 'h' }]),
			await run([{ task_id: 's' }], { apiKey: WRONG_KEY }),
		];
		for (const result of runs) {
			const everything =
				JSON.stringify(result.run.runData) +
				JSON.stringify(result.run.error ?? {}) +
				String(result.run.error?.stack);
			expect(everything).not.toContain(API_KEY);
			expect(everything).not.toContain(WRONG_KEY);
		}
	});
});
