/**
 * What the engine harness's own tests (harness*.test.ts) run: small node types with one job each
 * (route, fail, sleep, hang, fail a few times, download), two fake credential types, and builders
 * for nodes, connections and items.
 */
import type { Readable } from 'node:stream';

import { NodeConnectionTypes, NodeOperationError, sleep } from 'n8n-workflow';
import type {
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

import type { HarnessTypes } from './harness';

// -----------------------------------------------------------------------------------------------
// Fake node types (defined here on purpose: they exercise the engine, not our real node)
// -----------------------------------------------------------------------------------------------

export const ROUTER = 'test.router';
export const NOOP = 'test.noop';
export const HTTP = 'test.http';
export const FAILING = 'test.failing';
export const SLEEPER = 'test.sleeper';
export const STUCK = 'test.stuck';
export const FLAKY = 'test.flaky';
export const REQUIRED = 'test.required';
export const DOWNLOAD = 'test.download';

export const base = (name: string, outputs: number): INodeTypeDescription => ({
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
export let releaseStuck: (() => void) | undefined;
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
export let flakyCalls = 0;
/** Starts the count again: before each test, and inside a test that runs the flaky node twice. */
export function resetFlakyCalls(): void {
	flakyCalls = 0;
}
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

export const fakeApi: ICredentialType = {
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

export const fakeFnApi: ICredentialType = {
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

export const types = (credentials: HarnessTypes['credentials'] = {}): HarnessTypes => ({
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
export const node = (name: string, type: string, extra: Partial<INode> = {}): INode => ({
	id: `id-${name}`,
	name,
	type,
	typeVersion: 1,
	position: [(position += 200), 0],
	parameters: {},
	...extra,
});

/** connections from `from` output `outputIndex` to `to` input 0 */
export const connect = (
	pairs: Array<[from: string, outputIndex: number, to: string]>,
): IConnections => {
	const connections: IConnections = {};
	for (const [from, outputIndex, to] of pairs) {
		connections[from] ??= { main: [] };
		const main = connections[from].main;
		while (main.length <= outputIndex) main.push([]);
		main[outputIndex]!.push({ node: to, type: NodeConnectionTypes.Main, index: 0 });
	}
	return connections;
};

export const items = (...jsons: IDataObject[]): INodeExecutionData[] =>
	jsons.map((json) => ({ json }));
