/**
 * The shipped example workflows, run by REAL n8n (1.x on Node 20, 2.x on Node 24) with this
 * package installed as a community package, against the CAMB stand-in on 127.0.0.1.
 * Assertions read n8n's own run output and what the stand-in received.
 *
 * Run with `npm run test:e2e` (build, cached n8n install, then jest -c jest.e2e.config.js).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
	resultPath,
	startStandIn,
	streamPattern,
	taskStatusPath,
	UPLOAD_PATH,
	uploadProblems,
	type RecordedRequest,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	binaryBytes,
	EXAMPLES_DIR,
	expectRun,
	loadExample,
	nodeNamed,
	startSession,
	withLocalFiles,
	withPollTaskId,
	withTaskIds,
	type Json,
	type Major,
	type N8nSession,
	type RunResult,
} from './n8n';
import {
	API_KEY,
	CREDENTIAL,
	credentialRecord,
	PACKAGE_NAME,
	STATUS_NODE_NAME,
	STATUS_NODE_TYPE,
	SUBMIT_NODE_NAME,
	SUBMIT_NODE_TYPE,
} from '../fixtures/package';
import { demoRecording } from '../fixtures/demoScenario';
import { ALWAYS_OUTPUT_DATA_NOTICE } from '../../nodes/CambSeparationStatus/outputItems';

const REJECTED_CREDENTIAL = { id: 'cambAiRejected01', name: 'CAMB.AI old key' };

// jest.config.js (unit tests) matches *.test.ts too; these need jest.e2e.config.js, whose
// global setup checks the n8n installs (throwing if one is missing) and packs the package.
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const resultUrls = (runId: number) => ({
	foreground_audio_url: `https://storage.example.invalid/${runId}/fg_audio.flac`,
	background_audio_url: `https://storage.example.invalid/${runId}/bg_audio.flac`,
});

function expectKeyOnEveryRequest(requests: RecordedRequest[]): void {
	expect(requests.length).toBeGreaterThan(0);
	for (const request of requests) expect(request.headers['x-api-key']).toBe(API_KEY);
}

function expectNoKeyInOutput(result: RunResult): void {
	expect(result.stdout).not.toContain(API_KEY);
	expect(result.stderr).not.toContain(API_KEY);
}

const ids = (items: Json[]) => items.map((json) => json.task_id);
const requestLine = (request: RecordedRequest) => `${request.method} ${request.path}`;

/** Every example, with the types of its Camb nodes in order; the suite below runs each of them, agent.e2e.test.ts the agent one. */
const EXAMPLE_NODE_TYPES: Record<string, string[]> = {
	'check-once-and-route.json': [STATUS_NODE_TYPE],
	'poll-until-done.json': [STATUS_NODE_TYPE],
	'submit-wait-and-download-stems.json': [SUBMIT_NODE_TYPE, STATUS_NODE_TYPE],
	// n8n's name for the node as an AI Agent's tool.
	'agent-checks-separation.json': [`${STATUS_NODE_TYPE}Tool`],
};
const EXAMPLES = Object.keys(EXAMPLE_NODE_TYPES);

/**
 * Examples another suite runs (an MCP client's, or on `n8n start` for a Data Table), with their
 * first node, the types of their Camb nodes, and the suite that runs them.
 */
const RUN_ELSEWHERE: Record<string, { first: string; camb: string[]; suite: string }> = {
	'mcp-server-status-tool.json': {
		first: '@n8n/n8n-nodes-langchain.mcpTrigger',
		camb: [`${STATUS_NODE_TYPE}Tool`],
		suite: 'mcp.e2e.test.ts',
	},
	// A Data Table node needs n8n's modules, which `n8n execute` does not start: run on `n8n start`.
	'scheduled-polling-data-table.json': {
		first: 'n8n-nodes-base.manualTrigger',
		camb: [STATUS_NODE_TYPE],
		suite: 'dataTable.e2e.test.ts',
	},
	'submit-to-data-table.json': {
		first: 'n8n-nodes-base.manualTrigger',
		camb: [SUBMIT_NODE_TYPE],
		suite: 'dataTable.e2e.test.ts',
	},
};

