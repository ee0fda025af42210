/**
 * The workflow that uploads files from disk in real n8n: Manual Trigger → Read/Write Files from
 * Disk → Camb Separate Audio, optionally → Camb Separation Status. Shared by the end-to-end
 * test of the submit node and the upload memory benchmark.
 */
import {
	CREDENTIAL,
	STATUS_NODE_NAME,
	STATUS_NODE_TYPE,
	SUBMIT_NODE_NAME,
	SUBMIT_NODE_TYPE,
} from '../fixtures/package';
import type { Json } from './n8n';

export const READ_NODE = 'Read files';

interface UploadWorkflowSpec {
	name: string;
	/** What the Read node reads: a path or a glob. */
	fileSelector: string;
	/** The Read node's output field, default "data". */
	readInto?: string;
	/** Camb Separate Audio's parameters beside the binary field (Additional Fields, Options). */
	submit?: Json;
	/** Camb Separation Status after the upload. */
	withStatus?: boolean;
	/** Camb Separate Audio's On Error setting; default n8n's (stop the workflow). */
	onError?: 'continueRegularOutput' | 'continueErrorOutput';
}

export function uploadWorkflow(spec: UploadWorkflowSpec): Json {
	const nodes: Json[] = [
		{
			id: 'upload-trigger',
			name: 'When clicking ‘Execute workflow’',
			type: 'n8n-nodes-base.manualTrigger',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		},
		{
			id: 'upload-read',
			name: READ_NODE,
			type: 'n8n-nodes-base.readWriteFile',
			typeVersion: 1,
			position: [220, 0],
			parameters: {
				operation: 'read',
				fileSelector: spec.fileSelector,
				options: spec.readInto ? { dataPropertyName: spec.readInto } : {},
			},
		},
		{
			id: 'upload-submit',
			name: SUBMIT_NODE_NAME,
			type: SUBMIT_NODE_TYPE,
			typeVersion: 1,
			position: [440, 0],
			parameters: { binaryPropertyName: 'data', options: {}, ...spec.submit },
			credentials: { cambAiApi: CREDENTIAL },
			...(spec.onError ? { onError: spec.onError } : {}),
		},
	];
	if (spec.withStatus)
		nodes.push({
			id: 'upload-status',
			name: STATUS_NODE_NAME,
			type: STATUS_NODE_TYPE,
			typeVersion: 1,
			position: [660, 0],
			parameters: { fetchResultUrls: false },
			credentials: { cambAiApi: CREDENTIAL },
		});
	const connections: Json = {};
	for (let i = 0; i < nodes.length - 1; i++)
		connections[nodes[i].name] = {
			main: [[{ node: nodes[i + 1].name, type: 'main', index: 0 }]],
		};
	return { name: spec.name, nodes, connections, settings: { executionOrder: 'v1' } };
}
