/**
 * Camb Separation Status as an AI Agent's tool in REAL n8n (1.x on Node 20, 2.x on Node 24):
 * examples/agent-checks-separation.json with n8n's own AI Agent and OpenAI Chat Model nodes,
 * the model being a scripted OpenAI-compatible stand-in on 127.0.0.1
 * (test/stand-in/fakeChatModel.ts) and CAMB.AI the usual stand-in. Assertions read what the
 * model received (tool definitions and tool messages), what CAMB.AI received, n8n's run data and
 * the files n8n wrote.
 *
 * Both ways an agent runs a tool are covered: AI Agent 3.x (3 is n8n 1.123's default, 3.1 n8n
 * 2.41's) asks the engine to run the tool node
 * (its answer is read from the node's output 0 by the agent's buildSteps), AI Agent 2.2 calls it
 * through n8n-core's tool wrapper (which also reads output 0).
 */
import { TOOL_DESCRIPTION } from '../../nodes/CambSeparationStatus/description';
import { startFakeChatModel, type FakeChatModel } from '../stand-in/fakeChatModel';
import { startStandIn, taskStatusPath, type StandIn } from '../stand-in/cambStandIn';
import {
	expectRun,
	filesContaining,
	freePort,
	loadExample,
	nodeNamed,
	startSession,
	type Json,
	type Major,
	type N8nSession,
	type RunResult,
} from './n8n';
import { API_KEY, CREDENTIAL, credentialRecord, STATUS_NODE_NAME } from '../fixtures/package';

const EXAMPLE = 'agent-checks-separation.json';
const AGENT_NODE = 'AI Agent';
/** Long and distinctive, so a search for it cannot miss a leak. */
const REJECTED = { id: 'cambAiRejected02', name: 'CAMB.AI revoked key' };
const UNREACHABLE = { id: 'cambAiUnreachable01', name: 'CAMB.AI down' };
const OPENAI = { id: 'openAiAccount01', name: 'OpenAI account' };

const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const AGENT_VERSIONS: Record<Major, number[]> = { '1': [3, 2.2], '2': [3.1, 2.2] };

/** The example with these questions in its "Questions" Code node, and the agent at `agentVersion`. */
function agentWorkflow(questions: string[], agentVersion: number, credential = CREDENTIAL): Json {
	const workflow = loadExample(EXAMPLE);
	const code = nodeNamed(workflow, 'Questions');
	const line = /^const questions = \[.*\];$/m;
	if (!line.test(code.parameters.jsCode))
		throw new Error('the "Questions" Code node no longer has a `const questions = [...];` line');
	code.parameters.jsCode = code.parameters.jsCode.replace(
		line,
		`const questions = ${JSON.stringify(questions)};`,
	);
	nodeNamed(workflow, AGENT_NODE).typeVersion = agentVersion;
	nodeNamed(workflow, STATUS_NODE_NAME).credentials = { cambAiApi: credential };
	return workflow;
}

const question = (taskId: string) => `Is my CAMB.AI separation task ${taskId} finished?`;

