/**
 * Camb Separate Audio in REAL n8n (1.x on Node 20, 2.x on Node 24), installed as a community
 * package: files read from disk by n8n's own "Read/Write Files from Disk" node are uploaded to the
 * CAMB stand-in on 127.0.0.1. Assertions read n8n's run output and what the stand-in received:
 * the multipart body byte for byte, the key, exactly one task per item under faults, nothing at
 * all for bad input, and the key in no output, log or file.
 *
 * One n8n session per major; every workflow is imported with one command, then each test runs
 * one `n8n execute`. The files live in a temp folder outside the clone, the only folder n8n may
 * read (N8N_RESTRICT_FILE_ACCESS_TO: 2.x allows only ~/.n8n-files by default, 1.x everything).
 *
 * Run with `npm run test:e2e` (build, cached n8n install, then jest -c jest.e2e.config.js).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { demoRecording } from '../fixtures/demoScenario';
import { API_KEY, credentialRecord, STATUS_NODE_NAME, SUBMIT_NODE_NAME } from '../fixtures/package';
import {
	startStandIn,
	taskStatusPath,
	UPLOAD_PATH,
	uploadProblems,
	writePatternFile,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	expectRun,
	filesContaining,
	startSession,
	type Json,
	type Major,
	type N8nItem,
	type N8nSession,
	type RunOptions,
	type RunResult,
} from './n8n';
import { READ_NODE, uploadWorkflow } from './uploadWorkflow';

// jest.config.js (unit tests) matches *.test.ts too; these need jest.e2e.config.js, whose
// global setup checks the n8n installs (throwing if one is missing) and packs the package.
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

/** Fields the upload workflows set, so the test sees them arrive (one an expression per item). */
const ADDITIONAL_FIELDS = {
	projectName: '={{ "From disk: " + $json.fileName }}',
	projectDescription: 'Uploaded by the e2e test',
	folderId: 7,
};
const fieldsFor = (fileName: string) => ({
	project_name: `From disk: ${fileName}`,
	project_description: 'Uploaded by the e2e test',
	folder_id: '7',
});

/** The files on disk, per folder: each folder is what one workflow reads (`<folder>/*`). */
async function writeFiles(root: string): Promise<void> {
	const write = (relative: string, data: Buffer) => {
		fs.mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
		fs.writeFileSync(path.join(root, relative), data);
	};
	write('three/take-1.mp3', randomBytes(150_000));
	write('three/take-2.wav', demoRecording());
	// Several MiB: the upload takes many chunks, and a fault can strike in the middle of it.
	await writePatternFile(path.join(root, 'three/take-3.flac'), 3 * 1024 * 1024 + 17);
	fs.mkdirSync(path.join(root, 'one'), { recursive: true });
	await writePatternFile(path.join(root, 'one/take.mp3'), 4 * 1024 * 1024);
	write('empty/good.mp3', randomBytes(20_000));
	write('empty/empty.mp3', Buffer.alloc(0));
	write('ogg/good.mp3', randomBytes(20_000));
	write('ogg/take.ogg', randomBytes(20_000));
}

interface UploadWorkflow {
	/** Folder under the files root; the Read node reads every file in it. */
	folder: string;
	/** Camb Separate Audio's options (Options collection). */
	options?: Json;
	/** The Read node's output field, default "data". */
	readInto?: string;
	/** Camb Separation Status after the upload. */
	withStatus?: boolean;
}

/** The upload workflow of one spec: every file of `<root>/<folder>`, with the fields above. */
function workflowOf(name: string, root: string, spec: UploadWorkflow): Json {
	return uploadWorkflow({
		name: `e2e upload: ${name}`,
		fileSelector: `${path.join(root, spec.folder)}/*`,
		readInto: spec.readInto,
		submit: { additionalFields: ADDITIONAL_FIELDS, options: spec.options ?? {} },
		withStatus: spec.withStatus,
	});
}

const WORKFLOWS: Record<string, UploadWorkflow> = {
	inMemory: { folder: 'three' },
	filesystemThenStatus: { folder: 'three', withStatus: true },
	retried503: { folder: 'one' },
	resetMidBody: { folder: 'one' },
	// A short Request Timeout, so the hang after the upload fails in seconds.
	hangAfterUpload: { folder: 'one', options: { timeoutSeconds: 2 } },
	noBinary: { folder: 'one', readInto: 'audio' },
	empty: { folder: 'empty' },
	ogg: { folder: 'ogg' },
};

