/**
 * The shipped example workflows, run by REAL n8n (1.x on Node 20, 2.x on Node 24) with this
 * package installed as a community package, against the CAMB stand-in on 127.0.0.1.
 * Assertions read n8n's own run output and what the stand-in received.
 *
 * Run with `npm run test:e2e` (build, cached n8n install, then jest -c jest.e2e.config.js).
 */
import { startStandIn, taskStatusPath, type RecordedRequest, type Reply, type StandIn } from '../stand-in/camb-stand-in';
import { loadExample, nodeNamed, NODE_TYPE, startSession, type Json, type Major, type N8nSession, type RunResult } from './n8n';

const STATUS_NODE = 'Camb Separation Status';
/** Long and distinctive, so a search of n8n's output for it cannot miss a leak. */
const API_KEY = 'camb-e2e-key-3c9d1f7a2b6e4805';
const CREDENTIAL = { id: 'cambAiAccount01', name: 'CAMB.AI account' };
const REJECTED_CREDENTIAL = { id: 'cambAiRejected01', name: 'CAMB.AI old key' };

// jest.config.js (unit tests) matches *.test.ts too; these need jest.e2e.config.js, whose
// global setup checks the n8n installs (throwing if one is missing) and packs the package.
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const resultUrls = (runId: number) => ({
	foreground_audio_url: `https://storage.example.invalid/${runId}/fg_audio.flac`,
	background_audio_url: `https://storage.example.invalid/${runId}/bg_audio.flac`,
});
const resultPath = (runId: number) => `/audio-separation-result/${runId}`;

/** Sets the ids the "Task IDs" Code node of check-once-and-route.json emits. */
function withTaskIds(workflow: Json, taskIds: string[]): Json {
	const node = nodeNamed(workflow, 'Task IDs');
	const line = /^const taskIds = \[.*\];$/m;
	if (!line.test(node.parameters.jsCode)) throw new Error('the "Task IDs" Code node no longer has a `const taskIds = [...];` line');
	node.parameters.jsCode = node.parameters.jsCode.replace(line, `const taskIds = ${JSON.stringify(taskIds)};`);
	return workflow;
}

/** Fails with n8n's whole output, so a broken run explains itself. */
function expectRun(result: RunResult, status: 'success' | 'error', exitCode: number): void {
	if (result.status !== status || result.exitCode !== exitCode) {
		throw new Error(
			`expected n8n to report "${status}" and exit ${exitCode}, got "${result.status}" and exit ${result.exitCode}\n` +
				`error: ${JSON.stringify(result.error, null, 2)}\n${result.transcript().slice(-8000)}`,
		);
	}
}

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

describe('examples/', () => {
	it.each(['check-once-and-route.json', 'poll-until-done.json'])('%s starts with a Manual Trigger and uses the community node type and credential', (name) => {
		const workflow = loadExample(name);
		expect(workflow.nodes[0].type).toBe('n8n-nodes-base.manualTrigger');
		const cambNodes = (workflow.nodes as Json[]).filter((node) => node.type.includes('cambSeparationStatus'));
		expect(cambNodes).toHaveLength(1);
		expect(cambNodes[0].type).toBe(NODE_TYPE);
		expect(cambNodes[0].credentials).toEqual({ cambAiApi: CREDENTIAL });
		expect(workflow.id).toBeUndefined();
	});
});

