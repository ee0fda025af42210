/**
 * The shipped examples, made startable in queue mode: `n8n execute` ignores queue mode, so the
 * Manual Trigger becomes a Webhook (POST, answers at once, the execution goes to the queue) and
 * the task ids come from the request body. Everything after that is the example as shipped,
 * except what a test overrides and says why.
 */
import { loadExample, nodeNamed, withLocalFiles, type Json } from '../e2e/n8n';
import { STATUS_NODE_NAME } from '../fixtures/package';

export const WAIT_NODE = 'Wait before next check';
/** The example's last node: both stems are on disk, and still on its item as binary data. */
export const STEMS_WRITTEN_NODE = 'Write background stem';

/** Replaces the example's Manual Trigger (its first node) with a Webhook trigger at `webhookPath`. */
function withWebhookTrigger(workflow: Json, webhookPath: string): Json {
	const trigger = workflow.nodes[0];
	if (trigger.type !== 'n8n-nodes-base.manualTrigger')
		throw new Error(`${workflow.name}: the first node is ${trigger.type}, not a Manual Trigger`);
	workflow.nodes[0] = {
		id: trigger.id,
		name: 'Webhook',
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2,
		position: trigger.position,
		webhookId: `camb-queue-${webhookPath}`,
		parameters: { httpMethod: 'POST', path: webhookPath, responseMode: 'onReceived', options: {} },
	};
	workflow.connections.Webhook = workflow.connections[trigger.name];
	delete workflow.connections[trigger.name];
	workflow.name = `${workflow.name} (${webhookPath})`;
	return workflow;
}

/** poll-until-done.json, triggered by POST {"tasks": [{"task_id": "…"}, …]}: one item per task. */
export function pollWorkflow(webhookPath: string): Json {
	const workflow = withWebhookTrigger(loadExample('poll-until-done.json'), webhookPath);
	const taskId = nodeNamed(workflow, 'Task ID');
	// The example's "Task ID" node holds one placeholder id; here the ids come from the request.
	Object.assign(taskId, {
		type: 'n8n-nodes-base.splitOut',
		typeVersion: 1,
		parameters: { fieldToSplitOut: 'body.tasks', include: 'noOtherFields', options: {} },
	});
	delete taskId.notes;
	return workflow;
}

/** The body that starts pollWorkflow() for these tasks. */
export const tasksBody = (taskIds: string[]) => ({
	tasks: taskIds.map((task_id) => ({ task_id })),
});

/** Sets options of the status node (merged into what the example has). */
export function withStatusOptions(workflow: Json, options: Json, parameters: Json = {}): Json {
	const node = nodeNamed(workflow, STATUS_NODE_NAME);
	Object.assign(node.parameters, parameters);
	node.parameters.options = { ...node.parameters.options, ...options };
	return workflow;
}

/** Sets the loop's Wait node to a fixed number of seconds. */
export function withLoopWait(workflow: Json, seconds: number): Json {
	nodeNamed(workflow, WAIT_NODE).parameters.amount = seconds;
	return workflow;
}

/**
 * submit-wait-and-download-stems.json reading its audio from `files` and writing the stems there
 * (n8n must be allowed that folder: N8N_RESTRICT_FILE_ACCESS_TO), and after the stems are written:
 * a Wait long enough to park the execution, then two Crypto nodes that hash the stems. Those read
 * the binary data on whatever worker resumes the execution.
 */
export function stemsThenParkWorkflow(
	webhookPath: string,
	files: { folder: string; audioFile: string },
	parkSeconds: number,
): Json {
	const workflow = withWebhookTrigger(
		withLocalFiles(loadExample('submit-wait-and-download-stems.json'), files),
		webhookPath,
	);
	const hash = (stem: 'foreground' | 'background', x: number) => ({
		id: `camb-queue-hash-${stem}`,
		name: `Hash ${stem}`,
		type: 'n8n-nodes-base.crypto',
		typeVersion: 1,
		position: [x, stem === 'foreground' ? -60 : 140],
		parameters: {
			action: 'hash',
			type: 'SHA256',
			binaryData: true,
			binaryPropertyName: stem,
			dataPropertyName: `${stem}_sha256`,
			encoding: 'hex',
		},
	});
	workflow.nodes.push(
		{
			id: 'camb-queue-park',
			name: 'Park',
			type: 'n8n-nodes-base.wait',
			typeVersion: 1.1,
			position: [1400, 40],
			webhookId: 'camb-queue-park',
			parameters: { resume: 'timeInterval', amount: parkSeconds, unit: 'seconds' },
		},
		hash('foreground', 1620),
		hash('background', 1620),
	);
	workflow.connections[STEMS_WRITTEN_NODE] = {
		main: [[{ node: 'Park', type: 'main', index: 0 }]],
	};
	// Side by side: a Crypto node's output keeps the JSON but not the binary data it hashed.
	workflow.connections.Park = {
		main: [
			[
				{ node: 'Hash foreground', type: 'main', index: 0 },
				{ node: 'Hash background', type: 'main', index: 0 },
			],
		],
	};
	return workflow;
}
