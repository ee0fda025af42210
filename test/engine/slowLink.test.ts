/**
 * Large files over a slow link, in the real n8n engine (filesystem binary mode, so the file
 * streams from n8n's store as in production) against the CAMB stand-in throttled to a steady pace:
 * Request Timeout is an idle time-out for uploads and stem downloads, an upload cut before its
 * last byte is sent again (CAMB.AI cannot have the whole file), and one cut after it is not.
 *
 * Times are read on the stand-in, the side that sees the stall and the next attempt; only the
 * bounds that a busy machine cannot break are tight (the node never gives up before Request
 * Timeout); the upper ones leave seconds of room.
 */
import { randomBytes } from 'node:crypto';

import { binaryDataStream } from './harness';
import { API_KEY } from '../fixtures/package';
import { runSubmitNode, type InputFile } from '../fixtures/cambSubmit';
import { runStatusNode } from '../fixtures/cambWorkflow';
import {
	checkStreamPattern,
	resultPath,
	startStandIn,
	UPLOAD_PATH,
	uploadProblems,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';

const MiB = 1024 * 1024;
/** The Request Timeout of these tests, in seconds. */
const TIMEOUT_S = 2;
/**
 * The uplink: 6 MiB/s. On loopback the client's writes run up to ~5 MiB ahead of what the stand-in
 * has read (the kernel's buffers), which drain in under a second at this pace: well inside the
 * Request Timeout that CAMB.AI has to answer after the last byte was handed over.
 */
const UPLINK = 6 * MiB;
/** Room above a bound for the watchdog's tick (1 s), the retry's pause (up to 1 s) and a busy machine. */
const SLACK_MS = 4000;

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY, readBytesPerSecond: UPLINK });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

const uploads = () => camb.requests.filter((request) => request.path === UPLOAD_PATH);
/**
 * An upload the node gave up on is recorded once the stand-in notices: a paced stand-in reads what
 * the kernel still holds at its pace first.
 */
async function untilUploads(count: number): Promise<void> {
	const deadline = Date.now() + 10_000;
	while (uploads().length < count && Date.now() < deadline)
		await new Promise((resolve) => setTimeout(resolve, 20));
}
const take = (bytes: number): InputFile => ({
	json: { name: 'take' },
	data: randomBytes(bytes),
	fileName: 'take.flac',
	mimeType: 'audio/flac',
});
const upload = (file: InputFile, options: Record<string, unknown> = {}) =>
	runSubmitNode(camb.baseUrl, [file], {
		binaryDataMode: 'filesystem',
		onError: 'continueRegularOutput',
		parameters: { options: { timeoutSeconds: TIMEOUT_S, ...options } },
	});
/** The upload arrived whole, byte for byte, and made the one task the item carries. */
function expectOneTaskFor(file: InputFile, taskId: unknown): void {
	expect(camb.tasksCreated).toHaveLength(1);
	expect(taskId).toBe(camb.tasksCreated[0].taskId);
	const request = camb.requests[camb.tasksCreated[0].requestIndex];
	expect(
		uploadProblems(request, {
			fields: {},
			file: { fileName: 'take.flac', contentType: 'audio/flac', data: file.data as Buffer },
		}),
	).toEqual([]);
}

