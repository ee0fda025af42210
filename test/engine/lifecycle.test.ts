/**
 * Waiting for completion, result links, stem downloads and loop bookkeeping, in the real n8n
 * engine against the CAMB stand-in (and a second stand-in playing the storage host).
 */
import { API_KEY, ids, runStatusNode } from '../fixtures/cambWorkflow';
import {
	resultPath,
	sendTime,
	startStandIn,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';

let camb: StandIn;
let storage: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
	storage = await startStandIn();
});
afterEach(() => {
	camb.reset();
	storage.reset();
});
afterAll(async () => {
	await camb.close();
	await storage.close();
});

const run = (
	items: Parameters<typeof runStatusNode>[1],
	options?: Parameters<typeof runStatusNode>[2],
) => runStatusNode(camb.baseUrl, items, options);

const pending: Reply = { json: { status: 'PENDING', run_id: null } };
const success = (runId: number): Reply => ({ json: { status: 'SUCCESS', run_id: runId } });
const links = (runId: number) => ({
	foreground_audio_url: `${storage.baseUrl}/runs/${runId}/fg_audio.flac?X-Amz-Signature=s${runId}`,
	background_audio_url: `${storage.baseUrl}/runs/${runId}/bg_audio.flac?X-Amz-Signature=s${runId}`,
});
const WAIT = {
	waitForCompletion: true,
	options: { firstIntervalSeconds: 1, maxIntervalSeconds: 1 },
};

describe('Wait for Completion', () => {
	it('checks pending tasks again until they finish, all tasks waiting at the same time', async () => {
		const tasks = Array.from({ length: 8 }, (_, i) => `w${i}`);
		tasks.forEach((task, i) => camb.task(task, pending, pending, success(100 + i)));
		const result = await run(
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { ...WAIT, fetchResultUrls: false } },
		);

		expect(ids(result.success)).toEqual(tasks);
		expect(result.success.map((item) => item.json.check_count)).toEqual(tasks.map(() => 3));
		expect(result.success.every((item) => typeof item.json.pending_since === 'string')).toBe(true);
		// Every task's third check happens in the same moment: they waited side by side. In turn, the
		// eight third checks would lie at least 7 x 2 s apart; side by side only jitter (±10% of two
		// 1 s pauses) and a busy machine's late timers separate them.
		const thirdChecks = tasks.map((task) => sendTime(camb.requestsForTask(task)[2]));
		expect(Math.max(...thirdChecks) - Math.min(...thirdChecks)).toBeLessThan(1500);
	});

	it('routes a task that fails midway to Failure', async () => {
		camb.task('midway', pending, {
			json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR' },
		});
		const result = await run([{ task_id: 'midway' }], { parameters: WAIT });
		expect(result.failure[0].json).toMatchObject({
			task_id: 'midway',
			reason: 'PROCESSING_ERROR',
			check_count: 2,
		});
	});

	it('leaves a task still pending at Max Wait on Pending, with a suggested pause', async () => {
		camb.task('slow', pending);
		const started = Date.now();
		const result = await run([{ task_id: 'slow' }], {
			parameters: {
				waitForCompletion: true,
				options: { firstIntervalSeconds: 1, maxIntervalSeconds: 1, maxWaitSeconds: 2 },
			},
		});
		expect(Date.now() - started).toBeLessThan(6000);
		expect(result.pending[0].json).toMatchObject({
			task_id: 'slow',
			status: 'PENDING',
			next_check_in_seconds: 1,
		});
		expect(result.pending[0].json.check_count).toBeGreaterThanOrEqual(3);
		expect(camb.requestsForTask('slow')).toHaveLength(result.pending[0].json.check_count as number);
	});

	it('keeps the request cap while many tasks wait', async () => {
		const tasks = Array.from({ length: 10 }, (_, i) => `cap${i}`);
		tasks.forEach((task) =>
			camb.task(task, { ...pending, delayMs: 50 }, { json: 'SUCCESS', delayMs: 50 }),
		);
		const result = await run(
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { ...WAIT, options: { ...WAIT.options, maxInFlight: 2 } } },
		);
		expect(ids(result.success)).toEqual(tasks);
		expect(camb.maxClientInFlight).toBe(2);
	});

	it('lets 429s while waiting slow a task down, honouring Retry-After, without failing it', async () => {
		const busy: Reply = {
			status: 429,
			json: { detail: 'Too many requests' },
			headers: { 'retry-after': '1' },
		};
		camb.task('storm', pending, busy, busy, busy, success(5));
		const result = await run([{ task_id: 'storm' }], {
			parameters: { ...WAIT, fetchResultUrls: false },
		});
		expect(ids(result.success)).toEqual(['storm']);
		// The 429s are not checks: only the two status answers count.
		expect(result.success[0].json.check_count).toBe(2);
		const times = camb.requestsForTask('storm').map(sendTime);
		for (let i = 2; i < times.length; i++)
			expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(950);
	});

	it('stops waiting promptly when the execution is cancelled', async () => {
		camb.task('forever', pending);
		const controller = new AbortController();
		let abortedAt = 0;
		setTimeout(() => {
			abortedAt = Date.now();
			controller.abort();
		}, 500);
		const result = await run([{ task_id: 'forever' }], {
			parameters: {
				waitForCompletion: true,
				options: { firstIntervalSeconds: 5, maxWaitSeconds: 600 },
			},
			signal: controller.signal,
		});
		expect(result.run.status).toBe('canceled');
		expect(result.run.abandoned).toBe(false);
		// Measured from the cancel: the node was in a 5 s pause, and must not sit it out.
		expect(Date.now() - abortedAt).toBeLessThan(3000);
		// Nothing goes out after the cancel.
		const count = camb.requests.length;
		await new Promise((resolve) => setTimeout(resolve, 300));
		expect(camb.requests.length).toBe(count);
	});
});