describe('examples/', () => {
	it('a suite runs every example in examples/', () => {
		expect(
			fs
				.readdirSync(EXAMPLES_DIR)
				.filter((name) => name.endsWith('.json'))
				.sort(),
		).toEqual([...EXAMPLES, ...Object.keys(RUN_ELSEWHERE)].sort());
		for (const [name, { suite }] of Object.entries(RUN_ELSEWHERE))
			expect(fs.readFileSync(path.join(__dirname, suite), 'utf8')).toContain(name);
	});

	it.each(Object.keys(RUN_ELSEWHERE))(
		'%s starts as its suite expects and uses the community node types and credential',
		(name) => {
			const workflow = loadExample(name);
			const { first, camb } = RUN_ELSEWHERE[name];
			expect(workflow.nodes[0].type).toBe(first);
			const cambNodes = (workflow.nodes as Json[]).filter((node) =>
				node.type.startsWith(`${PACKAGE_NAME}.`),
			);
			expect(cambNodes.map((node) => node.type)).toEqual(camb);
			for (const node of cambNodes) expect(node.credentials).toEqual({ cambAiApi: CREDENTIAL });
			expect(workflow.id).toBeUndefined();
		},
	);

	it.each(EXAMPLES)(
		'%s starts with a Manual Trigger and uses the community node types and credential',
		(name) => {
			const workflow = loadExample(name);
			expect(workflow.nodes[0].type).toBe('n8n-nodes-base.manualTrigger');
			const cambNodes = (workflow.nodes as Json[]).filter((node) =>
				node.type.startsWith(`${PACKAGE_NAME}.`),
			);
			expect(cambNodes.map((node) => node.type)).toEqual(EXAMPLE_NODE_TYPES[name]);
			for (const node of cambNodes) expect(node.credentials).toEqual({ cambAiApi: CREDENTIAL });
			expect(workflow.id).toBeUndefined();
		},
	);
});

