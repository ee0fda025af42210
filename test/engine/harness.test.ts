/**
 * The engine harness (harness.ts) runs workflows the way n8n does: routing, credentials, node
 * errors and the On Error settings, cancellation; checked with small test nodes
 * (harnessTestNodes.ts) and a local HTTP server. Binary data modes are in
 * harnessBinaryData.test.ts.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { INode } from 'n8n-workflow';

import { disposeHarness, harnessUserFolder, runWorkflow } from './harness';
import {
	FAILING,
	FLAKY,
	HTTP,
	NOOP,
	REQUIRED,
	ROUTER,
	SLEEPER,
	STUCK,
	connect,
	flakyCalls,
	items,
	node,
	releaseStuck,
	resetFlakyCalls,
	types,
} from './harnessTestNodes';

// -----------------------------------------------------------------------------------------------
// Test HTTP server
// -----------------------------------------------------------------------------------------------

interface Received {
	url: string;
	headers: Record<string, string | string[] | undefined>;
}
const received: Received[] = [];
const server = createServer((req, res) => {
	received.push({ url: req.url ?? '', headers: req.headers });
	const id = (req.url ?? '').split('?')[0].split('/').pop();
	if (id === 'missing') {
		res.writeHead(404, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ detail: 'Task not found' }));
		return;
	}
	res.writeHead(200, { 'content-type': 'application/json' });
	res.end(JSON.stringify({ id, status: 'SUCCESS' }));
});
let baseUrl = '';

beforeAll(async () => {
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
	releaseStuck?.();
	server.closeAllConnections();
	await new Promise<void>((resolve) => server.close(() => resolve()));
	disposeHarness();
});

beforeEach(() => {
	received.length = 0;
	resetFlakyCalls();
});

// -----------------------------------------------------------------------------------------------
// Tests
// -----------------------------------------------------------------------------------------------

describe('engine harness: routing', () => {
	it('routes items of a 3-output node and keeps pairedItem', async () => {
		const workflow = {
			nodes: [node('Router', ROUTER), node('On B', NOOP)],
			connections: connect([['Router', 1, 'On B']]),
		};
		const run = await runWorkflow(
			workflow,
			{
				nodeName: 'Router',
				items: items(
					{ id: 1, route: 'b' },
					{ id: 2, route: 'a' },
					{ id: 3, route: 'b' },
					{ id: 4, route: 'x' },
				),
			},
			types(),
		);

		expect(run.error).toBeUndefined();
		expect(run.status).toBe('success');
		const [a, b, c] = run.outputs('Router');
		expect(run.outputs('Router')).toHaveLength(3);
		expect(a.map((i) => i.json.id)).toEqual([2, 4]);
		expect(b.map((i) => i.json.id)).toEqual([1, 3]);
		expect(c).toEqual([]);
		expect(a.map((i) => i.pairedItem)).toEqual([{ item: 1 }, { item: 3 }]);
		expect(b.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 2 }]);

		// The engine delivered output 1 downstream; the downstream node's items pair to its input.
		expect(run.executedNodes).toEqual(['Router', 'On B']);
		expect(run.outputs('On B')[0].map((i) => i.json.id)).toEqual([1, 3]);
		expect(run.outputs('On B')[0].map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(run.tasks('On B')[0].source).toMatchObject([
			{ previousNode: 'Router', previousNodeOutput: 1 },
		]);
	});

	it('uses a temporary N8N_USER_FOLDER', async () => {
		await runWorkflow(
			{ nodes: [node('R', ROUTER)], connections: {} },
			{ nodeName: 'R', items: items({}) },
			types(),
		);
		expect(process.env.N8N_USER_FOLDER).toBe(harnessUserFolder);
		expect(harnessUserFolder.startsWith(tmpdir())).toBe(true);
		// InstanceSettings (built by the first node execution context) wrote its config there.
		expect(existsSync(join(harnessUserFolder, '.n8n', 'config'))).toBe(true);
	});

	it('rejects with the workflow issues when a node type is unknown or the start node is missing', async () => {
		await expect(
			runWorkflow(
				{ nodes: [node('R', ROUTER)], connections: {} },
				{ nodeName: 'Nope', items: [] },
				types(),
			),
		).rejects.toThrow(/start node "Nope"/);
		await expect(
			runWorkflow(
				{ nodes: [node('X', 'test.unknown')], connections: {} },
				{ nodeName: 'X', items: items({}) },
				types(),
			),
		).rejects.toThrow(/unknown node type "test.unknown"/);
		// n8n's own pre-flight check (WorkflowHasIssuesError), with the issues spelled out.
		await expect(
			runWorkflow(
				{ nodes: [node('Req', REQUIRED)], connections: {} },
				{ nodeName: 'Req', items: items({}) },
				types(),
			),
		).rejects.toThrow(/has issues.*"Req".*"must"/);
	});
});

describe('engine harness: credentials', () => {
	const httpWorkflow = (credentialType: string) => ({
		nodes: [
			node('Fetch', HTTP, {
				parameters: { credentialType, taskId: '={{ $json.id }}' },
				credentials: { [credentialType]: { id: '1', name: 'Test credential' } },
			}),
		],
		connections: {},
	});

	it('applies a generic authenticate (headers and qs) resolved from $credentials', async () => {
		const run = await runWorkflow(
			httpWorkflow('fakeApi'),
			{ nodeName: 'Fetch', items: items({ id: 'task-1' }, { id: 'task-2' }) },
			types({ fakeApi: { apiKey: 'k-123', baseUrl } }),
		);

		expect(run.error).toBeUndefined();
		expect(run.outputs('Fetch')[0].map((i) => i.json)).toEqual([
			{ id: 'task-1', status: 'SUCCESS' },
			{ id: 'task-2', status: 'SUCCESS' },
		]);
		expect(received).toHaveLength(2);
		expect(received[0].headers['x-api-key']).toBe('k-123');
		expect(received[0].headers.authorization).toBe('Bearer k-123');
		expect(received[0].headers['x-static']).toBe('plain-value');
		// `tenant` was not given: the credential property's default was applied, as n8n does.
		expect(received[0].url).toBe('/tasks/task-1?tenant=default-tenant');
	});

	it('calls a function authenticate', async () => {
		const run = await runWorkflow(
			httpWorkflow('fakeFnApi'),
			{ nodeName: 'Fetch', items: items({ id: 'x' }) },
			types({ fakeFnApi: { token: 't0k', baseUrl } }),
		);
		expect(run.error).toBeUndefined();
		expect(received[0].headers['x-fn-token']).toBe('fn:t0k');
		expect(received[0].headers['x-api-key']).toBeUndefined();
	});

	it('an HTTP error surfaces as a NodeApiError on the node (default settings)', async () => {
		const run = await runWorkflow(
			httpWorkflow('fakeApi'),
			{ nodeName: 'Fetch', items: items({ id: 'missing' }) },
			types({ fakeApi: { apiKey: 'k-123', baseUrl } }),
		);
		expect(run.status).toBe('error');
		expect(run.error?.name).toBe('NodeApiError');
		expect(run.nodeError('Fetch')).toMatchObject({ name: 'NodeApiError', httpCode: '404' });
		expect(received[0].headers['x-api-key']).toBe('k-123');
	});

	it('reports a missing credential on the node, not as a harness crash', async () => {
		const run = await runWorkflow(
			httpWorkflow('fakeApi'),
			{ nodeName: 'Fetch', items: items({ id: 'x' }) },
			types(),
		);
		expect(run.status).toBe('error');
		expect(run.nodeError('Fetch')?.message).toMatch(/no credential data for type "fakeApi"/);
		expect(received).toHaveLength(0);
	});
});

describe('engine harness: node errors and On Error settings (handled by n8n-core)', () => {
	const input = () => items({ id: 1, route: 'b' }, { id: 2, fail: true }, { id: 3, route: 'c' });
	const failingWorkflow = (extra: Partial<INode>) => ({
		nodes: [node('Fail', FAILING, extra), node('After', NOOP)],
		connections: connect([['Fail', 0, 'After']]),
	});

	it('default settings: the run fails with the NodeOperationError', async () => {
		const run = await runWorkflow(
			failingWorkflow({}),
			{ nodeName: 'Fail', items: input() },
			types(),
		);
		expect(run.status).toBe('error');
		expect(run.error?.name).toBe('NodeOperationError');
		expect(run.error?.message).toBe('Item 1 failed');
		expect(run.nodeError('Fail')?.message).toBe('Item 1 failed');
		expect(run.outputs('Fail')).toEqual([]); // no data on a failed task
		expect(run.executedNodes).toEqual(['Fail']);
	});

	it("onError 'continueErrorOutput': n8n moves items with `error` to output 3 (= number of outputs)", async () => {
		const run = await runWorkflow(
			failingWorkflow({ onError: 'continueErrorOutput' }),
			{ nodeName: 'Fail', items: input() },
			types(),
		);
		expect(run.error).toBeUndefined();
		expect(run.status).toBe('success');
		const outputs = run.outputs('Fail');
		expect(outputs).toHaveLength(4);
		expect(outputs[0]).toEqual([]); // the node put the failed item here; n8n moved it
		expect(outputs[1].map((i) => i.json.id)).toEqual([1]);
		expect(outputs[2].map((i) => i.json.id)).toEqual([3]);
		expect(outputs[3]).toHaveLength(1);
		// n8n replaced the item's json by { error: message } (the node's json is gone).
		expect(outputs[3][0].json).toEqual({ error: 'Item 1 failed' });
		expect(outputs[3][0].error?.message).toBe('Item 1 failed');
		expect(outputs[3][0].pairedItem).toEqual({ item: 1 });
		// Output 0 was empty, so the node connected to it did not run.
		expect(run.executedNodes).toEqual(['Fail']);
	});

	it("onError 'continueRegularOutput': the error item stays on output 0, json replaced by { error }", async () => {
		const run = await runWorkflow(
			failingWorkflow({ onError: 'continueRegularOutput' }),
			{ nodeName: 'Fail', items: input() },
			types(),
		);
		expect(run.error).toBeUndefined();
		const outputs = run.outputs('Fail');
		expect(outputs).toHaveLength(3);
		expect(outputs[0]).toHaveLength(1);
		expect(outputs[0][0].json).toEqual({ error: 'Item 1 failed' });
		expect(outputs[0][0].error?.message).toBe('Item 1 failed');
		expect(outputs[1].map((i) => i.json.id)).toEqual([1]);
		expect(outputs[2].map((i) => i.json.id)).toEqual([3]);
		expect(run.executedNodes).toEqual(['Fail', 'After']);
		expect(run.outputs('After')[0].map((i) => i.json)).toEqual([{ error: 'Item 1 failed' }]);
	});

	it('legacy continueOnFail: true behaves like continueRegularOutput', async () => {
		const run = await runWorkflow(
			failingWorkflow({ continueOnFail: true }),
			{ nodeName: 'Fail', items: input() },
			types(),
		);
		expect(run.error).toBeUndefined();
		expect(run.outputs('Fail')[0].map((i) => i.json)).toEqual([{ error: 'Item 1 failed' }]);
	});

	it.each(['continueRegularOutput', 'continueErrorOutput'] as const)(
		"onError '%s' with a node that throws: n8n passes the whole input, unchanged, to output 0",
		async (onError) => {
			const run = await runWorkflow(
				failingWorkflow({ onError, parameters: { throwAlways: true } }),
				{ nodeName: 'Fail', items: input() },
				types(),
			);
			expect(run.error).toBeUndefined();
			expect(run.status).toBe('success');
			// The task records the error, yet the run succeeds and the data flows on.
			expect(run.nodeError('Fail')?.message).toBe('Item 1 failed');
			const outputs = run.outputs('Fail');
			expect(outputs).toHaveLength(1); // only output 0, no error output even for continueErrorOutput
			expect(outputs[0].map((i) => i.json)).toEqual(input().map((i) => i.json));
			expect(run.executedNodes).toEqual(['Fail', 'After']);
		},
	);

	it('retryOnFail is honoured by the engine', async () => {
		const run = await runWorkflow(
			{
				nodes: [
					node('Flaky', FLAKY, {
						retryOnFail: true,
						maxTries: 3,
						waitBetweenTries: 10,
						parameters: { failTimes: 2 },
					}),
				],
				connections: {},
			},
			{ nodeName: 'Flaky', items: items({ id: 1 }) },
			types(),
		);
		expect(run.error).toBeUndefined();
		expect(run.outputs('Flaky')[0][0].json).toEqual({ id: 1, calls: 3 });

		resetFlakyCalls();
		const noRetry = await runWorkflow(
			{ nodes: [node('Flaky', FLAKY, { parameters: { failTimes: 2 } })], connections: {} },
			{ nodeName: 'Flaky', items: items({ id: 1 }) },
			types(),
		);
		expect(noRetry.error?.message).toBe('flaky failure #1');
		expect(flakyCalls).toBe(1);
	});
});

describe('engine harness: cancellation', () => {
	const sleeperWorkflow = {
		nodes: [node('Sleep', SLEEPER), node('Next', NOOP)],
		connections: connect([['Sleep', 0, 'Next']]),
	};

	it('aborting the signal cancels the execution; the node sees getExecutionCancelSignal()', async () => {
		const controller = new AbortController();
		const started = Date.now();
		setTimeout(() => controller.abort(), 300);
		const run = await runWorkflow(
			sleeperWorkflow,
			{ nodeName: 'Sleep', items: items({ id: 1 }) },
			types(),
			{
				signal: controller.signal,
			},
		);
		const elapsed = Date.now() - started;

		expect(elapsed).toBeLessThan(1500); // the node alone would sleep 5 s
		expect(run.cancelled).toBe(true);
		expect(run.timedOut).toBe(false);
		expect(run.abandoned).toBe(false);
		expect(run.status).toBe('canceled');
		expect(run.error?.name).toBe('ManualExecutionCancelledError');
		// The node returned early; n8n recorded its output but did not start the next node.
		const naps = run.outputs('Sleep')[0][0].json.naps as number;
		expect(naps).toBeGreaterThan(0);
		expect(naps).toBeLessThan(50);
		expect(run.executedNodes).toEqual(['Sleep']);
	});

	it('timeoutMs cancels too, with a TimeoutExecutionCancelledError', async () => {
		const started = Date.now();
		const run = await runWorkflow(
			sleeperWorkflow,
			{ nodeName: 'Sleep', items: items({ id: 1 }) },
			types(),
			{
				timeoutMs: 300,
			},
		);
		expect(Date.now() - started).toBeLessThan(1500);
		expect(run.timedOut).toBe(true);
		expect(run.status).toBe('canceled');
		expect(run.error?.name).toBe('TimeoutExecutionCancelledError');
	});

	it('an already aborted signal runs nothing', async () => {
		const run = await runWorkflow(
			sleeperWorkflow,
			{ nodeName: 'Sleep', items: items({ id: 1 }) },
			types(),
			{
				signal: AbortSignal.abort(),
			},
		);
		expect(run.status).toBe('canceled');
		expect(run.executedNodes).toEqual([]);
	});

	it('a node that ignores cancellation is abandoned after cancelGraceMs instead of hanging', async () => {
		const started = Date.now();
		const run = await runWorkflow(
			{ nodes: [node('Stuck', STUCK)], connections: {} },
			{ nodeName: 'Stuck', items: items({ id: 1 }) },
			types(),
			{ timeoutMs: 200, cancelGraceMs: 200 },
		);
		expect(Date.now() - started).toBeLessThan(1500);
		expect(run.abandoned).toBe(true);
		expect(run.timedOut).toBe(true);
		expect(run.status).toBe('canceled');
		expect(run.error?.name).toBe('TimeoutExecutionCancelledError');
		expect(run.executedNodes).toEqual(['Stuck']);
		releaseStuck?.();
	});
});
