/**
 * Camb Separate Audio's panel: every parameter and option with its default, label and help text.
 * A new option goes here and in settings.ts.
 */
import type { INodeProperties } from 'n8n-workflow';

import { optionsCollection } from '../shared/options';

/** The option defaults the node applies; the literals below must match (a test checks). */
export const DEFAULTS = {
	attempts: 3,
	checkFormat: true,
	keepBinary: false,
	maxInFlight: 4,
	retryIfMayHaveArrived: false,
	timeoutSeconds: 60,
};

export const properties: INodeProperties[] = [
	{
		displayName: 'Input Binary Field',
		name: 'binaryPropertyName',
		type: 'string',
		default: 'data',
		required: true,
		hint: 'The name of the input binary field containing the audio file to separate',
		description:
			'AAC, FLAC, MP3 or WAV. Read/Write Files from Disk and HTTP Request nodes put files in "data".',
	},
	{
		displayName: 'Additional Fields',
		name: 'additionalFields',
		type: 'collection',
		placeholder: 'Add Field',
		default: {},
		options: [
			{
				displayName: 'Folder ID',
				name: 'folderId',
				type: 'number',
				default: 0,
				description: 'The CAMB.AI folder to put the task in; 0 leaves it out',
			},
			{
				displayName: 'Project Description',
				name: 'projectDescription',
				type: 'string',
				default: '',
				description: 'Shown with the task in CAMB.AI Studio',
			},
			{
				displayName: 'Project Name',
				name: 'projectName',
				type: 'string',
				default: '',
				description: 'Shown with the task in CAMB.AI Studio',
			},
		],
	},
	optionsCollection([
		{
			displayName: 'Attempts per Upload',
			name: 'attempts',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 10 },
			default: 3,
			description:
				'How often an upload is tried when CAMB.AI cannot have taken it: the connection was refused, it broke off or stalled before the whole file was sent, or CAMB.AI answered 408 or 503. A 429 (rate limited) uses up no attempt.',
		},
		{
			displayName: 'Check File Format',
			name: 'checkFormat',
			type: 'boolean',
			default: true,
			description:
				'Whether to refuse, before uploading, files whose name or type is not AAC, FLAC, MP3 or WAV. Off lets CAMB.AI decide.',
		},
		{
			displayName: 'Keep Uploaded File',
			name: 'keepBinary',
			type: 'boolean',
			default: false,
			description:
				'Whether the uploaded file stays on the output item. Off (the default) drops it: the task has it now, and a file carried through a polling loop is stored again with every execution.',
		},
		{
			displayName: 'Max Requests in Flight',
			name: 'maxInFlight',
			type: 'number',
			typeOptions: { minValue: 1, maxValue: 50 },
			default: 4,
			description:
				'The most uploads sent at once. Uploads share your bandwidth: more at once does not finish sooner. The node also slows down by itself when CAMB.AI answers 429.',
		},
		{
			displayName: 'Request Timeout (Seconds)',
			name: 'timeoutSeconds',
			type: 'number',
			typeOptions: { minValue: 1 },
			default: 60,
			description:
				'How long an upload may go without any progress (a large file that keeps moving never times out), and then how long CAMB.AI may take to answer. A stall before the whole file is sent is retried; a time-out after it is not, unless the option below is on.',
		},
		{
			displayName: 'Retry Uploads That May Have Arrived',
			name: 'retryIfMayHaveArrived',
			type: 'boolean',
			default: false,
			description:
				'Whether to upload again after a dropped connection, a time-out or a 5xx once the whole file was sent. CAMB.AI may already have created (and billed) a task then, so this can make two tasks for one file.',
		},
	]),
];
