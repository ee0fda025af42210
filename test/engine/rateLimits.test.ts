/**
 * The adaptive rate (nodes/CambSeparationStatus/rateControl.ts, gate.ts) in n8n's real engine,
 * against a stand-in that enforces a rate limit the way an API gateway does. Timing is read on
 * the node's side (sendTime: when its HTTP client sent each request).
 */
import { API_KEY, ids, runStatusNode } from '../fixtures/cambWorkflow';
import {
	resultPath,
	sendTime,
	startStandIn,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';

const success: Reply = {
	json: { status: 'SUCCESS', run_id: 1, exception_reason: null, message: null },
};
const taskIds = (prefix: string, n: number) =>
	Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

let open: StandIn[] = [];
async function standIn(options: Parameters<typeof startStandIn>[0]): Promise<StandIn> {
	const started = await startStandIn({ apiKey: API_KEY, ...options });
	open.push(started);
	return started;
}
afterEach(async () => {
	await Promise.all(open.map(async (server) => await server.close()));
	open = [];
});

describe('a rate-limited server', () => {
	it('gets every item through a 429 storm at the defaults (Stop Workflow), the window shrinking instead of items failing', async () => {
		const camb = await standIn({
			latencyMs: 20,
			rateLimit: { perSecond: 40, burst: 10, retryAfterSeconds: 1 },
		});
		const tasks = taskIds('storm', 120);
		tasks.forEach((task) => camb.task(task, success));
		const result = await runStatusNode(
			camb.baseUrl,
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { fetchResultUrls: false } },
		);
		expect(result.run.error).toBeUndefined();
		expect(ids(result.success)).toEqual(tasks);
		expect(camb.limited).toBeGreaterThan(0);
		// Every task got through: 120 accepted requests, plus the ones turned back.
		expect(camb.requests).toHaveLength(120 + camb.limited);
		expect(camb.limited / camb.requests.length).toBeLessThan(0.25);
	});

	it('gets through without Retry-After too, and with a slow server behind the limit', async () => {
		const camb = await standIn({ latencyMs: 150, rateLimit: { perSecond: 30, burst: 5 } });
		const tasks = taskIds('bare', 60);
		tasks.forEach((task) => camb.task(task, success));
		const result = await runStatusNode(
			camb.baseUrl,
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { fetchResultUrls: false } },
		);
		expect(ids(result.success)).toEqual(tasks);
		expect(camb.limited).toBeGreaterThan(0);
	});

	it('pauses every request after one Retry-After, not only the task that got it', async () => {
		const camb = await standIn({});
		const tasks = taskIds('quick', 40);
		camb.task(
			'slow-down',
			{ status: 429, json: { detail: 'Too many requests' }, headers: { 'retry-after': '2' } },
			success,
		);
		tasks.forEach((task) => camb.task(task, success));
		const result = await runStatusNode(
			camb.baseUrl,
			[{ task_id: 'slow-down' }, ...tasks.map((task_id) => ({ task_id }))],
			{
				parameters: { fetchResultUrls: false, options: { maxInFlight: 2 } },
			},
		);
		expect(ids(result.success)).toEqual(['slow-down', ...tasks]);
		const limitedAt = camb.requestsForTask('slow-down')[0].at;
		// Without a shared cool-down the other slot would have checked dozens of quick tasks in these 2 s.
		// With it, at most the one request already in the other slot goes out.
		const during = camb.requests.filter(
			(request) => sendTime(request) > limitedAt && sendTime(request) < limitedAt + 1900,
		);
		expect(during.length).toBeLessThanOrEqual(1);
		const retry = camb.requestsForTask('slow-down')[1];
		expect(sendTime(retry) - limitedAt).toBeGreaterThanOrEqual(2000 - 10);
	});
});

describe('a fast, clean server', () => {
	it('grows the window up to the ceiling, and never past it', async () => {
		const camb = await standIn({ latencyMs: 30 });
		const tasks = taskIds('clean', 200);
		tasks.forEach((task) => camb.task(task, success));
		const result = await runStatusNode(
			camb.baseUrl,
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { fetchResultUrls: false, options: { maxInFlight: 7 } } },
		);
		expect(ids(result.success)).toEqual(tasks);
		expect(camb.maxClientInFlight).toBe(7);
	});

	it('reaches the default ceiling of 64 within a batch of 300, starting from a handful', async () => {
		const camb = await standIn({ latencyMs: 40 });
		const tasks = taskIds('grow', 300);
		tasks.forEach((task) => camb.task(task, success));
		const result = await runStatusNode(
			camb.baseUrl,
			tasks.map((task_id) => ({ task_id })),
			{ parameters: { fetchResultUrls: false } },
		);
		expect(ids(result.success)).toEqual(tasks);
		expect(camb.maxClientInFlight).toBe(64);
		// The first requests go out a few at a time (slow start), not all 64 at once.
		const firstSends = camb.requests.map(sendTime).sort((a, b) => a - b);
		expect(firstSends.filter((time) => time <= firstSends[0] + 20).length).toBeLessThanOrEqual(8);
	});

	it('keeps the storage host separate: stems download while CAMB.AI is cooling down', async () => {
		const camb = await standIn({});
		const storage = await startStandIn();
		open.push(storage);
		const link = (file: string) => `${storage.baseUrl}/runs/5/${file}`;
		camb.task('done', { json: { status: 'SUCCESS', run_id: 5 } });
		camb.on('GET', resultPath(5), {
			json: {
				foreground_audio_url: link('fg_audio.flac'),
				background_audio_url: link('bg_audio.flac'),
			},
		});
		storage.on(
			'GET',
			'/runs/5/fg_audio.flac',
			{ status: 429, headers: { 'retry-after': '1' } },
			{ stream: { bytes: 1000 } },
		);
		storage.on('GET', '/runs/5/bg_audio.flac', { stream: { bytes: 1000 } });
		const result = await runStatusNode(camb.baseUrl, [{ task_id: 'done' }], {
			parameters: { downloadStems: true },
		});
		expect(result.success[0].binary?.foreground?.fileName).toBe('fg_audio.flac');
		expect(
			storage.requests.filter((request) => request.path.endsWith('fg_audio.flac')),
		).toHaveLength(2);
		// The storage host's 429 did not reach CAMB.AI's gate: no CAMB request waited for it.
		expect(storage.requests.every((request) => request.headers['x-api-key'] === undefined)).toBe(
			true,
		);
	});
});
