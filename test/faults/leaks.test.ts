/**
 * Nothing outlives an execution: no timer, no socket, no listener on the execution's cancel
 * signal; also when the execution is cancelled in the middle of retries and waits.
 */
import { getEventListeners } from 'node:events';

import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { CambAiApi } from '../../credentials/CambAiApi.credentials';
import { CambSeparationStatus } from '../../nodes/CambSeparationStatus/CambSeparationStatus.node';
import { runWorkflow, type RunWorkflowOptions } from '../engine/harness';
import { API_KEY, NODE_NAME, NODE_TYPE, runStatusNode, statusNode } from '../fixtures/cambWorkflow';
import { sendTime, startStandIn, type Reply, type StandIn } from '../stand-in/cambStandIn';
import { leftOverResources, resources } from './soak';

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

const WAIT = {
	waitForCompletion: true,
	fetchResultUrls: false,
	options: {
		attempts: 2,
		timeoutSeconds: 1,
		firstIntervalSeconds: 1,
		maxIntervalSeconds: 1,
		maxWaitSeconds: 2,
	},
};
const TROUBLE: Reply[] = [
	{ fault: 'hang' },
	{ fault: 'stall', json: 'SUCCESS' },
	{ fault: 'reset' },
	{ status: 503, text: 'busy' },
	{ status: 429, json: {}, headers: { 'retry-after': '1' } },
	{ json: 'PENDING' },
];

/** 30 tasks, each stuck in one kind of trouble (the last reply repeats). */
function scriptTrouble(): Array<{ task_id: string }> {
	return Array.from({ length: 30 }, (_, i) => {
		camb.task(`t${i}`, TROUBLE[i % TROUBLE.length]);
		return { task_id: `t${i}` };
	});
}

describe('resources', () => {
	it('leaves no timer or socket behind after an execution full of faults', async () => {
		await runStatusNode(camb.baseUrl, [{ task_id: 'warm-up' }], {
			parameters: { fetchResultUrls: false },
		});
		const before = resources();
		const result = await runStatusNode(camb.baseUrl, scriptTrouble(), {
			onError: 'continueErrorOutput',
			parameters: WAIT,
		});
		expect(result.run.error).toBeUndefined();
		expect(result.errorOutput.length + result.pending.length).toBe(30);
		expect(await leftOverResources(before)).toBeUndefined();
	});

	it('leaves no timer or socket behind, and sends nothing more, when cancelled amid retries and waits', async () => {
		await runStatusNode(camb.baseUrl, [{ task_id: 'warm-up' }], {
			parameters: { fetchResultUrls: false },
		});
		const before = resources();
		const controller = new AbortController();
		let abortedAt = Infinity;
		setTimeout(() => {
			abortedAt = Date.now();
			controller.abort();
		}, 1500);
		const result = await runStatusNode(camb.baseUrl, scriptTrouble(), {
			onError: 'continueErrorOutput',
			parameters: { ...WAIT, options: { ...WAIT.options, maxWaitSeconds: 60, attempts: 5 } },
			signal: controller.signal,
		});
		expect(result.run.status).toBe('canceled');
		expect(result.run.abandoned).toBe(false);
		// Measured from the cancel, on the node's side: it stops at once and sends nothing after it
		// (a request sent just before may still reach a busy stand-in a little later).
		expect(Date.now() - abortedAt).toBeLessThan(1500);
		expect(await leftOverResources(before)).toBeUndefined();
		expect(
			camb.requests
				.filter((request) => sendTime(request) > abortedAt)
				.map((request) => request.path),
		).toEqual([]);
	});

	/** The node, plus a look at its execution's cancel signal before and after it runs. */
	const probe: { seen?: { before: number; after: number } } = {};
	class ListenerProbe extends CambSeparationStatus {
		async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
			const signal = this.getExecutionCancelSignal() as AbortSignal;
			const before = getEventListeners(signal, 'abort').length;
			const outputs = await CambSeparationStatus.prototype.execute.call(this);
			probe.seen = { before, after: getEventListeners(signal, 'abort').length };
			return outputs;
		}
	}
	const runProbe = async (
		items: Array<{ task_id: string }>,
		parameters: object,
		options: RunWorkflowOptions = {},
	) => {
		probe.seen = undefined;
		await runWorkflow(
			{ nodes: [statusNode(parameters as never, 'continueErrorOutput')], connections: {} },
			{ nodeName: NODE_NAME, items: items.map((json) => ({ json })) },
			{
				nodeTypes: { [NODE_TYPE]: new ListenerProbe() },
				credentialTypes: { cambAiApi: new CambAiApi() },
				credentials: { cambAiApi: { apiKey: API_KEY, baseUrl: camb.baseUrl } },
			},
			options,
		);
		if (!probe.seen) throw new Error('the listener probe did not run');
		return probe.seen;
	};

	it('the listener probe sees listeners (control): one left by a plain sleepWithAbort', async () => {
		const { sleepWithAbort } = await import('n8n-workflow');
		const controller = new AbortController();
		await sleepWithAbort(1, controller.signal);
		expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
		// And the probe runs: an execution without pauses leaves none.
		camb.task('quick', { json: 'SUCCESS' });
		expect(await runProbe([{ task_id: 'quick' }], { fetchResultUrls: false })).toEqual({
			before: 0,
			after: 0,
		});
	});

	// Was a node bug, fixed: every pause (retry backoff, wait interval) goes through pause.ts to
	// n8n 1.x's sleepWithAbort, which adds an 'abort' listener to the execution's cancel signal and
	// never removes it when the pause ends normally (n8n 2.x's sleep does remove it). They pile up
	// for as long as the execution lives: here 20 items x ~2 pauses; a 10 000-item batch waiting a
	// minute leaves ~100 000.
	it("leaves no listeners on the execution's cancel signal after pausing", async () => {
		const items = Array.from({ length: 20 }, (_, i) => {
			camb.task(`p${i}`, { json: 'PENDING' });
			return { task_id: `p${i}` };
		});
		const seen = await runProbe(items, WAIT);
		expect(camb.requests.length).toBeGreaterThan(items.length);
		expect(seen).toEqual({ before: 0, after: 0 });
	});
});
