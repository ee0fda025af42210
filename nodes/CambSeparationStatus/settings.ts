/**
 * Reads what one execution needs from the node's parameters: the settings (options with their
 * defaults, the three switches, tool-mode overrides applied by the caller), each item's task id,
 * and what an item brought from earlier checks of the same task.
 */
import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { badTaskId, type CambError } from '../shared/errors';
import { readOptions } from '../shared/options';
import { checkTaskId } from '../shared/validate';
import type { ClassifyOptions } from './classifyStatus';
import { DEFAULTS, SWITCH_DEFAULTS } from './description';
import type { FollowSettings, Progress } from './followTask';
import type { StemProperties } from './stems';

export interface Settings extends ClassifyOptions {
	maxInFlight: number;
	attempts: number;
	timeoutSeconds: number;
	follow: FollowSettings;
	fetchResultUrls: boolean;
	downloadStems: boolean;
	stemProperties: StemProperties;
}

export function readSettings(ctx: IExecuteFunctions): Settings {
	const options = readOptions(ctx, DEFAULTS);
	const switchOn = (name: keyof typeof SWITCH_DEFAULTS) =>
		ctx.getNodeParameter(name, 0, SWITCH_DEFAULTS[name]) as boolean;
	return {
		maxInFlight: options.number('maxInFlight', 1),
		attempts: options.number('attempts', 1),
		timeoutSeconds: options.number('timeoutSeconds', 1),
		notFoundAsPending: options.flag('notFoundAsPending'),
		unknownStatusAsPending: options.flag('unknownStatusAsPending'),
		follow: {
			wait: switchOn('waitForCompletion'),
			firstIntervalMs: options.number('firstIntervalSeconds', 1) * 1000,
			maxIntervalMs: options.number('maxIntervalSeconds', 1) * 1000,
			maxWaitMs: options.number('maxWaitSeconds', 1) * 1000,
			maxChecks: options.number('maxChecks', 0, 'whole'),
		},
		fetchResultUrls: switchOn('fetchResultUrls'),
		downloadStems: switchOn('downloadStems'),
		stemProperties: {
			foreground: options.text('foregroundProperty'),
			background: options.text('backgroundProperty'),
		},
	};
}

export function readTaskId(ctx: IExecuteFunctions, index: number): string | CambError {
	const checked = checkTaskId(ctx.getNodeParameter('taskId', index, undefined));
	return checked.ok ? checked.value : badTaskId(index, checked.problem);
}

/**
 * What an item brought from earlier checks of the same task (a polling loop). Only trusted when
 * the item's task_id is the task being checked, so a recycled item does not inherit a count.
 */
export function progressOf(json: IDataObject, taskId: string): Progress {
	if (String(json.task_id) !== taskId) return { checkCount: 0 };
	const count = json.check_count;
	const since = json.pending_since;
	return {
		checkCount: typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 ? count : 0,
		pendingSince: typeof since === 'string' && !Number.isNaN(Date.parse(since)) ? since : undefined,
	};
}
