/**
 * Reads what one execution needs from the node's parameters: the settings (options with their
 * defaults, the three switches, tool-mode overrides applied by the caller), each item's task id,
 * and what an item brought from earlier checks of the same task.
 */
import type { IDataObject, IExecuteFunctions, NodeOperationError } from 'n8n-workflow';

import { badTaskId } from '../shared/errors';
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
	const options = ctx.getNodeParameter('options', 0, {}) as IDataObject;
	const number = (name: keyof typeof DEFAULTS) => {
		const value = options[name];
		return typeof value === 'number' && Number.isFinite(value) && value >= 0
			? value
			: (DEFAULTS[name] as number);
	};
	const flag = (name: keyof typeof DEFAULTS) =>
		(options[name] as boolean | undefined) ?? (DEFAULTS[name] as boolean);
	const text = (name: keyof typeof DEFAULTS) => {
		const value = options[name];
		return typeof value === 'string' && value.trim() ? value.trim() : (DEFAULTS[name] as string);
	};
	const switchOn = (name: keyof typeof SWITCH_DEFAULTS) =>
		ctx.getNodeParameter(name, 0, SWITCH_DEFAULTS[name]) as boolean;
	return {
		maxInFlight: Math.max(1, number('maxInFlight')),
		attempts: Math.max(1, number('attempts')),
		timeoutSeconds: Math.max(1, number('timeoutSeconds')),
		notFoundAsPending: flag('notFoundAsPending'),
		unknownStatusAsPending: flag('unknownStatusAsPending'),
		follow: {
			wait: switchOn('waitForCompletion'),
			firstIntervalMs: Math.max(1, number('firstIntervalSeconds')) * 1000,
			maxIntervalMs: Math.max(1, number('maxIntervalSeconds')) * 1000,
			maxWaitMs: Math.max(1, number('maxWaitSeconds')) * 1000,
			maxChecks: Math.floor(number('maxChecks')),
		},
		fetchResultUrls: switchOn('fetchResultUrls'),
		downloadStems: switchOn('downloadStems'),
		stemProperties: {
			foreground: text('foregroundProperty'),
			background: text('backgroundProperty'),
		},
	};
}

export function readTaskId(ctx: IExecuteFunctions, index: number): string | NodeOperationError {
	const checked = checkTaskId(ctx.getNodeParameter('taskId', index, undefined));
	return checked.ok ? checked.value : badTaskId(ctx, index, checked.problem);
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