describe('Camb Separate Audio over a slow uplink', () => {
	it('sends a file that takes 4 x Request Timeout to upload: one upload, one task, bytes exact', async () => {
		const file = take(4 * TIMEOUT_S * UPLINK + MiB);
		const result = await upload(file);

		expect(result.output[0].json.error).toBeUndefined();
		expect(uploads()).toHaveLength(1);
		const [sent] = uploads();
		expect(sent.bodyComplete).toBe(true);
		// The stand-in took at least 4 x Request Timeout to read it: a steady link, never idle that long.
		expect(sent.bodyEndedAt! - sent.at).toBeGreaterThanOrEqual(4 * TIMEOUT_S * 1000);
		expectOneTaskFor(file, result.output[0].json.task_id);
	});

	it('gives up about Request Timeout after the link stalls mid-body, sends once more: one task', async () => {
		camb.on('POST', UPLOAD_PATH, { fault: 'hang-mid-body', afterBodyBytes: 4 * MiB }, {});
		const file = take(24 * MiB);
		const result = await upload(file);

		expect(result.output[0].json.error).toBeUndefined();
		const [stalled, again] = uploads();
		expect(uploads()).toHaveLength(2);
		expect(stalled.bodyComplete).toBe(false);
		expect(again.bodyComplete).toBe(true);
		// From the stall to the next attempt: Request Timeout without progress, then the retry's pause.
		const gap = again.at - stalled.bodyEndedAt!;
		expect(gap).toBeGreaterThanOrEqual(TIMEOUT_S * 1000);
		expect(gap).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
		expectOneTaskFor(file, result.output[0].json.task_id);
	});

	it('sends again once after a reset before the last byte: one task', async () => {
		camb.on('POST', UPLOAD_PATH, { fault: 'reset-mid-body', afterBodyBytes: 4 * MiB }, {});
		const file = take(24 * MiB);
		const result = await upload(file);

		expect(result.output[0].json.error).toBeUndefined();
		expect(uploads().map((request) => request.bodyComplete)).toEqual([false, true]);
		expectOneTaskFor(file, result.output[0].json.task_id);
	});

	it('says so when every attempt broke off before the last byte, and that nothing was created', async () => {
		camb.on('POST', UPLOAD_PATH, { fault: 'reset-mid-body', afterBodyBytes: 2 * MiB });
		const result = await upload(take(16 * MiB), { attempts: 2 });

		expect(uploads()).toHaveLength(2);
		expect(camb.tasksCreated).toHaveLength(0);
		expect(result.output[0].json.error).toBe(
			'CAMB.AI could not answer POST /audio-separation of "take.flac" after 2 attempts (last: it broke off before the whole request was sent)',
		);
		expect(result.output[0].error?.description).toMatch(
			/No attempt got the whole request out, so nothing was created: running it again is safe\./,
		);
	});

	it("in n8n's in-memory binary mode, Request Timeout bounds the whole upload (the file goes in one piece)", async () => {
		// The README's limit: no progress can be seen, so a file longer than Request Timeout at the
		// link's pace is cut off, and may have reached CAMB.AI as far as the node can tell.
		const [slow, quick] = [take(3 * TIMEOUT_S * UPLINK), take(UPLINK / 4)];
		const inMemory = (file: InputFile) =>
			runSubmitNode(camb.baseUrl, [file], {
				binaryDataMode: 'default',
				onError: 'continueRegularOutput',
				parameters: { options: { timeoutSeconds: TIMEOUT_S } },
			});
		const cut = await inMemory(slow);
		await untilUploads(1);
		expect(cut.output[0].json.error).toBe(
			'The upload of item 0 ("take.flac") may have reached CAMB.AI: the connection broke off or timed out after the whole file was handed to it',
		);
		expect(uploads()).toHaveLength(1);
		expect(uploads()[0].bodyComplete).toBe(false);
		expect(camb.tasksCreated).toHaveLength(0);

		camb.reset();
		const sent = await inMemory(quick);
		expect(sent.output[0].json.error).toBeUndefined();
		expectOneTaskFor(quick, sent.output[0].json.task_id);
	});

	it.each<[string, Reply, number, RegExp]>([
		[
			'a reset once CAMB.AI took the file',
			{ fault: 'reset', createsTask: true },
			1,
			/^(ECONNRESET|UNKNOWN): /,
		],
		[
			'silence once the last byte was out (the task made)',
			{ fault: 'hang', createsTask: true },
			1,
			new RegExp(`^ETIMEDOUT: CAMB.AI did not answer within ${TIMEOUT_S} s of the last byte`),
		],
		[
			'silence once the last byte was out (no task)',
			{ fault: 'hang' },
			0,
			new RegExp(`^ETIMEDOUT: CAMB.AI did not answer within ${TIMEOUT_S} s of the last byte`),
		],
	])('does not send again after %s: "may have reached"', async (_, reply, tasks, problem) => {
		camb.on('POST', UPLOAD_PATH, reply, {});
		const result = await upload(take(8 * MiB));

		expect(uploads()).toHaveLength(1);
		expect(uploads()[0].bodyComplete).toBe(true);
		expect(camb.tasksCreated).toHaveLength(tasks);
		expect(result.output[0].json.error).toBe(
			'The upload of item 0 ("take.flac") may have reached CAMB.AI: the connection broke off or timed out after the whole file was handed to it',
		);
		expect(result.output[0].error?.description).toMatch(problem);
	});
});

