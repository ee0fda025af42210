/**
 * The workflows `npm run bench` (realN8n.ts) runs in real n8n: this node, the hand-built HTTP
 * Request + Switch way, Wait for Completion side by side or one by one, stems; and the
 * credentials and stand-in settings they run against.
 */

import { type Json } from '../e2e/n8n';
import { STATUS_NODE_NAME, STATUS_NODE_TYPE } from '../fixtures/package';

export const MiB = 1024 * 1024;
export type Credential = { id: string; name: string };
export const CREDENTIAL: Credential = { id: 'cambAiBench0001', name: 'CAMB.AI bench' };
/** The rate-limited stand-ins of r and w: with Retry-After: 1, and without the header. */
export const LIMITED: Credential = { id: 'cambAiBench0002', name: 'CAMB.AI bench, rate limited' };
export const LIMITED_BARE: Credential = {
	id: 'cambAiBench0003',
	name: 'CAMB.AI bench, rate limited, no Retry-After',
};
export const RATE_LIMIT = { perSecond: 20, burst: 20 };
/** The stand-in of p, answering at once. */
export const FAST: Credential = { id: 'cambAiBench0004', name: 'CAMB.AI bench, no latency' };
export const HTTP_NODE = 'Check status (HTTP Request)';
export const SWITCH_NODE = 'Route by status (Switch)';
export const LOOP_NODE = 'Loop Over Items';
/** (b): PENDING this many times, 1 s apart, then SUCCESS. */
export const WAIT_PENDING_CHECKS = 2;
export const WAIT_INTERVAL_S = 1;
export const SAMPLE_MS = 20;

// ---- workflows --------------------------------------------------------------------------------

let nodeCounter = 0;
export function node(
	name: string,
	type: string,
	typeVersion: number,
	parameters: Json,
	extra: Json = {},
): Json {
	nodeCounter += 1;
	const id = `0b3e5a7c-0000-4000-8000-${String(nodeCounter).padStart(12, '0')}`;
	return { id, name, type, typeVersion, position: [nodeCounter * 220, 200], parameters, ...extra };
}

export const trigger = () => node('Start', 'n8n-nodes-base.manualTrigger', 1, {});
export const taskIdsNode = (ids: string[]) =>
	node('Task IDs', 'n8n-nodes-base.code', 2, {
		jsCode: `return ${JSON.stringify(ids)}.map((task_id) => ({ json: { task_id } }));`,
	});
export const statusNode = (
	parameters: Json,
	credential: Credential = CREDENTIAL,
	extra: Json = {},
) =>
	node(
		STATUS_NODE_NAME,
		STATUS_NODE_TYPE,
		1,
		{ taskId: '={{ $json.task_id }}', ...parameters },
		{ credentials: { cambAiApi: credential }, ...extra },
	);
export const to = (name: string, index = 0) => ({ node: name, type: 'main', index });

export function workflow(name: string, nodes: Json[], connections: Json): Json {
	return { name, nodes, connections, settings: { executionOrder: 'v1' }, pinData: {} };
}

/** Start → Task IDs → this node, checking once. */
export function nodeCheckWorkflow(ids: string[], maxInFlight: number): Json {
	return workflow(
		`bench a: node, ${maxInFlight} in flight`,
		[trigger(), taskIdsNode(ids), statusNode({ fetchResultUrls: false, options: { maxInFlight } })],
		{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
	);
}

/** Start → Task IDs → HTTP Request (CAMB.AI API credential) → Switch on status: what users build today. */
export function httpSwitchWorkflow(
	ids: string[],
	baseUrl: string,
	credential: Credential = CREDENTIAL,
	http: { options?: Json; settings?: Json } = {},
): Json {
	const rule = (status: string) => ({
		conditions: {
			options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
			conditions: [
				{
					leftValue: '={{ $json.status }}',
					rightValue: status,
					operator: { type: 'string', operation: 'equals' },
				},
			],
			combinator: 'and',
		},
		renameOutput: true,
		outputKey: status === 'SUCCESS' ? 'Success' : 'Pending',
	});
	return workflow(
		'bench a: HTTP Request + Switch',
		[
			trigger(),
			taskIdsNode(ids),
			node(
				HTTP_NODE,
				'n8n-nodes-base.httpRequest',
				4.2,
				{
					url: `=${baseUrl}/audio-separation/{{ $json.task_id }}`,
					authentication: 'predefinedCredentialType',
					nodeCredentialType: 'cambAiApi',
					options: http.options ?? {},
				},
				{ credentials: { cambAiApi: credential }, ...(http.settings ?? {}) },
			),
			node(SWITCH_NODE, 'n8n-nodes-base.switch', 3.2, {
				rules: { values: [rule('SUCCESS'), rule('PENDING')] },
				options: { fallbackOutput: 'extra', renameFallbackOutput: 'Failure' },
			}),
		],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(HTTP_NODE)]] },
			[HTTP_NODE]: { main: [[to(SWITCH_NODE)]] },
		},
	);
}

const waitParameters = {
	waitForCompletion: true,
	fetchResultUrls: false,
	options: {
		firstIntervalSeconds: WAIT_INTERVAL_S,
		maxIntervalSeconds: WAIT_INTERVAL_S,
		maxWaitSeconds: 60,
	},
};

/** Start → Task IDs → this node with Wait for Completion: all items wait side by side. */
export function waitTogetherWorkflow(ids: string[]): Json {
	return workflow(
		'bench b: wait together',
		[trigger(), taskIdsNode(ids), statusNode(waitParameters)],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(STATUS_NODE_NAME)]] },
		},
	);
}

/** Start → Task IDs → Loop Over Items (batch size 1) ⇄ this node with Wait for Completion: one task after another. */
export function waitOneByOneWorkflow(ids: string[]): Json {
	return workflow(
		'bench b: one after another',
		[
			trigger(),
			taskIdsNode(ids),
			node(LOOP_NODE, 'n8n-nodes-base.splitInBatches', 3, { batchSize: 1, options: {} }),
			statusNode(waitParameters),
			node('All done', 'n8n-nodes-base.noOp', 1, {}),
		],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(LOOP_NODE)]] },
			[LOOP_NODE]: { main: [[to('All done')], [to(STATUS_NODE_NAME)]] },
			[STATUS_NODE_NAME]: { main: [[to(LOOP_NODE)], [to(LOOP_NODE)], [to(LOOP_NODE)]] },
		},
	);
}

/** Start → this node downloading the stems of one finished task. */
export function stemsWorkflow(taskId: string): Json {
	return workflow(
		'bench c: stems',
		[trigger(), statusNode({ taskId, fetchResultUrls: true, downloadStems: true, options: {} })],
		{
			Start: { main: [[to(STATUS_NODE_NAME)]] },
		},
	);
}
