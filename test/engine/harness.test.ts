import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { NodeConnectionTypes, NodeOperationError, sleep } from 'n8n-workflow';
import type {
	IBinaryData,
	ICredentialType,
	IDataObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	IN8nHttpFullResponse,
	INode,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
	IConnections,
} from 'n8n-workflow';

import {
	checkStreamPattern,
	startStandIn,
	streamPattern,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	binaryDataFilePath,
	binaryDataStoragePath,
	binaryDataStream,
	disposeHarness,
	harnessUserFolder,
	runWorkflow,
} from './harness';
import type { HarnessTypes } from './harness';

// -----------------------------------------------------------------------------------------------
// Fake node types (defined here on purpose: they exercise the engine, not our real node)
// -----------------------------------------------------------------------------------------------

const ROUTER = 'test.router';
const NOOP = 'test.noop';
const HTTP = 'test.http';
const FAILING = 'test.failing';
const SLEEPER = 'test.sleeper';
const STUCK = 'test.stuck';
const FLAKY = 'test.flaky';
const REQUIRED = 'test.required';
const DOWNLOAD = 'test.download';

const base = (name: string, outputs: number): INodeTypeDescription => ({
	displayName: name,
	name,
	group: ['transform'],
	version: 1,
	description: name,
	defaults: { name },
	inputs: [NodeConnectionTypes.Main],
	outputs: Array.from({ length: outputs }, () => NodeConnectionTypes.Main),
	properties: [],
});

/** Routes each item by `json.route` ('a' | 'b' | 'c') to output 0 / 1 / 2. */
const routerNode: INodeType = {
	description: { ...base(ROUTER, 3), outputNames: ['A', 'B', 'C'] },
	async execute(this: IExecuteFunctions) {
		const out: INodeExecutionData[][] = [[], [], []];
		this.getInputData().forEach((item, i) => {
			const index = { a: 0, b: 1, c: 2 }[String(item.json.route)] ?? 0;
			out[index].push({ json: { ...item.json, routedTo: index }, pairedItem: { item: i } });
		});
		return out;
	},
};

/** Passes its input through unchanged. */
const noopNode: INodeType = {
	description: base(NOOP, 1),
	async execute(this: IExecuteFunctions) {
		return [this.getInputData()];
	},
};

/** GETs `${baseUrl}/tasks/<taskId parameter, an expression>` with httpRequestWithAuthentication and the chosen credential. */
const httpNode: INodeType = {
	description: {
		...base(HTTP, 1),
		credentials: [
			{ name: 'fakeApi', required: true },
			{ name: 'fakeFnApi', required: false },
		],
		properties: [
			{ displayName: 'Credential', name: 'credentialType', type: 'string', default: 'fakeApi' },
			{ displayName: 'Task ID', name: 'taskId', type: 'string', default: '={{ $json.id }}' },
		],
	},
	async execute(this: IExecuteFunctions) {
		const credentialType = this.getNodeParameter('credentialType', 0) as string;
		const credentials = await this.getCredentials(credentialType);
		const out: INodeExecutionData[] = [];
		const items = this.getInputData();
		for (let i = 0; i < items.length; i++) {
			const options: IHttpRequestOptions = {
				method: 'GET',
				url: `${String(credentials.baseUrl)}/tasks/${this.getNodeParameter('taskId', i) as string}`,
				json: true,
			};
			const response = (await this.helpers.httpRequestWithAuthentication.call(
				this,
				credentialType,
				options,
			)) as IDataObject;
			out.push({ json: response, pairedItem: { item: i } });
		}
		return [out];
	},
};

/**
 * Three outputs like the router, but an item with `json.fail` is an error: when
 * this.continueOnFail() it is returned on output 0 with `error` set (the usual n8n node pattern),
 * otherwise the node throws. Parameter `throwAlways` makes it throw regardless (a node that never
 * catches).
 */
const failingNode: INodeType = {
	description: {
		...base(FAILING, 3),
		properties: [
			{ displayName: 'Throw Always', name: 'throwAlways', type: 'boolean', default: false },
		],
	},
	async execute(this: IExecuteFunctions) {
		const throwAlways = this.getNodeParameter('throwAlways', 0) as boolean;
		const out: INodeExecutionData[][] = [[], [], []];
		this.getInputData().forEach((item, i) => {
			if (item.json.fail) {
				const error = new NodeOperationError(this.getNode(), `Item ${i} failed`, { itemIndex: i });
				if (throwAlways || !this.continueOnFail()) throw error;
				out[0].push({ json: { ...item.json, note: 'kept' }, error, pairedItem: { item: i } });
				return;
			}
			const index = { a: 0, b: 1, c: 2 }[String(item.json.route)] ?? 0;
			out[index].push({ json: item.json, pairedItem: { item: i } });
		});
		return out;
	},
};