describeE2e.each(['1', '2'] as Major[])('n8n %s.x: the node as an AI Agent tool', (major) => {
	let session: N8nSession;
	let camb: StandIn;
	let cambWithOtherKey: StandIn;
	let model: FakeChatModel;
	const timings: string[] = [];

	beforeAll(async () => {
		camb = await startStandIn({ apiKey: API_KEY });
		cambWithOtherKey = await startStandIn({ apiKey: 'camb-e2e-key-the-account-uses-now' });
		model = await startFakeChatModel();
		session = await startSession(major);
		await session.importCredentials([
			credentialRecord(camb.baseUrl),
			credentialRecord(cambWithOtherKey.baseUrl, REJECTED),
			// Nothing listens there: CAMB.AI unreachable.
			credentialRecord(`http://127.0.0.1:${await freePort()}`, UNREACHABLE),
			{
				...OPENAI,
				type: 'openAiApi',
				data: { apiKey: 'fake-model-key-not-a-secret', url: model.baseUrl },
			},
		]);
	}, 240_000);

	afterAll(async () => {
		await session?.close();
		await camb?.close();
		await cambWithOtherKey?.close();
		await model?.close();
		if (timings.length) console.log(timings.join('\n'));
	});

	beforeEach(() => {
		camb.reset();
		cambWithOtherKey.reset();
		model.reset();
	});

	/** Runs the workflow; checks the key is nowhere but in CAMB's requests; gives each tool answer by task id. */
	async function runAgent(
		workflow: Json,
		label: string,
	): Promise<{ result: RunResult; answers: Map<string, Json> }> {
		const result = await session.run(workflow);
		timings.push(`${label}: n8n execute ${(result.durationMs / 1000).toFixed(1)} s`);
		expectRun(result, 'success', 0);

		// The key is in no model request, no run data, no output, no file of n8n's user folder.
		for (const request of model.requests)
			expect(JSON.stringify([request.headers, request.raw])).not.toContain(API_KEY);
		expect(JSON.stringify(result.run)).not.toContain(API_KEY);
		expect(result.stdout + result.stderr).not.toContain(API_KEY);
		expect(filesContaining(session.userFolder, API_KEY)).toEqual([]);

		// The model was told what the tool is for and asked only for task_id.
		const offered = model.requests
			.flatMap((request) => request.body?.tools ?? [])
			.filter((tool) => /camb/i.test(tool.function.name));
		expect(offered.length).toBeGreaterThan(0);
		for (const tool of offered) {
			expect(tool.function.description).toBe(TOOL_DESCRIPTION);
			expect(Object.keys(tool.function.parameters?.properties ?? {})).toEqual(['task_id']);
		}

		// Each tool call got exactly one tool message back, holding one answer.
		const results = model.toolResults();
		const answers = new Map<string, Json>();
		for (const call of model.toolCalls) {
			const content = results.get(call.id);
			if (content === undefined)
				throw new Error(
					`the model never got an answer to ${call.id}; it got ${JSON.stringify([...results])}`,
				);
			const parsed = JSON.parse(content) as Json[];
			expect(parsed).toHaveLength(1);
			answers.set(String(call.args.task_id), parsed[0]);
			// What the model read, in the test log: the report's excerpts come from here.
			timings.push(
				`  ${call.args.task_id}: ${content.length > 400 ? `${content.slice(0, 400)}…` : content}`,
			);
		}
		expect(answers.size).toBe(model.toolCalls.length);
		return { result, answers };
	}

	// Each major's default AI Agent version (it has the agent ask the engine to run the tool), and
	// 2.2, which calls the tool through n8n-core's wrapper.
	describe.each(AGENT_VERSIONS[major])('AI Agent %s', (agentVersion) => {
		it('SUCCESS, PENDING, an unknown id (404) and ERROR: the model gets status and what to do, one status request per call', async () => {
			camb.task('task-done', {
				json: { status: 'SUCCESS', run_id: 501, exception_reason: null, message: null },
			});
			camb.task('task-running', {
				json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
			});
			camb.task('task-failed', {
				json: {
					status: 'ERROR',
					run_id: null,
					exception_reason: 'SOURCE_TOO_LARGE',
					message: 'File exceeds the limit',
				},
			});
			// task-unknown is not scripted: the stand-in answers 404 {"detail": "Task not found"}.
			const taskIds = ['task-done', 'task-running', 'task-unknown', 'task-failed'];

			const { result, answers } = await runAgent(
				agentWorkflow(taskIds.map(question), agentVersion),
				`agent ${agentVersion}, four statuses`,
			);

			expect(model.toolCalls.map((call) => call.args.task_id).sort()).toEqual([...taskIds].sort());
			expect(answers.get('task-done')).toEqual({
				task_id: 'task-done',
				status: 'SUCCESS',
				run_id: 501,
				message: expect.stringMatching(/^The separation is finished/),
			});
			expect(answers.get('task-running')).toEqual({
				task_id: 'task-running',
				status: 'PENDING',
				next_check_in_seconds: 3,
				message: expect.stringMatching(/still separating.*check again in 3 seconds/),
			});
			expect(answers.get('task-unknown')).toEqual({
				task_id: 'task-unknown',
				status: 'NOT_FOUND',
				reason: 'TASK_NOT_FOUND',
				message: expect.stringMatching(/does not know this task id \("Task not found"\)/),
				retryable: false,
			});
			expect(answers.get('task-failed')).toEqual({
				task_id: 'task-failed',
				status: 'ERROR',
				reason: 'SOURCE_TOO_LARGE',
				message: expect.stringMatching(/SOURCE_TOO_LARGE.*File exceeds the limit/),
				retryable: false,
			});

			// Exactly one status request per tool call, nothing else (links are not fetched for the model by default).
			expect(camb.requests.map((request) => `${request.method} ${request.path}`).sort()).toEqual(
				taskIds.map((id) => `GET ${taskStatusPath(id)}`).sort(),
			);
			for (const request of camb.requests) expect(request.headers['x-api-key']).toBe(API_KEY);

			// The model's final answers came back to the workflow: one per question, each built on its tool answer.
			const outputs = result.json(AGENT_NODE).map((json) => String(json.output));
			expect(outputs).toHaveLength(taskIds.length);
			for (const status of ['"SUCCESS"', '"PENDING"', '"NOT_FOUND"', '"ERROR"'])
				expect(outputs.some((output) => output.includes(status))).toBe(true);
		});

		it('a rejected key: the model gets CHECK_FAILED with a message it can relay; the key went only to CAMB.AI, once', async () => {
			const { answers } = await runAgent(
				agentWorkflow([question('task-x')], agentVersion, REJECTED),
				`agent ${agentVersion}, rejected key`,
			);

			expect(answers.get('task-x')).toEqual({
				task_id: 'task-x',
				status: 'CHECK_FAILED',
				reason: 'API_KEY_REJECTED',
				message: expect.stringMatching(
					/^CAMB\.AI rejected the API key \(HTTP 401\)\. .*workflow owner must update the credential/,
				),
				retryable: false,
			});
			expect(
				cambWithOtherKey.requests.map((request) => `${request.method} ${request.path}`),
			).toEqual([`GET ${taskStatusPath('task-x')}`]);
			expect(cambWithOtherKey.requests[0].headers['x-api-key']).toBe(API_KEY);
			expect(camb.requests).toHaveLength(0);
		});

		it('CAMB.AI unreachable: the model gets CHECK_FAILED, retryable, naming the request', async () => {
			const { answers } = await runAgent(
				agentWorkflow([question('task-y')], agentVersion, UNREACHABLE),
				`agent ${agentVersion}, CAMB.AI unreachable`,
			);

			expect(answers.get('task-y')).toEqual({
				task_id: 'task-y',
				status: 'CHECK_FAILED',
				reason: 'CAMB_UNAVAILABLE',
				message: expect.stringMatching(/GET \/audio-separation\/task-y.*try again in a minute/),
				retryable: true,
			});
		});
	});
});