describeE2e.each(['1', '2'] as Major[])(
	'n8n %s.x, package installed as a community package',
	(major) => {
		let session: N8nSession;
		let camb: StandIn;
		/** A CAMB that no longer accepts API_KEY. */
		let cambWithOtherKey: StandIn;
		/** A storage host: the audio to upload and the pre-signed stem links. Must never see the key. */
		let storage: StandIn;
		/** The files the stems example reads and writes: outside the clone, the only folder n8n may use. */
		let filesDir: string;
		const timings: string[] = [];

		async function run(workflow: Json, label: string): Promise<RunResult> {
			const result = await session.run(workflow);
			timings.push(`${label}: n8n execute ${(result.durationMs / 1000).toFixed(1)} s`);
			expectNoKeyInOutput(result);
			return result;
		}

		beforeAll(async () => {
			camb = await startStandIn({ apiKey: API_KEY });
			cambWithOtherKey = await startStandIn({ apiKey: 'camb-e2e-key-the-account-uses-now' });
			storage = await startStandIn();
			filesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-example-files-'));
			const started = Date.now();
			// 2.x lets Read/Write Files from Disk use only ~/.n8n-files unless told otherwise; 1.x any path.
			session = await startSession(major, { env: { N8N_RESTRICT_FILE_ACCESS_TO: filesDir } });
			await session.importCredentials([
				credentialRecord(camb.baseUrl),
				credentialRecord(cambWithOtherKey.baseUrl, REJECTED_CREDENTIAL),
			]);
			timings.push(
				`n8n ${session.install.version} on Node ${session.install.nodeVersion}: fresh user folder + credentials ${((Date.now() - started) / 1000).toFixed(1)} s`,
			);
		}, 240_000);

		afterAll(async () => {
			await session?.close();
			await camb?.close();
			await cambWithOtherKey?.close();
			await storage?.close();
			if (filesDir) fs.rmSync(filesDir, { recursive: true, force: true });
			if (timings.length) console.log(timings.join('\n'));
		});

		beforeEach(() => {
			camb.reset();
			cambWithOtherKey.reset();
			storage.reset();
		});

		it('check-once-and-route: every status reaches its output and the NoOp behind it', async () => {
			camb.task('task-success', {
				json: { status: 'SUCCESS', run_id: 101, exception_reason: null, message: null },
			});
			camb.on('GET', resultPath(101), { json: resultUrls(101) });
			camb.task('task-pending', {
				json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
			});
			camb.task('task-error', {
				json: {
					status: 'ERROR',
					run_id: null,
					exception_reason: 'SOURCE_TOO_LARGE',
					message: 'File exceeds the limit',
				},
			});
			camb.task('task-success-bare', { json: 'SUCCESS' });
			camb.task('task-timeout', { json: { status: 'TIMEOUT', run_id: null } });
			camb.task('task-payment', { json: { status: 'PAYMENT_REQUIRED', run_id: null } });
			camb.task('task-unknown', { json: { status: 'QUEUED_FOR_GPU', run_id: null } });
			const taskIds = [
				'task-success',
				'task-pending',
				'task-error',
				'task-success-bare',
				'task-timeout',
				'task-payment',
				'task-unknown',
			];

			const result = await run(
				withTaskIds(loadExample('check-once-and-route.json'), taskIds),
				'route every status',
			);

			expectRun(result, 'success', 0);
			const [success, pending, failure] = [0, 1, 2].map((output) =>
				result.json(STATUS_NODE_NAME, output),
			);
			expect(ids(success)).toEqual(['task-success', 'task-success-bare']);
			expect(success[0]).toMatchObject({ status: 'SUCCESS', run_id: 101, ...resultUrls(101) });
			expect(success[1]).toMatchObject({ status: 'SUCCESS' });
			expect(ids(pending)).toEqual(['task-pending']);
			expect(pending[0]).toMatchObject({ status: 'PENDING' });
			expect(ids(failure)).toEqual(['task-error', 'task-timeout', 'task-payment', 'task-unknown']);
			expect(failure.map((json) => [json.status, json.reason, json.retryable])).toEqual([
				['ERROR', 'SOURCE_TOO_LARGE', false],
				['TIMEOUT', 'TIMEOUT', false],
				['PAYMENT_REQUIRED', 'PAYMENT_REQUIRED', false],
				['QUEUED_FOR_GPU', 'UNKNOWN_STATUS', false],
			]);
			for (const json of failure) expect(typeof json.message).toBe('string');
			// n8n carried each output on to the NoOp connected to it.
			expect(ids(result.json('Done'))).toEqual(ids(success));
			expect(ids(result.json('Still running'))).toEqual(ids(pending));
			expect(ids(result.json('Failed'))).toEqual(ids(failure));
			expect(result.runsOf(STATUS_NODE_NAME)).toHaveLength(1);

			// One status check per task, the result links of the one run, nothing else; all with the key.
			expect(camb.requests.map(requestLine).sort()).toEqual(
				[...taskIds.map((id) => `GET ${taskStatusPath(id)}`), `GET ${resultPath(101)}`].sort(),
			);
			expectKeyOnEveryRequest(camb.requests);
			expect(cambWithOtherKey.requests).toHaveLength(0);
		});

		it('check-once-and-route as shipped: the placeholder ids are unknown to CAMB, so both end on Failed with TASK_NOT_FOUND', async () => {
			const result = await run(loadExample('check-once-and-route.json'), 'example as shipped');

			expectRun(result, 'success', 0);
			expect(result.json('Failed').map((json) => [json.task_id, json.reason])).toEqual([
				['REPLACE-WITH-TASK-ID-1', 'TASK_NOT_FOUND'],
				['REPLACE-WITH-TASK-ID-2', 'TASK_NOT_FOUND'],
			]);
			expect(result.runsOf('Done')).toHaveLength(0);
			expect(camb.requests.map(requestLine).sort()).toEqual(
				[
					`GET ${taskStatusPath('REPLACE-WITH-TASK-ID-1')}`,
					`GET ${taskStatusPath('REPLACE-WITH-TASK-ID-2')}`,
				].sort(),
			);
			expectKeyOnEveryRequest(camb.requests);
		});

		it("Always Output Data on the status node, nothing finished: n8n's empty item on Success reaches Done, and the node says why", async () => {
			camb.task('aod-pending', { json: { status: 'PENDING', run_id: null } });
			camb.task('aod-error', { json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR' } });
			const workflow = withTaskIds(loadExample('check-once-and-route.json'), [
				'aod-pending',
				'aod-error',
			]);
			nodeNamed(workflow, STATUS_NODE_NAME).alwaysOutputData = true;

			const result = await run(workflow, 'Always Output Data on');

			expectRun(result, 'success', 0);
			// n8n's rule in 1.x and 2.x (3.0 changes it): the first output gets an empty item
			// whenever it is empty, beside the real items on Pending and Failure.
			expect(result.json(STATUS_NODE_NAME, 0)).toEqual([{}]);
			expect(ids(result.json(STATUS_NODE_NAME, 1))).toEqual(['aod-pending']);
			expect(ids(result.json(STATUS_NODE_NAME, 2))).toEqual(['aod-error']);
			expect(result.json('Done')).toEqual([{}]);
			// The node's notice, in the output pane of the editor.
			const hints = (result.run.data.resultData.runData[STATUS_NODE_NAME][0].hints ?? []) as Json[];
			expect(hints.map((hint) => hint.message)).toEqual([ALWAYS_OUTPUT_DATA_NOTICE]);
		});

		it('poll-until-done: waits inside on the first pass only, then goes Pending → Wait → back with one check a pass, then Success', async () => {
			const pendingReply: Reply = { json: { status: 'PENDING', run_id: null } };
			camb.task('task-slow', ...Array(6).fill(pendingReply), {
				json: { status: 'SUCCESS', run_id: 202 },
			});
			camb.on('GET', resultPath(202), { json: resultUrls(202) });
			const workflow = withPollTaskId(loadExample('poll-until-done.json'), 'task-slow');
			const statusNode = nodeNamed(workflow, STATUS_NODE_NAME);
			expect(statusNode.parameters.waitForCompletion).toBe('={{ $runIndex === 0 }}');
			// A first pass of 3 s instead of a minute, and a 2 s Wait instead of the shipped 66 s (which
			// parks the execution: test/queue runs that, in queue mode): same loop, seconds not minutes.
			statusNode.parameters.options.maxWaitSeconds = 3;
			const wait = nodeNamed(workflow, 'Wait before next check');
			expect(wait.parameters.amount).toBe('={{ Math.max(66, $json.next_check_in_seconds || 0) }}');
			wait.parameters.amount = 2;

			const result = await run(workflow, 'poll loop');

			expectRun(result, 'success', 0);
			const checks = result.runsOf(STATUS_NODE_NAME);
			const last = checks.length - 1;
			expect(checks.map((check) => check.outputs.map((items) => items.length))).toEqual(
				checks.map((_, i) => (i === last ? [1, 0, 0] : [0, 1, 0])),
			);
			const counts = checks.map(
				(_, i) => result.json(STATUS_NODE_NAME, i === last ? 0 : 1, i)[0].check_count,
			);
			// The first pass waited inside (several checks in one run); every later pass checked once.
			expect(counts[0]).toBeGreaterThanOrEqual(2);
			for (let i = 1; i < counts.length; i++) expect(counts[i]).toBe(counts[i - 1] + 1);
			expect(counts[last]).toBe(7);
			expect(last).toBeGreaterThanOrEqual(2);
			expect(result.runsOf('Wait before next check')).toHaveLength(last);
			expect(result.json('Done')).toEqual([
				expect.objectContaining({
					task_id: 'task-slow',
					status: 'SUCCESS',
					run_id: 202,
					check_count: 7,
					...resultUrls(202),
				}),
			]);
			expect(result.runsOf('Failed')).toHaveLength(0);

			const statusChecks = camb.requestsForTask('task-slow');
			expect(statusChecks).toHaveLength(7);
			// Between passes the Wait node really waited its 2 s.
			for (let i = counts[0]; i < statusChecks.length; i++) {
				expect(statusChecks[i].at - statusChecks[i - 1].at).toBeGreaterThanOrEqual(1900);
			}
			expect(camb.requests.map(requestLine)).toEqual([
				...Array(7).fill(`GET ${taskStatusPath('task-slow')}`),
				`GET ${resultPath(202)}`,
			]);
			expectKeyOnEveryRequest(camb.requests);
		});

		it('submit-wait-and-download-stems: reads the audio from disk, uploads it byte for byte, waits inside the node, writes both stems', async () => {
			const wav = demoRecording();
			fs.writeFileSync(path.join(filesDir, 'interview.wav'), wav);
			const stemBytes = { fg: 180_000, bg: 120_000 };
			const stemUrl = (file: string) =>
				`${storage.baseUrl}/separation/404/${file}?X-Amz-Expires=3600&X-Amz-Signature=e2e`;
			storage.on('GET', '/separation/404/fg_audio.flac', {
				stream: { bytes: stemBytes.fg, contentType: 'audio/flac' },
			});
			storage.on('GET', '/separation/404/bg_audio.flac', {
				stream: { bytes: stemBytes.bg, contentType: 'audio/flac' },
			});
			camb.on('POST', UPLOAD_PATH, { json: { task_id: 'task-uploaded' } });
			const pendingReply: Reply = {
				json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
			};
			camb.task('task-uploaded', pendingReply, pendingReply, pendingReply, {
				json: { status: 'SUCCESS', run_id: 404, exception_reason: null, message: null },
			});
			const links = {
				foreground_audio_url: stemUrl('fg_audio.flac'),
				background_audio_url: stemUrl('bg_audio.flac'),
			};
			camb.on('GET', resultPath(404), { json: links });

			// As shipped, it reads and writes under /home/node/.n8n-files: point it at the test's folder.
			const workflow = withLocalFiles(loadExample('submit-wait-and-download-stems.json'), {
				folder: filesDir,
				audioFile: 'interview.wav',
			});

			const result = await run(workflow, 'read, upload, wait, write stems');

			expectRun(result, 'success', 0);
			// CAMB got the upload, then the status checks, then the result links; every request with the key.
			expect(camb.requests.map(requestLine)).toEqual([
				`POST ${UPLOAD_PATH}`,
				...Array(4).fill(`GET ${taskStatusPath('task-uploaded')}`),
				`GET ${resultPath(404)}`,
			]);
			expectKeyOnEveryRequest(camb.requests);

			// The upload: multipart/form-data, the project name from the file, the WAV byte for byte; one task.
			const [read] = result.items('Read audio file');
			expect(read.binary?.data?.mimeType).toMatch(/^audio\/(x-)?wave?$/);
			expect(
				uploadProblems(camb.requests[0], {
					fields: { project_name: 'interview.wav' },
					file: { fileName: 'interview.wav', contentType: read.binary?.data?.mimeType, data: wav },
				}),
			).toEqual([]);
			expect(camb.tasksCreated.map((task) => task.taskId)).toEqual(['task-uploaded']);
			expect(result.items(SUBMIT_NODE_NAME)).toEqual([
				expect.objectContaining({
					json: expect.objectContaining({ task_id: 'task-uploaded', file_name: 'interview.wav' }),
					pairedItem: { item: 0 },
				}),
			]);

			// Waited inside the node: one run of it, four checks about 2 s, 3 s, 4.5 s apart (±10%).
			const statusRuns = result.runsOf(STATUS_NODE_NAME);
			expect(statusRuns).toHaveLength(1);
			expect(statusRuns[0].outputs.map((items) => items.length)).toEqual([1, 0, 0]);
			const checks = camb.requestsForTask('task-uploaded');
			for (let i = 1; i < checks.length; i++)
				expect(checks[i].at - checks[i - 1].at).toBeGreaterThanOrEqual(1700);
			expect(result.runsOf('Wait before next check')).toHaveLength(0);
			expect(result.runsOf('Failed')).toHaveLength(0);

			// The item on Success carries the links and both stems as binary data...
			const [done] = result.items(STATUS_NODE_NAME, 0);
			expect(done.json).toMatchObject({
				task_id: 'task-uploaded',
				status: 'SUCCESS',
				run_id: 404,
				check_count: 4,
				...links,
			});
			const stems = [
				{ property: 'foreground', fileName: 'fg_audio.flac', bytes: stemBytes.fg },
				{ property: 'background', fileName: 'bg_audio.flac', bytes: stemBytes.bg },
			];
			for (const stem of stems) {
				const binary = done.binary?.[stem.property];
				expect(binary).toMatchObject({
					fileName: stem.fileName,
					mimeType: 'audio/flac',
					fileExtension: 'flac',
				});
				const bytes = binaryBytes(session, binary);
				expect(bytes.length).toBe(stem.bytes);
				expect(bytes.equals(streamPattern(0, stem.bytes))).toBe(true);
			}
			// ...and the two Write nodes put them on disk next to the audio, named after the task.
			expect(result.items('Write background stem')).toHaveLength(1);
			for (const stem of stems) {
				const written = fs.readFileSync(path.join(filesDir, `task-uploaded-${stem.fileName}`));
				expect(written.equals(streamPattern(0, stem.bytes))).toBe(true);
			}

			// The storage host served the two stems (side by side: their order is not fixed) and never saw the key.
			expect(storage.requests.map(requestLine).sort()).toEqual([
				'GET /separation/404/bg_audio.flac?X-Amz-Expires=3600&X-Amz-Signature=e2e',
				'GET /separation/404/fg_audio.flac?X-Amz-Expires=3600&X-Amz-Signature=e2e',
			]);
			for (const request of storage.requests) {
				expect(request.headers['x-api-key']).toBeUndefined();
				expect(JSON.stringify(request.headers)).not.toContain(API_KEY);
			}
		});

		it('a rejected API key fails the run with "rejected the API key", and the key is sent only once', async () => {
			const workflow = withTaskIds(loadExample('check-once-and-route.json'), [
				'task-a',
				'task-b',
				'task-c',
			]);
			const node = nodeNamed(workflow, STATUS_NODE_NAME);
			node.credentials = { cambAiApi: REJECTED_CREDENTIAL };
			// One request at a time, so "not sent again after the 401" is exact.
			node.parameters.options = { maxInFlight: 1 };

			const result = await run(workflow, 'rejected key');

			expectRun(result, 'error', 1);
			expect(result.error?.message).toMatch(/rejected the API key \(HTTP 401\)/);
			expect(result.runsOf(STATUS_NODE_NAME)[0].error?.message).toMatch(/rejected the API key/);
			for (const noOp of ['Done', 'Still running', 'Failed'])
				expect(result.runsOf(noOp)).toHaveLength(0);

			expect(cambWithOtherKey.requests.map(requestLine)).toEqual([
				`GET ${taskStatusPath('task-a')}`,
			]);
			expectKeyOnEveryRequest(cambWithOtherKey.requests);
			expect(camb.requests).toHaveLength(0);
		});

		it('On Error "Continue (using error output)": a request error leaves on output 3, the other items are routed', async () => {
			camb.task('task-fine', { json: { status: 'SUCCESS', run_id: 303 } });
			camb.on('GET', resultPath(303), { json: resultUrls(303) });
			camb.task('task-boom', {
				status: 500,
				json: { detail: 'Internal Server Error' },
				headers: { 'retry-after': '0' },
			});
			camb.task('task-later', { json: { status: 'PENDING' } });
			const workflow = withTaskIds(loadExample('check-once-and-route.json'), [
				'task-fine',
				'task-boom',
				'task-later',
			]);
			const node = nodeNamed(workflow, STATUS_NODE_NAME);
			node.onError = 'continueErrorOutput';
			node.parameters.options = { attempts: 1 };
			workflow.nodes.push({
				id: 'e2e-request-error',
				name: 'Request error',
				type: 'n8n-nodes-base.noOp',
				typeVersion: 1,
				position: [700, 520],
				parameters: {},
			});
			workflow.connections[STATUS_NODE_NAME].main[3] = [
				{ node: 'Request error', type: 'main', index: 0 },
			];

			const result = await run(workflow, 'error output');

			expectRun(result, 'success', 0);
			const outputs = result.runsOf(STATUS_NODE_NAME)[0].outputs;
			expect(outputs).toHaveLength(4);
			expect(ids(result.json(STATUS_NODE_NAME, 0))).toEqual(['task-fine']);
			expect(ids(result.json(STATUS_NODE_NAME, 1))).toEqual(['task-later']);
			expect(result.json(STATUS_NODE_NAME, 2)).toEqual([]);
			const errors = result.json(STATUS_NODE_NAME, 3);
			expect(errors).toHaveLength(1);
			expect(errors[0].error).toMatch(
				/CAMB\.AI could not answer GET \/audio-separation\/\S+ after 1 attempt \(last: HTTP 500\)/,
			);
			expect(result.json('Request error')).toEqual(errors);
			expect(result.runsOf('Failed')).toHaveLength(0);

			// Attempts per Check 1: the 500 was not retried.
			expect(camb.requestsForTask('task-boom')).toHaveLength(1);
			expect(camb.requests.map(requestLine).sort()).toEqual(
				[
					`GET ${taskStatusPath('task-fine')}`,
					`GET ${taskStatusPath('task-boom')}`,
					`GET ${taskStatusPath('task-later')}`,
					`GET ${resultPath(303)}`,
				].sort(),
			);
			expectKeyOnEveryRequest(camb.requests);
		});
	},
);