/** Sleeps 50 x 100 ms, checking the execution cancel signal between naps. */
const sleeperNode: INodeType = {
	description: base(SLEEPER, 1),
	async execute(this: IExecuteFunctions) {
		let naps = 0;
		for (; naps < 50; naps++) {
			if (this.getExecutionCancelSignal()?.aborted) break;
			await sleep(100);
		}
		return [
			this.getInputData().map((item, i) => ({
				json: { ...item.json, naps },
				pairedItem: { item: i },
			})),
		];
	},
};

/** Ignores cancellation entirely: waits until the test releases it. */
let releaseStuck: (() => void) | undefined;
const stuckNode: INodeType = {
	description: base(STUCK, 1),
	async execute(this: IExecuteFunctions) {
		await new Promise<void>((resolve) => {
			releaseStuck = resolve;
		});
		return [this.getInputData()];
	},
};

/** Fails the first `failTimes` executions (counted per test via flakyCalls), then succeeds. */
let flakyCalls = 0;
const flakyNode: INodeType = {
	description: {
		...base(FLAKY, 1),
		properties: [{ displayName: 'Fail Times', name: 'failTimes', type: 'number', default: 1 }],
	},
	async execute(this: IExecuteFunctions) {
		flakyCalls++;
		if (flakyCalls <= (this.getNodeParameter('failTimes', 0) as number)) {
			throw new NodeOperationError(this.getNode(), `flaky failure #${flakyCalls}`);
		}
		return [this.getInputData().map((item) => ({ json: { ...item.json, calls: flakyCalls } }))];
	},
};

/** Has a required parameter: without it n8n refuses to start the workflow. */
const requiredNode: INodeType = {
	description: {
		...base(REQUIRED, 1),
		properties: [
			{ displayName: 'Must', name: 'must', type: 'string', required: true, default: '' },
		],
	},
	async execute(this: IExecuteFunctions) {
		return [this.getInputData()];
	},
};

/**
 * Downloads `json.url` as a stream (no credentials, like a pre-signed storage URL) and hands the
 * stream to prepareBinaryData: the calls the real node makes for a stem.
 */
const downloadNode: INodeType = {
	description: base(DOWNLOAD, 1),
	async execute(this: IExecuteFunctions) {
		const out: INodeExecutionData[] = [];
		const items = this.getInputData();
		for (let i = 0; i < items.length; i++) {
			const response = (await this.helpers.httpRequest({
				method: 'GET',
				url: String(items[i].json.url),
				encoding: 'stream',
				returnFullResponse: true,
			})) as IN8nHttpFullResponse;
			const binary = await this.helpers.prepareBinaryData(
				response.body as Readable,
				'x.flac',
				'audio/flac',
			);
			out.push({
				json: { statusCode: response.statusCode },
				binary: { data: binary },
				pairedItem: { item: i },
			});
		}
		return [out];
	},
};

const fakeApi: ICredentialType = {
	name: 'fakeApi',
	displayName: 'Fake API',
	properties: [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
		{ displayName: 'Tenant', name: 'tenant', type: 'string', default: 'default-tenant' },
		{ displayName: 'Base URL', name: 'baseUrl', type: 'string', default: 'http://invalid.example' },
	],
	authenticate: {
		type: 'generic',
		properties: {
			headers: {
				'x-api-key': '={{$credentials.apiKey}}',
				Authorization: '=Bearer {{ $credentials.apiKey }}',
				'x-static': 'plain-value',
			},
			qs: { tenant: '={{ $credentials.tenant }}' },
		},
	},
};

const fakeFnApi: ICredentialType = {
	name: 'fakeFnApi',
	displayName: 'Fake API (function auth)',
	properties: [
		{ displayName: 'Token', name: 'token', type: 'string', default: '' },
		{ displayName: 'Base URL', name: 'baseUrl', type: 'string', default: '' },
	],
	authenticate: async (credentials, requestOptions) => ({
		...requestOptions,
		headers: { ...requestOptions.headers, 'x-fn-token': `fn:${String(credentials.token)}` },
	}),
};

