import type { INodeProperties } from 'n8n-workflow';

/** Output order is part of the node's contract: workflows connect to these indexes. */
export const OUTPUT = { success: 0, pending: 1, failure: 2 } as const;

/** The option defaults the node applies; the literals below must match (a test checks). */
export const DEFAULTS = {
	maxInFlight: 5,
	attempts: 3,
	timeoutSeconds: 30,
	notFoundAsPending: false,
	unknownStatusAsPending: false,
};

export const properties: INodeProperties[] = [
	{
		displayName: 'Task ID',
		name: 'taskId',
		type: 'string',
		default: '={{ $json.task_id }}',
		required: true,
		description:
			'The task_id CAMB.AI returned when the audio was submitted. The default reads it from the incoming item, so the node works right after the submit step and in a loop fed by its own Pending output.',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options: [
			{
				displayName: 'Attempts per Check',
				name: 'attempts',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 10 },
				default: 3,
				description:
					'How often one status request is tried when CAMB.AI is busy (429), failing (5xx) or unreachable, with growing pauses in between. A Retry-After from CAMB.AI sets the pause.',
			},
			{
				displayName: 'Max Requests in Flight',
				name: 'maxInFlight',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 50 },
				default: 5,
				description: 'How many items are checked at the same time. Raise it for large batches, lower it if CAMB.AI answers 429.',
			},
			{
				displayName: 'Not Found Means Pending',
				name: 'notFoundAsPending',
				type: 'boolean',
				default: false,
				description:
					'Whether a task CAMB.AI does not know (404) goes to Pending instead of Failure. Turn on when tasks are checked moments after they were submitted.',
			},
			{
				displayName: 'Request Timeout (Seconds)',
				name: 'timeoutSeconds',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 300 },
				default: 30,
				description: 'How long one request may go without an answer before it counts as failed and is tried again',
			},
			{
				displayName: 'Unknown Status Means Pending',
				name: 'unknownStatusAsPending',
				type: 'boolean',
				default: false,
				description:
					'Whether a status this node does not know goes to Pending instead of Failure (reason UNKNOWN_STATUS)',
			},
		],
	},
];
