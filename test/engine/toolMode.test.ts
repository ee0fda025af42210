/**
 * The node as an AI Agent's tool (cambSeparationStatusTool) in n8n-core's real engine and tool
 * wrapper: what the model is told about the tool, and what each outcome gives back to it.
 */
import { TOOL_DESCRIPTION } from '../../nodes/CambSeparationStatus/description';
import { API_KEY } from '../fixtures/cambWorkflow';
import { runToolCalls } from '../fixtures/cambTool';
import { freePort } from '../e2e/n8n';
import { resultPath, startStandIn, taskStatusPath, type StandIn } from '../stand-in/cambStandIn';

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

const requestLines = () => camb.requests.map((request) => `${request.method} ${request.path}`);

describe('as an AI Agent tool', () => {
	it('tells the model what the tool does and asks it only for task_id (the default Task ID is $fromAI)', async () => {
		camb.task('t-1', { json: 'PENDING' });
		const { calls } = await runToolCalls(camb.baseUrl, [{ task_id: 't-1' }]);
		expect(calls[0].tool).toEqual({
			name: 'Camb_Separation_Status',
			description: TOOL_DESCRIPTION,
			arguments: ['task_id'],
		});
		expect(requestLines()).toEqual([`GET ${taskStatusPath('t-1')}`]);
	});

	it('SUCCESS: status and run_id, no links by default and no result request', async () => {
		camb.task('t-ok', {
			json: { status: 'SUCCESS', run_id: 11, exception_reason: null, message: null },
		});
		const { calls, run } = await runToolCalls(camb.baseUrl, [{ task_id: 't-ok' }]);
		expect(calls[0].answer).toEqual([
			{
				task_id: 't-ok',
				status: 'SUCCESS',
				run_id: 11,
				message: expect.stringMatching(/finished.*not given to the assistant/),
			},
		]);
		expect(requestLines()).toEqual([`GET ${taskStatusPath('t-ok')}`]);
		expect(run.status).toBe('success');
	});

	it('SUCCESS with "Give Stem Links to the Model": the two links, fetched with one more request', async () => {
		const links = {
			foreground_audio_url: `${storage.baseUrl}/fg_audio.flac`,
			background_audio_url: `${storage.baseUrl}/bg_audio.flac`,
		};
		camb.task('t-ok', { json: { status: 'SUCCESS', run_id: 12 } });
		camb.on('GET', resultPath(12), { json: links });
		const { calls } = await runToolCalls(camb.baseUrl, [{ task_id: 't-ok' }], {
			parameters: { fetchResultUrls: true, downloadStems: true },
		});
		expect(calls[0].answer).toEqual([
			{
				task_id: 't-ok',
				status: 'SUCCESS',
				run_id: 12,
				...links,
				message: expect.stringMatching(/pre-signed/),
			},
		]);
		expect(requestLines()).toEqual([`GET ${taskStatusPath('t-ok')}`, `GET ${resultPath(12)}`]);
		// Download Stems is a canvas switch: a tool never downloads.
		expect(storage.requests).toHaveLength(0);
	});

	it('PENDING: next_check_in_seconds and what to do, after exactly one check even with Wait for Completion set', async () => {
		camb.task(
			't-wait',
			{ json: { status: 'PENDING', run_id: null } },
			{ json: { status: 'SUCCESS', run_id: 13 } },
		);
		const { calls } = await runToolCalls(camb.baseUrl, [{ task_id: 't-wait' }], {
			parameters: { waitForCompletion: true, options: { firstIntervalSeconds: 4 } },
		});
		expect(calls[0].answer).toEqual([
			{
				task_id: 't-wait',
				status: 'PENDING',
				next_check_in_seconds: 4,
				message: expect.stringMatching(/still separating.*4 seconds/),
			},
		]);
		expect(requestLines()).toEqual([`GET ${taskStatusPath('t-wait')}`]);
	});

	it('an unknown id (404) and a failed task: status, reason, message and retryable', async () => {
		camb.task('t-bad', {
			json: {
				status: 'ERROR',
				exception_reason: 'SOURCE_TOO_LARGE',
				message: 'File exceeds the limit',
			},
		});
		const { calls } = await runToolCalls(camb.baseUrl, [
			{ task_id: 't-missing' },
			{ task_id: 't-bad' },
		]);
		expect(calls.map((call) => call.answer)).toEqual([
			[
				{
					task_id: 't-missing',
					status: 'NOT_FOUND',
					reason: 'TASK_NOT_FOUND',
					message: expect.stringMatching(/does not know this task id/),
					retryable: false,
				},
			],
			[
				{
					task_id: 't-bad',
					status: 'ERROR',
					reason: 'SOURCE_TOO_LARGE',
					message: expect.stringMatching(/File exceeds the limit/),
					retryable: false,
				},
			],
		]);
		expect(requestLines()).toEqual([
			`GET ${taskStatusPath('t-missing')}`,
			`GET ${taskStatusPath('t-bad')}`,
		]);
	});

	it('a rejected key is an answer the model can relay, not a thrown error, and the key is nowhere in it or the run data', async () => {
		const { calls, run } = await runToolCalls(camb.baseUrl, [{ task_id: 't-1' }], {
			apiKey: 'camb-test-key-revoked-0000',
		});
		expect(calls[0].thrown).toBeUndefined();
		expect(calls[0].answer).toEqual([
			{
				task_id: 't-1',
				status: 'CHECK_FAILED',
				reason: 'API_KEY_REJECTED',
				message: expect.stringMatching(
					/^CAMB\.AI rejected the API key \(HTTP 401\)\. .*workflow owner/,
				),
				retryable: false,
			},
		]);
		expect(camb.requests).toHaveLength(1);
		const everything = JSON.stringify([calls, run.runData]);
		expect(everything).not.toContain('camb-test-key-revoked-0000');
		expect(everything).not.toContain(API_KEY);
		expect(run.status).toBe('success');
	});

	it.each(['continueRegularOutput', 'continueErrorOutput'] as const)(
		'On Error "%s" on the tool changes nothing: the error is still an answer',
		async (onError) => {
			const { calls } = await runToolCalls(camb.baseUrl, [{ task_id: 't-1' }], {
				apiKey: 'camb-test-key-revoked-0000',
				onError,
			});
			expect(calls[0].answer).toEqual([
				expect.objectContaining({
					task_id: 't-1',
					status: 'CHECK_FAILED',
					reason: 'API_KEY_REJECTED',
				}),
			]);
		},
	);

	it('CAMB.AI unreachable: CHECK_FAILED with CAMB_UNAVAILABLE, retryable', async () => {
		const closed = await freePort();
		const { calls } = await runToolCalls(`http://127.0.0.1:${closed}`, [{ task_id: 't-1' }], {
			parameters: { options: { attempts: 1 } },
		});
		expect(calls[0].answer).toEqual([
			{
				task_id: 't-1',
				status: 'CHECK_FAILED',
				reason: 'CAMB_UNAVAILABLE',
				message: expect.stringMatching(/GET \/audio-separation\/t-1/),
				retryable: true,
			},
		]);
		// Hosts and ports are the owner's business, not the model's.
		expect(JSON.stringify(calls[0].answer)).not.toContain(String(closed));
	});

	it('a task id the model got wrong is refused before any request, as INVALID_TASK_ID', async () => {
		const { calls } = await runToolCalls(camb.baseUrl, [
			{ task_id: '   ' },
			{ task_id: 'line\nbreak' },
		]);
		for (const call of calls) {
			expect(call.answer).toEqual([
				{
					status: 'CHECK_FAILED',
					reason: 'INVALID_TASK_ID',
					message: expect.stringMatching(/task ID .*Ask the user/),
					retryable: false,
				},
			]);
		}
		expect(camb.requests).toHaveLength(0);
	});

	it('a Task ID set by the workflow instead of the model is used as it is (no arguments for the model)', async () => {
		camb.task('fixed-id', { json: 'PENDING' });
		const { calls } = await runToolCalls(camb.baseUrl, [{}], {
			parameters: { taskId: 'fixed-id' },
		});
		expect(calls[0].tool.arguments).toEqual([]);
		expect(calls[0].answer).toEqual([
			expect.objectContaining({ task_id: 'fixed-id', status: 'PENDING' }),
		]);
	});
});
