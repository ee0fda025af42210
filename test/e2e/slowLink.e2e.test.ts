/**
 * Large files over a slow link in REAL n8n (1.x on Node 20, 2.x on Node 24), filesystem binary
 * mode: the end-to-end twin of test/engine/slowLink.test.ts. Read/Write Files from Disk → Camb
 * Separate Audio uploads to a CAMB stand-in that reads request bodies at 6 MiB/s, with Request
 * Timeout 2 s: Request Timeout is an idle time-out (a file that takes 4 × Request Timeout to send
 * goes through), an upload cut before its last byte is sent again, one cut after it is not. Camb
 * Separation Status with Download Stems fetches paced stems from a storage stand-in, and a stem
 * that stalls mid-body is given up about Request Timeout later and fetched again, byte-exact.
 *
 * One n8n session per major; every workflow is imported with one command, then each test runs
 * one `n8n execute`. Times are read on the stand-ins; only the bounds a busy machine cannot break
 * are tight, the upper ones leave seconds of room.
 *
 * Run with `npm run test:e2e` (build, cached n8n install, then jest -c jest.e2e.config.js).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { API_KEY, credentialRecord, STATUS_NODE_NAME, SUBMIT_NODE_NAME } from '../fixtures/package';
import {
	checkStreamPattern,
	patternSha256,
	resultPath,
	startStandIn,
	UPLOAD_PATH,
	uploadProblems,
	writePatternFile,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	expectRun,
	loadExample,
	nodeNamed,
	startSession,
	storedBinaryFile,
	withTaskIds,
	type Json,
	type Major,
	type N8nSession,
	type RunResult,
} from './n8n';
import { READ_NODE, uploadWorkflow } from './uploadWorkflow';

// jest.config.js (unit tests) matches *.test.ts too; these need jest.e2e.config.js, whose
// global setup checks the n8n installs (throwing if one is missing) and packs the package.
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const MiB = 1024 * 1024;
/** The Request Timeout of these tests, in seconds. */
const TIMEOUT_S = 2;
/** The uplink the CAMB stand-in reads request bodies at (see test/engine/slowLink.test.ts). */
const UPLINK = 6 * MiB;
/** The pace of the storage stand-in's stems. */
const STEM_PACE = MiB;
/** Room above a bound for the watchdog's tick (1 s), the retry's pause (up to 1 s) and a busy machine. */
const SLACK_MS = 4000;

/** One file per folder; each upload workflow reads `<folder>/take.flac`. */
const FILES = {
	steady: 4 * TIMEOUT_S * UPLINK + MiB,
	midBody: 24 * MiB,
	afterLastByte: 8 * MiB,
} as const;
type Folder = keyof typeof FILES;

/** The upload workflows: which file, and the Options of Camb Separate Audio. */
const UPLOADS: Record<string, Folder> = {
	steady: 'steady',
	hangMidBody: 'midBody',
	resetMidBody: 'midBody',
	resetAfterLastByte: 'afterLastByte',
};
const STEMS = 'stems';

const RUN_ID = 7;

