/**
 * Camb Separation Status's panel: every parameter and option with its default, label and help
 * text, what the model fills in as a tool, and the output order. A new option goes here and in
 * settings.ts.
 */
import type { INodeProperties } from 'n8n-workflow';

import { optionsCollection } from '../shared/options';

/** Output order is part of the node's contract: workflows connect to these indexes. */
export const OUTPUT = { success: 0, pending: 1, failure: 2 } as const;

/** The option defaults the node applies; the literals below must match (a test checks). */
export const DEFAULTS = {
	attempts: 3,
	backgroundProperty: 'background',
	firstIntervalSeconds: 3,
	foregroundProperty: 'foreground',
	maxChecks: 0,
	maxInFlight: 64,
	maxIntervalSeconds: 30,
	maxWaitSeconds: 60,
	notFoundAsPending: false,
	timeoutSeconds: 30,
	unknownStatusAsPending: false,
};

/** What the model fills in as an AI Agent's tool: n8n builds the tool's input schema from it. */
export const TOOL_TASK_ID =
	"={{ $fromAI('task_id', 'The task_id CAMB.AI returned when the audio was submitted for separation', 'string') }}";

/** The tool description n8n gives the model, written for a model rather than a person on the canvas. */
export const TOOL_DESCRIPTION =
	'Checks once, without waiting, how a CAMB.AI audio separation task is doing (the task splits a recording into a voice stem and a background stem). ' +
	'Pass task_id, the id CAMB.AI returned when the audio was submitted. ' +
	'Answers JSON with status and message. ' +
	'SUCCESS: the stems are ready (run_id; links only if the workflow shares them). ' +
	'PENDING: still running; do not call again in the same reply, tell the user and check again after next_check_in_seconds or later. ' +
	'Any other status (ERROR, TIMEOUT, PAYMENT_REQUIRED, NOT_FOUND, CHECK_FAILED, ...) is a failure with reason and retryable: relay message to the user; retryable tells whether trying again may help.';

/** Defaults of the top-level switches. */
export const SWITCH_DEFAULTS = {
	waitForCompletion: false,
	fetchResultUrls: true,
	downloadStems: false,
};

export const properties: INodeProperties[] = [
	{
		displayName: 'Task ID',
		name: 'taskId',
		type: 'string',
		default: '={{ $json.task_id }}',
		required: true,
		displayOptions: { hide: { '@tool': [true] } },
		description:
			'The task_id CAMB.AI returned when the audio was submitted. The default reads it from the incoming item, so the node works right after the submit step and in a loop fed by its own Pending output.',
	},
	// As an AI Agent's tool (n8n's '@tool': the node type ending in "Tool") the model supplies the id.
	{
		displayName: 'Task ID',
		name: 'taskId',
		type: 'string',
		default: TOOL_TASK_ID,
		required: true,
		displayOptions: { show: { '@tool': [true] } },
		description:
			'The task_id to check. The default lets the AI model fill it in; replace it with an expression to decide it yourself.',
	},
	{
		displayName: 'Description',
		name: 'toolDescription',
		type: 'string',
		default: TOOL_DESCRIPTION,
		required: true,
		typeOptions: { rows: 6 },
		displayOptions: { show: { '@tool': [true] } },
		description:
			'What the AI model is told about this tool: what it does, what to pass, what comes back',
	},
	{
		displayName: 'Wait for Completion',
		name: 'waitForCompletion',
		type: 'boolean',
		default: false,
		// A tool call checks once: an agent cannot wait minutes (toolMode.ts).
		displayOptions: { hide: { '@tool': [true] } },
		description:
			'Whether to keep checking pending tasks inside this execution until they finish or "Max Wait" passes. All items wait at the same time. For waits longer than about a minute, loop through a Wait node instead.',
	},
	{
		displayName: 'Fetch Result URLs',
		name: 'fetchResultUrls',
		type: 'boolean',
		default: true,
		displayOptions: { hide: { '@tool': [true] } },
		description:
			'Whether to add foreground_audio_url and background_audio_url to finished items (one bulk request for many finished tasks)',
	},
	{
		displayName: 'Download Stems',
		name: 'downloadStems',
		type: 'boolean',
		default: false,
		displayOptions: { show: { fetchResultUrls: [true] }, hide: { '@tool': [true] } },
		description:
			'Whether to download both stems of finished items as binary data, ready for a Write File, S3 or Google Drive node',
	},
	{
		displayName: 'Give Stem Links to the Model',
		name: 'fetchResultUrls',
		type: 'boolean',
		default: false,
		displayOptions: { show: { '@tool': [true] } },
		description:
			"Whether a finished task's answer carries foreground_audio_url and background_audio_url. They are pre-signed: anyone holding them can download the stems until they expire, and the model's provider and chat memory would keep them.",
	},
	optionsCollection([
		{
			displayName: 'Attempts per Check',
			name: 'attempts',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 10 },
			default: 3,
			description:
				'How often one request is tried when CAMB.AI is failing (5xx) or unreachable, with growing pauses in between. A 429 (rate limited) uses up no attempt: every request waits out the pause CAMB.AI asks for, and only 60 s of nothing but 429s gives up.',
		},
		{
			displayName: 'Background Binary Field',
			name: 'backgroundProperty',
			type: 'string',
			default: 'background',
			// The node downloads stems only with the result links: show both names only then.
			displayOptions: { show: { '/fetchResultUrls': [true], '/downloadStems': [true] } },
			description: 'Name of the binary property that receives the background stem',
		},
		{
			displayName: 'First Interval (Seconds)',
			name: 'firstIntervalSeconds',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 3600 },
			default: 3,
			description:
				'Pause after the first pending check. Each further pause is half again as long, up to "Max Interval". Also sets next_check_in_seconds on Pending items.',
		},
		{
			displayName: 'Foreground Binary Field',
			name: 'foregroundProperty',
			type: 'string',
			default: 'foreground',
			// The node downloads stems only with the result links: show both names only then.
			displayOptions: { show: { '/fetchResultUrls': [true], '/downloadStems': [true] } },
			description: 'Name of the binary property that receives the foreground (voice) stem',
		},
		{
			displayName: 'Max Checks',
			name: 'maxChecks',
			type: 'number',
			typeOptions: { minValue: 0 },
			default: 0,
			description:
				'Stop polling a task after this many checks, counted across a loop through check_count: a task still pending then goes to Failure with reason STILL_PENDING. 0 means no limit.',
		},
		{
			displayName: 'Max Interval (Seconds)',
			name: 'maxIntervalSeconds',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 3600 },
			default: 30,
			description: 'The longest pause between two checks of the same task',
		},
		{
			displayName: 'Max Requests in Flight',
			name: 'maxInFlight',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 200 },
			default: 64,
			description:
				'The most requests sent to CAMB.AI (and, separately, to the storage host) at the same time. The node finds the rate CAMB.AI accepts by itself: it starts with a few, grows while answers come back promptly, and slows down when 429s, 503s or time-outs recur. This is only the ceiling.',
		},
		{
			displayName: 'Max Wait (Seconds)',
			name: 'maxWaitSeconds',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 3600 },
			default: 60,
			displayOptions: { show: { '/waitForCompletion': [true] } },
			description:
				'How long this execution waits at most. Tasks still pending then leave on Pending.',
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
			description:
				'How long one request may go without an answer before it counts as failed and is tried again',
		},
		{
			displayName: 'Unknown Status Means Pending',
			name: 'unknownStatusAsPending',
			type: 'boolean',
			default: false,
			description:
				'Whether a status this node does not know goes to Pending instead of Failure (reason UNKNOWN_STATUS)',
		},
	]),
];