describeE2e.each(['1', '2'] as Major[])('n8n %s.x, package installed as a community package', (major) => {
	let session: N8nSession;
	let camb: StandIn;
	/** A CAMB that no longer accepts API_KEY. */
	let cambWithOtherKey: StandIn;
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
		const started = Date.now();
		session = await startSession(major);
		await session.importCredentials([
			{ ...CREDENTIAL, type: 'cambAiApi', data: { apiKey: API_KEY, baseUrl: camb.baseUrl } },
			{ ...REJECTED_CREDENTIAL, type: 'cambAiApi', data: { apiKey: API_KEY, baseUrl: cambWithOtherKey.baseUrl } },
		]);
		timings.push(`n8n ${session.install.version} on Node ${session.install.nodeVersion}: fresh user folder + credentials ${((Date.now() - started) / 1000).toFixed(1)} s`);
	}, 240_000);

	afterAll(async () => {
		await session?.close();
		await camb?.close();
		await cambWithOtherKey?.close();
		if (timings.length) console.log(timings.join('\n'));
	});

	beforeEach(() => {
		camb.reset();
		cambWithOtherKey.reset();
	});

	it('check-once-and-route: every status reaches its output and the NoOp behind it', async () => {
		camb.task('task-success', { json: { status: 'SUCCESS', run_id: 101, exception_reason: null, message: null } });
		camb.on('GET', resultPath(101), { json: resultUrls(101) });
		camb.task('task-pending', { json: { status: 'PENDING', run_id: null, exception_reason: null, message: null } });
		camb.task('task-error', { json: { status: 'ERROR', run_id: null, exception_reason: 'SOURCE_TOO_LARGE', message: 'File exceeds the limit' } });
		camb.task('task-success-bare', { json: 'SUCCESS' });
		camb.task('task-timeout', { json: { status: 'TIMEOUT', run_id: null } });
		camb.task('task-payment', { json: { status: 'PAYMENT_REQUIRED', run_id: null } });
		camb.task('task-unknown', { json: { status: 'QUEUED_FOR_GPU', run_id: null } });
		const taskIds = ['task-success', 'task-pending', 'task-error', 'task-success-bare', 'task-timeout', 'task-payment', 'task-unknown'];

		const result = await run(withTaskIds(loadExample('check-once-and-route.json'), taskIds), 'route every status');

		expectRun(result, 'success', 0);
		const [success, pending, failure] = [0, 1, 2].map((output) => result.json(STATUS_NODE, output));
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
		expect(result.runsOf(STATUS_NODE)).toHaveLength(1);

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
			[`GET ${taskStatusPath('REPLACE-WITH-TASK-ID-1')}`, `GET ${taskStatusPath('REPLACE-WITH-TASK-ID-2')}`].sort(),
		);
		expectKeyOnEveryRequest(camb.requests);
	});

	it('poll-until-done: PENDING twice, through the Wait node and back, then Success', async () => {
		const pendingReply: Reply = { json: { status: 'PENDING', run_id: null } };
		camb.task('task-slow', pendingReply, pendingReply, { json: { status: 'SUCCESS', run_id: 202 } });
		camb.on('GET', resultPath(202), { json: resultUrls(202) });
		const workflow = loadExample('poll-until-done.json');
		nodeNamed(workflow, 'Task ID').parameters.assignments.assignments[0].value = 'task-slow';

		const result = await run(workflow, 'poll loop');

		expectRun(result, 'success', 0);
		const checks = result.runsOf(STATUS_NODE);
		expect(checks).toHaveLength(3);
		expect(checks.map((check) => check.outputs.map((items) => items.length))).toEqual([
			[0, 1, 0],
			[0, 1, 0],
			[1, 0, 0],
		]);
		const pendingItems = [0, 1].map((runIndex) => result.json(STATUS_NODE, 1, runIndex)[0]);
		expect(pendingItems.map((json) => json.check_count)).toEqual([1, 2]);
		for (const json of pendingItems) expect(json.next_check_in_seconds).toBeGreaterThanOrEqual(1);
		expect(result.runsOf('Wait before next check')).toHaveLength(2);
		expect(result.json('Done')).toEqual([
			expect.objectContaining({ task_id: 'task-slow', status: 'SUCCESS', run_id: 202, check_count: 3, ...resultUrls(202) }),
		]);
		expect(result.runsOf('Failed')).toHaveLength(0);

		const statusChecks = camb.requestsForTask('task-slow');
		expect(statusChecks).toHaveLength(3);
		// The Wait node really waited (next_check_in_seconds is at least 2 with First Interval 2 s).
		for (let i = 1; i < statusChecks.length; i++) {
			expect(statusChecks[i].at - statusChecks[i - 1].at).toBeGreaterThanOrEqual(1900);
		}
		expect(camb.requests.map(requestLine)).toEqual([
			...Array(3).fill(`GET ${taskStatusPath('task-slow')}`),
			`GET ${resultPath(202)}`,
		]);
		expectKeyOnEveryRequest(camb.requests);
	});

	it('a rejected API key fails the run with "rejected the API key", and the key is sent only once', async () => {
		const workflow = withTaskIds(loadExample('check-once-and-route.json'), ['task-a', 'task-b', 'task-c']);
		const node = nodeNamed(workflow, STATUS_NODE);
		node.credentials = { cambAiApi: REJECTED_CREDENTIAL };
		// One request at a time, so "not sent again after the 401" is exact.
		node.parameters.options = { maxInFlight: 1 };

		const result = await run(workflow, 'rejected key');

		expectRun(result, 'error', 1);
		expect(result.error?.message).toMatch(/rejected the API key \(HTTP 401\)/);
		expect(result.runsOf(STATUS_NODE)[0].error?.message).toMatch(/rejected the API key/);
		for (const noOp of ['Done', 'Still running', 'Failed']) expect(result.runsOf(noOp)).toHaveLength(0);

		expect(cambWithOtherKey.requests.map(requestLine)).toEqual([`GET ${taskStatusPath('task-a')}`]);
		expectKeyOnEveryRequest(cambWithOtherKey.requests);
		expect(camb.requests).toHaveLength(0);
	});

	it('On Error "Continue (using error output)": a request error leaves on output 3, the other items are routed', async () => {
		camb.task('task-fine', { json: { status: 'SUCCESS', run_id: 303 } });
		camb.on('GET', resultPath(303), { json: resultUrls(303) });
		camb.task('task-boom', { status: 500, json: { detail: 'Internal Server Error' }, headers: { 'retry-after': '0' } });
		camb.task('task-later', { json: { status: 'PENDING' } });
		const workflow = withTaskIds(loadExample('check-once-and-route.json'), ['task-fine', 'task-boom', 'task-later']);
		const node = nodeNamed(workflow, STATUS_NODE);
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
		workflow.connections[STATUS_NODE].main[3] = [{ node: 'Request error', type: 'main', index: 0 }];

		const result = await run(workflow, 'error output');

		expectRun(result, 'success', 0);
		const outputs = result.runsOf(STATUS_NODE)[0].outputs;
		expect(outputs).toHaveLength(4);
		expect(ids(result.json(STATUS_NODE, 0))).toEqual(['task-fine']);
		expect(ids(result.json(STATUS_NODE, 1))).toEqual(['task-later']);
		expect(result.json(STATUS_NODE, 2)).toEqual([]);
		const errors = result.json(STATUS_NODE, 3);
		expect(errors).toHaveLength(1);
		expect(errors[0].error).toMatch(/CAMB\.AI could not be reached after 1 attempt/);
		expect(result.json('Request error')).toEqual(errors);
		expect(result.runsOf('Failed')).toHaveLength(0);

		// Attempts per Check 1: the 500 was not retried.
		expect(camb.requestsForTask('task-boom')).toHaveLength(1);
		expect(camb.requests.map(requestLine).sort()).toEqual(
			[`GET ${taskStatusPath('task-fine')}`, `GET ${taskStatusPath('task-boom')}`, `GET ${taskStatusPath('task-later')}`, `GET ${resultPath(303)}`].sort(),
		);
		expectKeyOnEveryRequest(camb.requests);
	});
});