describeE2e.each(['1', '2'] as Major[])(
	'n8n %s.x, filesystem binary mode, over a slow link',
	(major) => {
		let session: N8nSession;
		let camb: StandIn;
		/** The storage host of the stem links. */
		let storage: StandIn;
		let filesRoot: string;
		const ids: Record<string, string> = {};
		const timings: string[] = [];

		async function run(key: string): Promise<RunResult> {
			const result = await session.execute(ids[key]);
			timings.push(`${key}: n8n execute ${(result.durationMs / 1000).toFixed(1)} s`);
			expect(result.stdout).not.toContain(API_KEY);
			expect(result.stderr).not.toContain(API_KEY);
			return result;
		}

		const uploads = () => camb.requests.filter((request) => request.path === UPLOAD_PATH);

		/** The one output item of Camb Separate Audio (On Error: continue, so a failure is an item too). */
		function submitted(result: RunResult) {
			expectRun(result, 'success', 0);
			const output = result.items(SUBMIT_NODE_NAME);
			expect(output).toHaveLength(1);
			return output[0];
		}

		/** The upload arrived whole, byte for byte, and made the one task the item carries. */
		function expectOneTaskFor(result: RunResult, folder: Folder): void {
			const bytes = FILES[folder];
			const [read] = result.items(READ_NODE);
			expect(String(read.binary?.data?.id)).toMatch(/^filesystem(-v2)?:/);
			expect(camb.tasksCreated).toHaveLength(1);
			const [task] = camb.tasksCreated;
			expect(submitted(result).json.task_id).toBe(task.taskId);
			expect({ sha256: task.fileSha256, bytes: task.bytes }).toEqual({
				sha256: patternSha256(bytes),
				bytes,
			});
			expect(
				uploadProblems(camb.requests[task.requestIndex], {
					fields: {},
					file: {
						fileName: 'take.flac',
						contentType: read.binary?.data?.mimeType,
						patternBytes: bytes,
					},
				}),
			).toEqual([]);
		}

		/** Does the stored file of a stem hold exactly `bytes` bytes of the stand-in's pattern? */
		async function stemMismatch(result: RunResult, property: string, bytes: number) {
			const [done] = result.items(STATUS_NODE_NAME, 0);
			const binary = done?.binary?.[property];
			expect(String(binary?.id)).toMatch(/^filesystem(-v2)?:/);
			const file = storedBinaryFile(session, binary);
			expect(file).toBeDefined();
			const pattern = checkStreamPattern();
			const hash = createHash('sha256');
			for await (const chunk of fs.createReadStream(file!)) {
				pattern.update(chunk as Buffer);
				hash.update(chunk as Buffer);
			}
			return {
				bytes: pattern.bytes,
				firstMismatch: pattern.firstMismatch,
				sha256: hash.digest('hex') === patternSha256(bytes),
			};
		}

		/** The task is done and its stems are on the storage stand-in. */
		function scriptTask(): void {
			camb.task('done', { json: { status: 'SUCCESS', run_id: RUN_ID } });
			camb.on('GET', resultPath(RUN_ID), {
				json: {
					foreground_audio_url: `${storage.baseUrl}/fg_audio.flac?X-Amz-Signature=s`,
					background_audio_url: `${storage.baseUrl}/bg_audio.flac?X-Amz-Signature=s`,
				},
			});
		}

		/** Camb Separation Status finished the item on Success with no error output (index 3). */
		function expectStemsRun(result: RunResult): void {
			expectRun(result, 'success', 0);
			expect(result.json(STATUS_NODE_NAME, 3)).toEqual([]);
			expect(result.json(STATUS_NODE_NAME, 0).map((json) => json.task_id)).toEqual(['done']);
		}

		beforeAll(async () => {
			camb = await startStandIn({ apiKey: API_KEY, readBytesPerSecond: UPLINK });
			storage = await startStandIn();
			filesRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-slow-link-'));
			for (const [folder, bytes] of Object.entries(FILES)) {
				fs.mkdirSync(path.join(filesRoot, folder));
				await writePatternFile(path.join(filesRoot, folder, 'take.flac'), bytes);
			}
			const started = Date.now();
			session = await startSession(major, {
				env: {
					N8N_RESTRICT_FILE_ACCESS_TO: filesRoot,
					N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem',
				},
			});
			await session.importCredentials([credentialRecord(camb.baseUrl)]);

			const stems = withTaskIds(loadExample('check-once-and-route.json'), ['done']);
			stems.name = 'e2e slow link: download stems';
			const status = nodeNamed(stems, STATUS_NODE_NAME);
			status.parameters.downloadStems = true;
			status.parameters.options = { timeoutSeconds: TIMEOUT_S };
			status.onError = 'continueErrorOutput';

			const keys = Object.keys(UPLOADS);
			const workflows: Json[] = keys.map((key) =>
				uploadWorkflow({
					name: `e2e slow link: ${key}`,
					fileSelector: path.join(filesRoot, UPLOADS[key], 'take.flac'),
					submit: { options: { timeoutSeconds: TIMEOUT_S } },
					onError: 'continueRegularOutput',
				}),
			);
			const imported = await session.importWorkflows([...workflows, stems]);
			[...keys, STEMS].forEach((key, i) => (ids[key] = imported[i]));
			timings.push(
				`n8n ${session.install.version} on Node ${session.install.nodeVersion}: user folder, credential, ${imported.length} workflows imported in ${((Date.now() - started) / 1000).toFixed(1)} s`,
			);
		}, 240_000);

		afterAll(async () => {
			await session?.close();
			await camb?.close();
			await storage?.close();
			if (filesRoot) fs.rmSync(filesRoot, { recursive: true, force: true });
			if (timings.length) console.log(timings.join('\n'));
		});

		beforeEach(() => {
			camb.reset();
			storage.reset();
		});

		describe('Camb Separate Audio, Request Timeout 2 s, CAMB reading at 6 MiB/s', () => {
			it('sends a file that takes 4 x Request Timeout to upload: one upload, one task, bytes exact', async () => {
				const result = await run('steady');

				expect(submitted(result).json.error).toBeUndefined();
				expect(uploads()).toHaveLength(1);
				const [sent] = uploads();
				expect(sent.bodyComplete).toBe(true);
				// The stand-in took at least 4 x Request Timeout to read it: a steady link, never idle that long.
				expect(sent.bodyEndedAt! - sent.at).toBeGreaterThanOrEqual(4 * TIMEOUT_S * 1000);
				expectOneTaskFor(result, 'steady');
			});

			it('gives up about Request Timeout after the link stalls mid-body, sends once more: one task', async () => {
				camb.on('POST', UPLOAD_PATH, { fault: 'hang-mid-body', afterBodyBytes: 4 * MiB }, {});

				const result = await run('hangMidBody');

				expect(submitted(result).json.error).toBeUndefined();
				expect(uploads()).toHaveLength(2);
				const [stalled, again] = uploads();
				expect(stalled.bodyComplete).toBe(false);
				expect(again.bodyComplete).toBe(true);
				// From the stall to the next attempt: Request Timeout without progress, then the retry's pause.
				const gap = again.at - stalled.bodyEndedAt!;
				timings.push(`hangMidBody: stall to next attempt ${gap} ms`);
				expect(gap).toBeGreaterThanOrEqual(TIMEOUT_S * 1000);
				expect(gap).toBeLessThan(TIMEOUT_S * 1000 + SLACK_MS);
				expectOneTaskFor(result, 'midBody');
			});

			it('sends again once after a reset before the last byte: one task', async () => {
				camb.on('POST', UPLOAD_PATH, { fault: 'reset-mid-body', afterBodyBytes: 4 * MiB }, {});

				const result = await run('resetMidBody');

				expect(submitted(result).json.error).toBeUndefined();
				expect(uploads().map((request) => request.bodyComplete)).toEqual([false, true]);
				expectOneTaskFor(result, 'midBody');
			});

			it('does not send again after a reset once CAMB.AI took the file: "may have reached", one task', async () => {
				camb.on('POST', UPLOAD_PATH, { fault: 'reset', createsTask: true }, {});

				const result = await run('resetAfterLastByte');

				expect(uploads()).toHaveLength(1);
				expect(uploads()[0].bodyComplete).toBe(true);
				expect(camb.tasksCreated).toHaveLength(1);
				const item = submitted(result);
				expect(item.json.error).toBe(
					'The upload of item 0 ("take.flac") may have reached CAMB.AI: the connection broke off or timed out after the whole file was handed to it',
				);
				expect(item.json.task_id).toBeUndefined();
				// What broke it, in the error n8n keeps on the item.
				expect(item.error?.description).toMatch(/^(ECONNRESET|UNKNOWN): /);
			});
		});

		describe('Camb Separation Status with Download Stems, Request Timeout 2 s', () => {
			it('downloads stems that take 4 x Request Timeout each at a steady pace, byte-exact', async () => {
				scriptTask();
				const bytes = 4 * TIMEOUT_S * STEM_PACE + MiB / 2;
				const stem: Reply = { stream: { bytes, bytesPerSecond: STEM_PACE } };
				storage.on('GET', '/fg_audio.flac', stem);
				storage.on('GET', '/bg_audio.flac', stem);

				const result = await run(STEMS);

				expectStemsRun(result);
				expect(storage.requests).toHaveLength(2);
				for (const property of ['foreground', 'background'])
					expect(await stemMismatch(result, property, bytes)).toEqual({
						bytes,
						firstMismatch: undefined,
						sha256: true,
					});
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

				const result = await run(STEMS);

				expectStemsRun(result);
				const fetches = storage.requests.filter((request) => request.path.startsWith('/fg_audio'));
				expect(fetches).toHaveLength(2);
				const [stalled, again] = fetches;
				// Half the stem goes out at the pace (1 s), then nothing: Request Timeout later, the retry.
				const gap = again.at - stalled.at;
				timings.push(`stem stall: first fetch to retry ${gap} ms`);
				const due = (bytes / 2 / STEM_PACE) * 1000 + TIMEOUT_S * 1000;
				expect(gap).toBeGreaterThanOrEqual(due - 100);
				expect(gap).toBeLessThan(due + SLACK_MS);
				for (const property of ['foreground', 'background'])
					expect(await stemMismatch(result, property, bytes)).toEqual({
						bytes,
						firstMismatch: undefined,
						sha256: true,
					});
			});
		});
	},
);