const types = (credentials: HarnessTypes['credentials'] = {}): HarnessTypes => ({
	nodeTypes: {
		[ROUTER]: routerNode,
		[NOOP]: noopNode,
		[HTTP]: httpNode,
		[FAILING]: failingNode,
		[SLEEPER]: sleeperNode,
		[STUCK]: stuckNode,
		[FLAKY]: flakyNode,
		[REQUIRED]: requiredNode,
		[DOWNLOAD]: downloadNode,
	},
	credentialTypes: { fakeApi, fakeFnApi },
	credentials,
});

// -----------------------------------------------------------------------------------------------
// Workflow JSON helpers
// -----------------------------------------------------------------------------------------------

let position = 0;
const node = (name: string, type: string, extra: Partial<INode> = {}): INode => ({
	id: `id-${name}`,
	name,
	type,
	typeVersion: 1,
	position: [(position += 200), 0],
	parameters: {},
	...extra,
});

/** connections from `from` output `outputIndex` to `to` input 0 */
const connect = (pairs: Array<[from: string, outputIndex: number, to: string]>): IConnections => {
	const connections: IConnections = {};
	for (const [from, outputIndex, to] of pairs) {
		connections[from] ??= { main: [] };
		const main = connections[from].main;
		while (main.length <= outputIndex) main.push([]);
		main[outputIndex]!.push({ node: to, type: NodeConnectionTypes.Main, index: 0 });
	}
	return connections;
};

const items = (...jsons: IDataObject[]): INodeExecutionData[] => jsons.map((json) => ({ json }));

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
	flakyCalls = 0;
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

		flakyCalls = 0;
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