describe('Max Checks', () => {
	it('sends a task still pending after the last allowed check to Failure as STILL_PENDING', async () => {
		camb.task('stuck', pending);
		const result = await run(
			[
				{
					task_id: 'stuck',
					check_count: 4,
					pending_since: new Date(Date.now() - 600_000).toISOString(),
				},
			],
			{
				parameters: { options: { maxChecks: 5 } },
			},
		);
		expect(result.failure[0].json).toMatchObject({
			task_id: 'stuck',
			reason: 'STILL_PENDING',
			retryable: true,
			check_count: 5,
		});
		expect(result.failure[0].json.message).toMatch(/after 5 checks over 10 min/);
		expect(result.failure[0].json).not.toHaveProperty('next_check_in_seconds');
	});
});

describe('result links', () => {
	it('fetches the links of several finished tasks with one bulk request', async () => {
		const tasks = [1, 2, 3, 4, 5].map((n) => `r${n}`);
		tasks.forEach((task, i) => camb.task(task, success(i + 1)));
		camb.on('POST', '/audio-separation-results', {
			json: Object.fromEntries([1, 2, 3, 4, 5].map((n) => [String(n), links(n)])),
		});
		const result = await run(tasks.map((task_id) => ({ task_id })));

		expect(result.success.map((item) => item.json.foreground_audio_url)).toEqual(
			[1, 2, 3, 4, 5].map((n) => links(n).foreground_audio_url),
		);
		const bulk = camb.requests.filter((r) => r.path === '/audio-separation-results');
		expect(bulk).toHaveLength(1);
		expect(JSON.parse(bulk[0].body)).toEqual({ run_ids: [1, 2, 3, 4, 5] });
		expect(bulk[0].headers['x-api-key']).toBe(API_KEY);
		expect(
			camb.requests.filter((r) => r.path.startsWith('/audio-separation-result/')),
		).toHaveLength(0);
	});

	it('falls back to one request per run when the bulk call is refused, or leaves a run out', async () => {
		[1, 2, 3].forEach((n) => {
			camb.task(`f${n}`, success(n));
			camb.on('GET', resultPath(n), { json: links(n) });
		});
		camb.on('POST', '/audio-separation-results', {
			status: 405,
			json: { detail: 'Method Not Allowed' },
		});
		const refused = await run([1, 2, 3].map((n) => ({ task_id: `f${n}` })));
		expect(refused.success.map((item) => item.json.background_audio_url)).toEqual(
			[1, 2, 3].map((n) => links(n).background_audio_url),
		);
		expect(
			camb.requests.filter((r) => r.path.startsWith('/audio-separation-result/')),
		).toHaveLength(3);

		camb.reset();
		[1, 2, 3].forEach((n) => {
			camb.task(`f${n}`, success(n));
			camb.on('GET', resultPath(n), { json: links(n) });
		});
		camb.on('POST', '/audio-separation-results', { json: { '1': links(1), '3': links(3) } });
		const partial = await run([1, 2, 3].map((n) => ({ task_id: `f${n}` })));
		expect(partial.success).toHaveLength(3);
		expect(
			camb.requests
				.filter((r) => r.path.startsWith('/audio-separation-result/'))
				.map((r) => r.path),
		).toEqual([resultPath(2)]);
	});

	it('sends a run CAMB has no result for to Failure as RESULT_NOT_FOUND', async () => {
		camb.task('gone', success(77));
		const result = await run([{ task_id: 'gone' }]);
		expect(result.failure[0].json).toMatchObject({
			task_id: 'gone',
			status: 'SUCCESS',
			run_id: 77,
			reason: 'RESULT_NOT_FOUND',
		});
	});

	it('never follows links that are not http(s)', async () => {
		camb.task('odd', success(8));
		camb.on('GET', resultPath(8), {
			json: {
				foreground_audio_url: 'file:///etc/passwd',
				background_audio_url: 'https://x.example/b',
			},
		});
		const result = await run([{ task_id: 'odd' }], { parameters: { downloadStems: true } });
		expect(result.run.error?.message).toMatch(/no usable stem links/);
		expect(storage.requests).toHaveLength(0);
	});

	it("reports a result that cannot be had after retries as the item's error", async () => {
		camb.task('busy', success(9));
		camb.on('GET', resultPath(9), {
			status: 503,
			text: 'busy',
			headers: { 'retry-after': '0' },
		});
		const result = await run([{ task_id: 'busy' }], { onError: 'continueErrorOutput' });
		expect(result.errorOutput[0].json.error).toMatch(
			/could not answer GET \/audio-separation-result\/9 after 3 attempts \(last: HTTP 503\)/,
		);
		expect(camb.requests.filter((r) => r.path === resultPath(9))).toHaveLength(3);
	});
});