const uploadsOf = (camb: StandIn) =>
	camb.requests.filter((request) => request.path === UPLOAD_PATH);

describeE2e.each(['1', '2'] as Major[])(
	'n8n %s.x: Camb Separate Audio uploads files read from disk',
	(major) => {
		let session: N8nSession;
		let camb: StandIn;
		let filesRoot: string;
		const ids: Record<string, string> = {};
		const timings: string[] = [];

		/** Runs one imported workflow; the key must not be in anything n8n printed or recorded. */
		async function run(key: string, options: RunOptions = {}): Promise<RunResult> {
			const result = await session.execute(ids[key], options);
			timings.push(`${key}: n8n execute ${(result.durationMs / 1000).toFixed(1)} s`);
			expect(result.stdout).not.toContain(API_KEY);
			expect(result.stderr).not.toContain(API_KEY);
			expect(JSON.stringify(result.run)).not.toContain(API_KEY);
			return result;
		}

		/** The Read node's items: one per file, in the order n8n listed them. */
		const readItems = (result: RunResult) => result.items(READ_NODE);
		const indexOfFile = (result: RunResult, fileName: string) =>
			readItems(result).findIndex((item) => item.json.fileName === fileName);

		/**
		 * Every file the Read node produced arrived once, byte for byte (fields, name, type, sha256,
		 * length), with the key, and the node's output item for it carries the task it created.
		 */
		function expectUploadedOnce(result: RunResult, folder: string): N8nItem[] {
			const read = readItems(result);
			const output = result.items(SUBMIT_NODE_NAME);
			expect(output).toHaveLength(read.length);
			expect(camb.tasksCreated).toHaveLength(read.length);
			const uploads = uploadsOf(camb);
			for (const [index, item] of read.entries()) {
				const fileName = String(item.json.fileName);
				const sent = uploads.filter(
					(request) => request.multipart?.files[0]?.fileName === fileName,
				);
				expect([fileName, sent.length]).toEqual([fileName, 1]);
				const [request] = sent;
				expect(request.headers['x-api-key']).toBe(API_KEY);
				expect(request.headers['content-length']).toBe(String(request.bodyBytes));
				expect(
					uploadProblems(request, {
						fields: fieldsFor(fileName),
						file: {
							fileName,
							// What n8n read the file as, passed on unchanged.
							contentType: item.binary?.data?.mimeType,
							data: fs.readFileSync(path.join(filesRoot, folder, fileName)),
						},
					}),
				).toEqual([]);
				const task = camb.tasksCreated.find(
					(created) => camb.requests[created.requestIndex] === request,
				);
				expect(task).toBeDefined();
				const out = output[index];
				expect(out.json).toMatchObject({
					...item.json,
					task_id: task?.taskId,
					file_name: fileName,
				});
				expect(Number.isNaN(Date.parse(out.json.submitted_at))).toBe(false);
				expect(out.pairedItem).toEqual({ item: index });
				// The task has the file now: it does not travel on.
				expect(out.binary).toBeUndefined();
			}
			return output;
		}

		beforeAll(async () => {
			camb = await startStandIn({ apiKey: API_KEY });
			filesRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-files-'));
			await writeFiles(filesRoot);
			const started = Date.now();
			session = await startSession(major, {
				env: { N8N_RESTRICT_FILE_ACCESS_TO: filesRoot },
			});
			await session.importCredentials([credentialRecord(camb.baseUrl)]);
			const keys = Object.keys(WORKFLOWS);
			const imported = await session.importWorkflows(
				keys.map((key) => workflowOf(key, filesRoot, WORKFLOWS[key])),
			);
			keys.forEach((key, i) => (ids[key] = imported[i]));
			timings.push(
				`n8n ${session.install.version} on Node ${session.install.nodeVersion}: user folder, credential, ${keys.length} workflows imported in ${((Date.now() - started) / 1000).toFixed(1)} s`,
			);
		}, 240_000);

		afterAll(async () => {
			await session?.close();
			await camb?.close();
			if (filesRoot) fs.rmSync(filesRoot, { recursive: true, force: true });
			if (timings.length) console.log(timings.join('\n'));
		});

		beforeEach(() => camb.reset());

		/**
		 * The binary mode n8n 3.0 keeps beside filesystem: n8n 1.x runs its in-memory mode (its
		 * default), n8n 2.x database mode (3.0 removes the in-memory mode; 2.41 already has it).
		 */
		const otherMode = major === '1' ? 'default' : 'database';

		it(`${major === '1' ? 'in-memory' : 'database'} binary data: every file arrives byte for byte with the key; each item leaves with its task_id, submitted_at, file_name, paired`, async () => {
			const result = await run('inMemory', { env: { N8N_DEFAULT_BINARY_DATA_MODE: otherMode } });

			expectRun(result, 'success', 0);
			const read = readItems(result);
			expect(read.map((item) => item.json.fileName).sort()).toEqual([
				'take-1.mp3',
				'take-2.wav',
				'take-3.flac',
			]);
			// In memory: n8n put the file's bytes inline (base64), no binary data id; in database
			// mode the item holds the id of the row.
			for (const item of read)
				if (otherMode === 'default') expect(item.binary?.data?.id).toBeUndefined();
				else expect(String(item.binary?.data?.id)).toMatch(/^database/);
			// The types n8n gave the files by their extension, which the upload must carry on.
			const typeOf = (name: string) =>
				read.find((item) => item.json.fileName === name)?.binary?.data?.mimeType;
			expect(typeOf('take-1.mp3')).toBe('audio/mpeg');
			expect(typeOf('take-2.wav')).toMatch(/^audio\/(x-)?wave?$/);
			expect(typeOf('take-3.flac')).toMatch(/^audio\/(x-)?flac$/);
			expectUploadedOnce(result, 'three');
			expect(uploadsOf(camb)).toHaveLength(3);
		});

		it('filesystem binary data: streamed from n8n’s store, byte for byte; then Camb Separation Status checks each task', async () => {
			for (let n = 1; n <= 3; n++)
				camb.task(`standin-task-${n}`, { json: { status: 'SUCCESS', run_id: null } });

			const result = await run('filesystemThenStatus', {
				env: { N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem' },
			});

			expectRun(result, 'success', 0);
			for (const item of readItems(result))
				expect(String(item.binary?.data?.id)).toMatch(/^filesystem(-v2)?:/);
			const submitted = expectUploadedOnce(result, 'three');
			const done = result.items(STATUS_NODE_NAME, 0);
			expect(done.map((item) => item.json.task_id)).toEqual(
				submitted.map((item) => item.json.task_id),
			);
			expect(done.map((item) => item.json.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
			done.forEach((item, index) => expect(item.pairedItem).toEqual({ item: index }));
			const checks = camb.requests.filter((request) => request.method === 'GET');
			expect(checks.map((request) => request.path).sort()).toEqual(
				submitted.map((item) => taskStatusPath(item.json.task_id)).sort(),
			);
			for (const request of camb.requests) expect(request.headers['x-api-key']).toBe(API_KEY);
		});

		it('a 503 is uploaded again (CAMB.AI took nothing): one task', async () => {
			camb.on('POST', UPLOAD_PATH, { status: 503, json: { detail: 'Service Unavailable' } }, {});

			const result = await run('retried503');

			expectRun(result, 'success', 0);
			const uploads = uploadsOf(camb);
			expect(uploads).toHaveLength(2);
			for (const request of uploads) expect(request.bodyComplete).toBe(true);
			expect(camb.tasksCreated).toHaveLength(1);
			expect(camb.tasksCreated[0].requestIndex).toBe(camb.requests.indexOf(uploads[1]));
			expect(result.json(SUBMIT_NODE_NAME)[0].task_id).toBe(camb.tasksCreated[0].taskId);
			expect(
				uploadProblems(uploads[1], {
					fields: fieldsFor('take.mp3'),
					file: { fileName: 'take.mp3', contentType: 'audio/mpeg', patternBytes: 4 * 1024 * 1024 },
				}),
			).toEqual([]);
		});

		// A file held in memory (1.x) is handed to the connection in one piece, so the node cannot
		// tell how much went out: "may have reached". A file streamed from n8n's store (2.x's
		// database mode here, filesystem in slowLink.e2e.test.ts) cut before its last byte is sent
		// again instead: CAMB.AI cannot have part of a file.
		const resetMidBody =
			major === '1'
				? 'the connection reset in the middle of the upload of a file held in memory: the item fails "may have reached", no second upload, no task'
				: 'the connection reset in the middle of the upload of a file streamed from the database: sent again once, one task';
		it(resetMidBody, async () => {
			// Streamed, a reset at the body's half could come after the 4 MiB file was all in the
			// kernel's buffers (a few MiB on loopback): the reset strikes right after the headers.
			const reset = otherMode === 'database' ? { afterBodyBytes: 0 } : {};
			camb.on('POST', UPLOAD_PATH, { fault: 'reset-mid-body', ...reset }, {});

			const result = await run('resetMidBody', {
				env: { N8N_DEFAULT_BINARY_DATA_MODE: otherMode },
			});

			if (otherMode === 'database') {
				expectRun(result, 'success', 0);
				expect(uploadsOf(camb).map((upload) => upload.bodyComplete)).toEqual([false, true]);
				expect(camb.tasksCreated).toHaveLength(1);
				expect(result.json(SUBMIT_NODE_NAME)[0].task_id).toBe(camb.tasksCreated[0].taskId);
				return;
			}
			expectRun(result, 'error', 1);
			expect(result.error?.message).toMatch(
				/^The upload of item 0 \("take\.mp3"\) may have reached CAMB\.AI: /,
			);
			const uploads = uploadsOf(camb);
			expect(uploads).toHaveLength(1);
			expect(uploads[0].bodyComplete).toBe(false);
			expect(camb.tasksCreated).toHaveLength(0);
			expect(result.runsOf(SUBMIT_NODE_NAME)[0].error?.message).toMatch(/may have reached/);
		});

		it('CAMB.AI took the file, then never answered: fails after the Request Timeout, exactly one task, no second upload', async () => {
			camb.on('POST', UPLOAD_PATH, { fault: 'hang', createsTask: true }, {});

			const result = await run('hangAfterUpload');

			expectRun(result, 'error', 1);
			expect(result.error?.message).toMatch(
				/^The upload of item 0 \("take\.mp3"\) may have reached CAMB\.AI: .*timed out/,
			);
			const uploads = uploadsOf(camb);
			expect(uploads).toHaveLength(1);
			expect(uploads[0].bodyComplete).toBe(true);
			expect(camb.tasksCreated).toHaveLength(1);
		});

		describe('bad input: an error naming the item, and the stand-in receives nothing', () => {
			function expectNothingSent(result: RunResult, message: RegExp): void {
				expectRun(result, 'error', 1);
				expect(result.error?.message).toMatch(message);
				expect(camb.requests).toEqual([]);
				expect(camb.tasksCreated).toEqual([]);
			}

			it('no file under the binary property', async () => {
				const result = await run('noBinary');
				expect(Object.keys(readItems(result)[0].binary ?? {})).toEqual(['audio']);
				expectNothingSent(
					result,
					/^Item 0 has no file in the binary property "data"; it has "audio"$/,
				);
			});

			it('an empty file (the good file next to it is not sent either)', async () => {
				const result = await run('empty');
				const index = indexOfFile(result, 'empty.mp3');
				expect(readItems(result)).toHaveLength(2);
				expectNothingSent(
					result,
					new RegExp(`^The file of item ${index} in "data" is empty \\(0 bytes\\)$`),
				);
			});

			it('an .ogg file (the good file next to it is not sent either)', async () => {
				const result = await run('ogg');
				const index = indexOfFile(result, 'take.ogg');
				expect(readItems(result)).toHaveLength(2);
				expectNothingSent(
					result,
					new RegExp(
						`^The file of item ${index} in "data" "take\\.ogg" \\([^)]*\\) has the extension \\.ogg; CAMB\\.AI takes AAC, FLAC, MP3 or WAV$`,
					),
				);
			});
		});

		it('the key is in no file of n8n’s user folder (database, logs, binary data)', () => {
			expect(filesContaining(session.userFolder, API_KEY)).toEqual([]);
		});
	},
);