describe('engine harness: binary data modes', () => {
	const MB = 1024 * 1024;
	let storage: StandIn;

	beforeAll(async () => {
		storage = await startStandIn();
	});
	afterEach(() => storage.reset());
	afterAll(() => storage.close());

	const downloadWorkflow = (id = 'binary-wf') => ({
		id,
		nodes: [node('Download', DOWNLOAD)],
		connections: {},
	});
	const download = (url: string, binaryDataMode?: 'default' | 'filesystem', id?: string) =>
		runWorkflow(downloadWorkflow(id), { nodeName: 'Download', items: items({ url }) }, types(), {
			...(binaryDataMode && { binaryDataMode }),
		});
	const stem = (bytes: number, path = '/bucket/task-1/fg_audio.flac') => {
		storage.on('GET', path, { stream: { bytes, contentType: 'audio/flac' } });
		return storage.baseUrl + path + '?X-Amz-Signature=abc';
	};

	/** Streams a binary's content through the stand-in's pattern check. */
	async function checkContent(stream: Readable) {
		const check = checkStreamPattern();
		for await (const chunk of stream) check.update(chunk as Buffer);
		return { bytes: check.bytes, firstMismatch: check.firstMismatch };
	}

	const filesUnder = (dir: string): string[] =>
		existsSync(dir)
			? readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
					entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
				)
			: [];

	it("'filesystem': the streamed download lands in a file; the item holds its id and no content", async () => {
		const bytes = 3 * MB + 7;
		const run = await download(stem(bytes), 'filesystem');
		expect(run.error).toBeUndefined();
		expect(run.binaryDataMode).toBe('filesystem');

		const [item] = run.outputs('Download')[0];
		expect(item.json).toEqual({ statusCode: 200 });
		const binary = item.binary!.data;
		expect(binary.id).toMatch(
			new RegExp(
				`^filesystem-v2:workflows/binary-wf/executions/${run.executionId}/binary_data/[0-9a-f-]{36}$`,
			),
		);
		// `data` is only the mode's name: the content is not in the item.
		expect(binary.data).toBe('filesystem-v2');
		expect(binary).toMatchObject({
			fileName: 'x.flac',
			mimeType: 'audio/flac',
			fileExtension: 'flac',
			fileType: 'audio',
			fileSize: '3.15 MB',
		});

		const file = binaryDataFilePath(binary);
		expect(file.startsWith(join(harnessUserFolder, '.n8n', 'binaryData') + '/')).toBe(true);
		expect(file.startsWith(binaryDataStoragePath)).toBe(true);
		expect(statSync(file).size).toBe(bytes);
		expect(JSON.parse(readFileSync(`${file}.metadata`, 'utf8'))).toEqual({
			fileName: 'x.flac',
			mimeType: 'audio/flac',
			fileSize: bytes,
		});
		expect(await checkContent(createReadStream(file))).toEqual({ bytes, firstMismatch: undefined });
		expect(await checkContent(await binaryDataStream(binary))).toEqual({
			bytes,
			firstMismatch: undefined,
		});

		run.deleteBinaryData();
		expect(existsSync(file)).toBe(false);
	});

	it("'default' (and no option): the whole content is inline, base64, and nothing is written to disk", async () => {
		const bytes = 1 * MB + 3;
		const url = stem(bytes);
		for (const mode of ['default', undefined] as const) {
			const before = filesUnder(binaryDataStoragePath);
			const run = await download(url, mode, `default-wf-${String(mode)}`);
			expect(run.error).toBeUndefined();
			expect(run.binaryDataMode).toBe('default');
			const binary: IBinaryData = run.outputs('Download')[0][0].binary!.data;
			expect(binary.id).toBeUndefined();
			expect(binary).toMatchObject({
				fileName: 'x.flac',
				mimeType: 'audio/flac',
				fileSize: '1.05 MB',
			});
			const content = Buffer.from(binary.data, 'base64');
			expect(content.length).toBe(bytes);
			expect(content.equals(streamPattern(0, bytes))).toBe(true);
			expect(await checkContent(await binaryDataStream(binary))).toEqual({
				bytes,
				firstMismatch: undefined,
			});
			expect(() => binaryDataFilePath(binary)).toThrow(/inline/);
			expect(filesUnder(binaryDataStoragePath)).toEqual(before);
		}
	});

	it('switches modes between runs, and a file stored earlier stays readable in default mode', async () => {
		const url = stem(100_000);
		const stored = await download(url, 'filesystem');
		const inline = await download(url, 'default');
		const storedAgain = await download(url, 'filesystem');
		const binary = (run: typeof stored) => run.outputs('Download')[0][0].binary!.data;
		expect(binary(stored).id).toBeDefined();
		expect(binary(inline).id).toBeUndefined();
		expect(binary(storedAgain).id).toBeDefined();
		expect(binary(storedAgain).id).not.toBe(binary(stored).id);
		expect(await checkContent(await binaryDataStream(binary(stored)))).toEqual({
			bytes: 100_000,
			firstMismatch: undefined,
		});
	});

	it("'filesystem' writes the body to disk as it arrives: half a stalled body is already in the file", async () => {
		// Its own storage host, closed mid-download to end the stalled request.
		const stalling = await startStandIn();
		const bytes = 8 * MB;
		stalling.on('GET', '/bucket/stall/fg_audio.flac', { stream: { bytes }, fault: 'stall' });
		const folder = join(binaryDataStoragePath, 'workflows', 'stall-wf');
		const running = download(
			`${stalling.baseUrl}/bucket/stall/fg_audio.flac`,
			'filesystem',
			'stall-wf',
		);
		try {
			const deadline = Date.now() + 5000;
			let sizes: number[] = [];
			while (Date.now() < deadline) {
				sizes = filesUnder(folder).map((file) => statSync(file).size);
				if (sizes.includes(bytes / 2)) break;
				await sleep(20);
			}
			// The node is still waiting for the second half, and the first half is on disk.
			expect(sizes).toEqual([bytes / 2]);
			const [file] = filesUnder(folder);
			expect(await checkContent(createReadStream(file))).toEqual({
				bytes: bytes / 2,
				firstMismatch: undefined,
			});
		} finally {
			await stalling.close();
		}
		// The storage host went away mid-body: the download fails, as it would in n8n.
		const run = await running;
		expect(run.status).toBe('error');
		expect(run.nodeError('Download')?.message).toMatch(/aborted/);
	});

	it('runs that overlap must share the mode (n8n-core has one BinaryDataService per process)', async () => {
		storage.on('GET', '/slow.flac', { stream: { bytes: 1000 }, delayMs: 300 });
		const slowUrl = `${storage.baseUrl}/slow.flac`;
		const first = download(slowUrl, 'filesystem');
		await expect(download(slowUrl, 'default')).rejects.toThrow(
			/'default' requested while a run in 'filesystem' mode/,
		);
		const second = download(slowUrl, 'filesystem');
		const runs = await Promise.all([first, second]);
		for (const run of runs) expect(run.outputs('Download')[0][0].binary!.data.id).toBeDefined();
		// Once they are done, the other mode is fine again.
		expect(
			(await download(slowUrl, 'default')).outputs('Download')[0][0].binary!.data.id,
		).toBeUndefined();
		await expect(download(slowUrl, 's3' as 'default')).rejects.toThrow(
			/unknown binaryDataMode "s3"/,
		);
	});
});