describe('Download Stems', () => {
	const stemBody = (bytes: number) => 'x'.repeat(bytes);

	it.each([1024, 1024 * 1024, 8 * 1024 * 1024])(
		'downloads both stems of %i bytes as binary data, without the API key',
		async (bytes) => {
			camb.task('done', success(3));
			camb.on('GET', resultPath(3), { json: links(3) });
			storage.on('GET', '/runs/3/fg_audio.flac', {
				text: stemBody(bytes),
				headers: { 'content-type': 'audio/flac' },
			});
			storage.on('GET', '/runs/3/bg_audio.flac', {
				text: stemBody(bytes),
				headers: { 'content-type': 'application/octet-stream' },
			});
			const result = await run([{ task_id: 'done' }], { parameters: { downloadStems: true } });

			const { foreground, background } = result.success[0].binary ?? {};
			expect(foreground).toMatchObject({ fileName: 'fg_audio.flac', mimeType: 'audio/flac' });
			expect(background).toMatchObject({ fileName: 'bg_audio.flac', mimeType: 'audio/flac' });
			expect(Buffer.from(foreground!.data, 'base64')).toHaveLength(bytes);
			expect(Buffer.from(background!.data, 'base64')).toHaveLength(bytes);
			expect(storage.requests.map((r) => r.path).sort()).toEqual(
				[links(3).background_audio_url, links(3).foreground_audio_url]
					.map((u) => u.slice(storage.baseUrl.length))
					.sort(),
			);
			for (const request of storage.requests) expect(request.headers['x-api-key']).toBeUndefined();
			expect(JSON.stringify(storage.requests)).not.toContain(API_KEY);
		},
	);

	it('uses the binary property names from the options and keeps the input binary', async () => {
		camb.task('done', success(4));
		camb.on('GET', resultPath(4), { json: links(4) });
		storage.on('GET', '/runs/4/fg_audio.flac', { text: 'fg' });
		storage.on('GET', '/runs/4/bg_audio.flac', { text: 'bg' });
		const input = { data: { data: 'aGk=', mimeType: 'audio/wav', fileName: 'in.wav' } };
		const result = await run([{ json: { task_id: 'done' }, binary: input }], {
			parameters: {
				downloadStems: true,
				options: { foregroundProperty: 'voice', backgroundProperty: 'music' },
			},
		});
		expect(Object.keys(result.success[0].binary ?? {}).sort()).toEqual(['data', 'music', 'voice']);
	});

	it('retries a storage hiccup, and reports an expired link clearly', async () => {
		camb.task('hiccup', success(5));
		camb.task('expired', success(6));
		camb.on('POST', '/audio-separation-results', { json: { '5': links(5), '6': links(6) } });
		storage.on('GET', '/runs/5/fg_audio.flac', { fault: 'reset' }, { text: 'fg' });
		storage.on('GET', '/runs/5/bg_audio.flac', { text: 'bg' });
		storage.on('GET', '/runs/6/fg_audio.flac', { text: 'fg' });
		storage.on('GET', '/runs/6/bg_audio.flac', {
			status: 403,
			text: '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
		});
		const result = await run([{ task_id: 'hiccup' }, { task_id: 'expired' }], {
			parameters: { downloadStems: true },
			onError: 'continueErrorOutput',
		});
		expect(ids(result.success)).toEqual(['hiccup']);
		expect(storage.requests.filter((r) => r.path.startsWith('/runs/5/fg'))).toHaveLength(2);
		expect(result.errorOutput[0].pairedItem).toEqual({ item: 1 });
		expect(result.errorOutput[0].json.error).toMatch(
			/stem link has expired or the file is gone \(HTTP 403\)/,
		);
		expect(String(result.errorOutput[0].error?.description)).toMatch(/Request has expired/);
		expect(storage.requests.filter((r) => r.path.startsWith('/runs/6/bg'))).toHaveLength(1);
	});
});
