/**
 * Camb Separate Audio inside the real n8n engine, against the CAMB stand-in: what arrives (the
 * multipart body byte for byte, the key), what leaves, bad input that sends nothing, and exactly
 * one task per item under every fault an upload can meet.
 */
import { randomBytes } from 'node:crypto';

import type { HarnessBinaryDataMode } from '../engine/harness';
import { runSubmitNode, type InputFile } from '../fixtures/cambSubmit';
import { API_KEY, SUBMIT_NODE_NAME } from '../fixtures/package';
import { findSecret } from '../faults/soak';
import {
	startStandIn,
	UPLOAD_PATH,
	uploadProblems,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

const run = (files: InputFile[], options?: Parameters<typeof runSubmitNode>[2]) =>
	runSubmitNode(camb.baseUrl, files, options);
const uploads = () => camb.requests.filter((request) => request.path === UPLOAD_PATH);
const mp3 = (name: string, bytes = 50_000): InputFile => ({
	json: { name },
	data: randomBytes(bytes),
	fileName: `${name}.mp3`,
	mimeType: 'audio/mpeg',
});
/** A short time-out, so a hang after the upload fails in 2 s. */
const quick = { parameters: { options: { timeoutSeconds: 2 } } };

describe.each<HarnessBinaryDataMode>(['default', 'filesystem'])('in %s binary mode', (mode) => {
	it('uploads each file as media_file, byte for byte, with the key, and outputs its task_id in order', async () => {
		const files = [mp3('a'), mp3('b', 1), mp3('c', 300_000)];
		const result = await run(files, { binaryDataMode: mode });

		expect(result.run.error).toBeUndefined();
		expect(camb.tasksCreated).toHaveLength(3);
		const sent = uploads();
		expect(sent).toHaveLength(3);
		for (const request of sent) expect(request.headers['x-api-key']).toBe(API_KEY);
		expect(result.run.credentialReads).toBe(1);
		for (const [index, file] of files.entries()) {
			const request = sent.find(
				(candidate) => candidate.multipart?.files[0]?.fileName === file.fileName,
			);
			expect(
				request &&
					uploadProblems(request, {
						fields: {},
						file: { fileName: file.fileName, contentType: 'audio/mpeg', data: file.data },
					}),
			).toEqual([]);
			expect(request?.headers['content-length']).toBe(String(request?.bodyBytes));
			const task = camb.tasksCreated.find((created) => sent[created.requestIndex] === request);
			expect(result.output[index].json).toMatchObject({
				name: file.json?.name,
				task_id: task?.taskId,
				file_name: file.fileName,
			});
			expect(Date.parse(result.output[index].json.submitted_at as string)).not.toBeNaN();
			expect(result.output[index].pairedItem).toEqual({ item: index });
			// The task has the file now: it does not travel on by default.
			expect(result.output[index].binary).toBeUndefined();
		}
	});
});

it('sends the optional CAMB.AI fields, per item, and leaves empty ones out', async () => {
	await run([mp3('a'), mp3('b')], {
		parameters: {
			additionalFields: {
				projectName: '={{ "Episode " + $json.name }}',
				projectDescription: 'From n8n',
				folderId: 7,
			},
		},
	});
	const fields = uploads()
		.map((request) => request.multipart?.fields)
		.sort((x, y) => String(x?.project_name).localeCompare(String(y?.project_name)));
	expect(fields).toEqual([
		{ project_name: 'Episode a', project_description: 'From n8n', folder_id: '7' },
		{ project_name: 'Episode b', project_description: 'From n8n', folder_id: '7' },
	]);
});

it('keeps the uploaded file on the item when asked, and other binaries always', async () => {
	const kept = await run([mp3('a')], { parameters: { options: { keepBinary: true } } });
	expect(Object.keys(kept.output[0].binary ?? {})).toEqual(['data']);
	const other = await run([{ ...mp3('b'), property: 'audio' }], {
		parameters: { binaryPropertyName: 'audio' },
	});
	expect(other.output[0].binary).toBeUndefined();
	expect(camb.tasksCreated).toHaveLength(2);
});

describe('bad input: a clear error naming the item, and nothing sent', () => {
	it.each<[string, InputFile, RegExp]>([
		[
			'no file under the property',
			{
				json: {},
				data: randomBytes(10),
				fileName: 'a.mp3',
				mimeType: 'audio/mpeg',
				property: 'audio',
			},
			/^Item 1 has no file in the binary property "data"; it has "audio"$/,
		],
		[
			'no binary at all',
			{ json: { x: 1 } },
			/^Item 1 has no file in the binary property "data"; it has no binary data at all$/,
		],
		[
			'an empty file',
			{ data: Buffer.alloc(0), fileName: 'a.mp3', mimeType: 'audio/mpeg' },
			/^The file of item 1 in "data" is empty \(0 bytes\)$/,
		],
		[
			'a format CAMB.AI does not take',
			{ data: randomBytes(10), fileName: 'take.ogg', mimeType: 'audio/ogg' },
			/^The file of item 1 in "data" "take.ogg" \(audio\/ogg\) has the extension \.ogg; CAMB.AI takes AAC, FLAC, MP3 or WAV$/,
		],
	])('%s', async (_, bad, message) => {
		const stopped = await run([mp3('good'), bad]);
		expect(stopped.run.error?.message).toMatch(message);
		// Under Stop Workflow every file is checked before any upload: the good one was not sent either.
		expect(camb.requests).toEqual([]);

		const continued = await run([mp3('good'), bad], { onError: 'continueErrorOutput' });
		expect(continued.output.map((item) => item.json.name)).toEqual(['good']);
		expect(continued.errorOutput).toHaveLength(1);
		expect(continued.errorOutput[0].json.error).toMatch(message);
		expect(continued.errorOutput[0].pairedItem).toEqual({ item: 1 });
		expect(camb.tasksCreated).toHaveLength(1);
	});

	it('lets any format through with Check File Format off', async () => {
		const result = await run(
			[{ data: randomBytes(10), fileName: 'take.ogg', mimeType: 'audio/ogg' }],
			{
				parameters: { options: { checkFormat: false } },
			},
		);
		expect(result.run.error).toBeUndefined();
		expect(camb.tasksCreated).toHaveLength(1);
	});
});

describe('never two tasks for one item', () => {
	const tasksPerFile = () => camb.tasksCreated.map((task) => task.fileSha256);

	it.each<[string, Reply[]]>([
		[
			'429 with Retry-After',
			[{ status: 429, headers: { 'retry-after': '1' }, json: { detail: 'slow down' } }, {}],
		],
		['429 without Retry-After', [{ status: 429, json: { detail: 'slow down' } }, {}]],
		['503', [{ status: 503, json: { detail: 'unavailable' } }, {}]],
		['408', [{ status: 408, json: { detail: 'request timeout' } }, {}]],
	])('retries a %s (CAMB.AI did not take it): one task', async (_, replies) => {
		camb.on('POST', UPLOAD_PATH, ...replies);
		const result = await run([mp3('a')], quick);
		expect(result.run.error).toBeUndefined();
		expect(uploads()).toHaveLength(2);
		expect(camb.tasksCreated).toHaveLength(1);
		expect(result.output[0].json.task_id).toBe(camb.tasksCreated[0].taskId);
	});

	it.each<[string, Reply, number, RegExp]>([
		[
			'the connection dropped after CAMB.AI took the file',
			{ fault: 'reset', createsTask: true },
			1,
			/the connection broke off or timed out after the whole file was handed to it/,
		],
		[
			'no answer after CAMB.AI took the file (time-out)',
			{ fault: 'hang', createsTask: true },
			1,
			/the connection broke off or timed out/,
		],
		[
			// n8n's in-memory binary mode hands the file over in one piece: the node cannot tell
			// how much of it went out (streamed files: see "large files over a slow link").
			'the connection dropped during the upload of a file held in memory',
			{ fault: 'reset-mid-body' },
			0,
			/the connection broke off or timed out after the whole file was handed to it/,
		],
		[
			'a 500',
			{ status: 500, json: { detail: 'boom' } },
			0,
			/CAMB.AI answered HTTP 500 after the upload/,
		],
		[
			'a 502',
			{ status: 502, text: 'bad gateway' },
			0,
			/CAMB.AI answered HTTP 502 after the upload/,
		],
	])(
		'does not upload again when %s: the item fails saying the task may exist',
		async (_, reply, tasks, what) => {
			camb.on('POST', UPLOAD_PATH, reply, {});
			const result = await run([mp3('a')], { ...quick, onError: 'continueRegularOutput' });
			expect(uploads()).toHaveLength(1);
			expect(camb.tasksCreated).toHaveLength(tasks);
			const error = result.output[0].json.error as string;
			expect(error).toMatch(/^The upload of item 0 \("a.mp3"\) may have reached CAMB.AI: /);
			expect(error).toMatch(what);
			expect(result.output[0].error?.description).toMatch(/Check the task list in CAMB.AI Studio/);
		},
	);

	it('uploads again after such a failure only with "Retry Uploads That May Have Arrived" on', async () => {
		camb.on('POST', UPLOAD_PATH, { fault: 'reset-mid-body' }, {});
		const result = await run([mp3('a')], {
			parameters: { options: { timeoutSeconds: 2, retryIfMayHaveArrived: true } },
		});
		expect(result.run.error).toBeUndefined();
		expect(uploads()).toHaveLength(2);
		expect(uploads()[0].bodyComplete).toBe(false);
		expect(tasksPerFile()).toHaveLength(1);
	});

	it('does not retry a refusal (422) and says CAMB.AI refused the upload', async () => {
		camb.on('POST', UPLOAD_PATH, { status: 422, json: { detail: [{ msg: 'bad file' }] } });
		const result = await run([mp3('a')]);
		expect(result.run.error?.message).toBe(
			'CAMB.AI refused the upload of item 0 ("a.mp3") with HTTP 422',
		);
		expect(uploads()).toHaveLength(1);
		expect(camb.tasksCreated).toHaveLength(0);
	});

	it('stops every upload once the key is rejected, and never puts the key in output', async () => {
		const other = await startStandIn({ apiKey: 'another-key-entirely-0000' });
		try {
			const result = await runSubmitNode(other.baseUrl, [mp3('a'), mp3('b'), mp3('c')], {
				onError: 'continueRegularOutput',
				parameters: { options: { maxInFlight: 1 } },
			});
			expect(other.requests).toHaveLength(1);
			expect(result.output.map((item) => item.json.error)).toEqual([
				'CAMB.AI rejected the API key (HTTP 401)',
				'CAMB.AI rejected the API key (HTTP 401)',
				'CAMB.AI rejected the API key (HTTP 401)',
			]);
			expect(findSecret(result.output, API_KEY)).toEqual([]);
		} finally {
			await other.close();
		}
	});

	it('under Stop Workflow, names the tasks other items created before the run stopped', async () => {
		camb.on('POST', UPLOAD_PATH, { delayMs: 50 }, { status: 500, json: { detail: 'boom' } }, {});
		const result = await run([mp3('a'), mp3('b'), mp3('c'), mp3('d')], {
			parameters: { options: { maxInFlight: 1 } },
		});
		expect(result.run.error?.message).toMatch(
			/^The upload of item 1 \("b.mp3"\) may have reached CAMB.AI/,
		);
		// Item 0 got a task; item 1 failed; nothing after it was sent.
		expect(uploads()).toHaveLength(2);
		expect(camb.tasksCreated).toHaveLength(1);
		expect(result.run.error?.description).toContain(`item 0: ${camb.tasksCreated[0].taskId}`);
		expect(result.run.nodeError(SUBMIT_NODE_NAME)).toBeDefined();
	});
});

describe('rate control and the request cap apply to uploads', () => {
	it('keeps to Max Requests in Flight', async () => {
		camb.on('POST', UPLOAD_PATH, { delayMs: 100 });
		const files = Array.from({ length: 8 }, (_, i) => mp3(`f${i}`, 10_000));
		const result = await run(files, { parameters: { options: { maxInFlight: 3 } } });
		expect(result.output.map((item) => item.json.name)).toEqual(
			files.map((file) => file.json?.name),
		);
		expect(camb.maxClientInFlight).toBe(3);
		expect(camb.tasksCreated).toHaveLength(8);
	});

	it('gets every file through a token-bucket rate limit, one task each', async () => {
		const limited = await startStandIn({
			apiKey: API_KEY,
			rateLimit: { perSecond: 5, burst: 2, retryAfterSeconds: 1 },
		});
		try {
			const files = Array.from({ length: 12 }, (_, i) => mp3(`r${i}`, 5_000));
			const result = await runSubmitNode(limited.baseUrl, files);
			expect(result.run.error).toBeUndefined();
			expect(limited.limited).toBeGreaterThan(0);
			expect(limited.tasksCreated).toHaveLength(12);
			expect(new Set(limited.tasksCreated.map((task) => task.fileSha256)).size).toBe(12);
		} finally {
			await limited.close();
		}
	});
});