describe('Download Stems over a slow link', () => {
	let storage: StandIn;
	beforeAll(async () => {
		storage = await startStandIn();
	});
	afterEach(() => storage.reset());
	afterAll(async () => storage.close());

	const STEM_PACE = MiB;
	const runId = 7;
	const scriptTask = () => {
		camb.task('done', { json: { status: 'SUCCESS', run_id: runId } });
		camb.on('GET', resultPath(runId), {
			json: {
				foreground_audio_url: `${storage.baseUrl}/fg_audio.flac?X-Amz-Signature=s`,
				background_audio_url: `${storage.baseUrl}/bg_audio.flac?X-Amz-Signature=s`,
			},
		});
	};
	const check = () =>
		runStatusNode(camb.baseUrl, [{ task_id: 'done' }], {
			binaryDataMode: 'filesystem',
			onError: 'continueErrorOutput',
			parameters: { downloadStems: true, options: { timeoutSeconds: TIMEOUT_S } },
		});
	/** The stem's bytes, read back from n8n's binary data store, are the stand-in's pattern. */
	const patternMismatch = async (run: Awaited<ReturnType<typeof check>>, property: string) => {
		const pattern = checkStreamPattern();
		const binary = run.success[0]?.binary?.[property];
		if (binary) for await (const chunk of await binaryDataStream(binary)) pattern.update(chunk);
		return { bytes: pattern.bytes, firstMismatch: pattern.firstMismatch };
	};

	it('downloads stems that take 4 x Request Timeout each at a steady pace, byte-exact', async () => {
		scriptTask();
		const bytes = 4 * TIMEOUT_S * STEM_PACE + MiB / 2;
		const stem: Reply = { stream: { bytes, bytesPerSecond: STEM_PACE } };
		storage.on('GET', '/fg_audio.flac', stem);
		storage.on('GET', '/bg_audio.flac', stem);
		const result = await check();

		expect(result.errorOutput).toEqual([]);
		expect(storage.requests).toHaveLength(2);
		for (const property of ['foreground', 'background'])
			expect(await patternMismatch(result, property)).toEqual({ bytes, firstMismatch: undefined });
	});

	it('gives up on a stem that stops mid-body about Request Timeout later, and fetches it again', async () => {
		scriptTask();
		const bytes = 2 * MiB;
		storage.on(
			'GET',
			'/fg_audio.flac',
			{ stream: { bytes, bytesPerSecond: STEM_PACE }, fault: 'stall' },
			{ stream: { bytes } },
		);
		storage.on('GET', '/bg_audio.flac', { stream: { bytes } });
		const result = await check();

		expect(result.errorOutput).toEqual([]);
		const [stalled, again] = storage.requests.filter((r) => r.path.startsWith('/fg_audio'));
		expect(again).toBeDefined();
		// Half the stem goes out at the pace (1 s), then nothing: Request Timeout later, the retry.
		const gap = again.at - stalled.at;
		expect(gap).toBeGreaterThanOrEqual((bytes / 2 / STEM_PACE) * 1000 + TIMEOUT_S * 1000 - 100);
		expect(gap).toBeLessThan((bytes / 2 / STEM_PACE) * 1000 + TIMEOUT_S * 1000 + SLACK_MS);
		expect(await patternMismatch(result, 'foreground')).toEqual({
			bytes,
			firstMismatch: undefined,
		});
	});
});
