/**
 * Shapes what leaves the node: each input item, in input order, on the output its outcome
 * decides, with the check's fields added and `pairedItem` pointing back at it; and the notice
 * for a setting of n8n's that would put an item on Success that no task earned.
 */
import type {
	IBinaryKeyData,
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
} from 'n8n-workflow';

import type { NodeError } from '../shared/errors';
import { errorItem, withInput } from '../shared/items';
import { OUTPUT } from './description';
import type { Followed } from './followTask';
import type { ResultUrls } from '../shared/transport/cambApi';

/** What became of one item so far: its followed task (and what was fetched for it). */
export interface ItemResult {
	taskId: string;
	followed: Followed;
	urls?: ResultUrls;
	binary?: IBinaryKeyData;
}
/** An item's result, or the error that ended it. */
export type Outcome = ItemResult | { error: NodeError };

export function route(items: INodeExecutionData[], outcomes: Outcome[]): INodeExecutionData[][] {
	const outputs: INodeExecutionData[][] = [[], [], []];
	outcomes.forEach((outcome, index) => {
		const input = items[index];
		if ('error' in outcome) outputs[OUTPUT.failure].push(errorItem(input, index, outcome.error));
		else outputs[OUTPUT[outcome.followed.verdict.route]].push(resultItem(input, index, outcome));
	});
	return outputs;
}

/**
 * Shown in the output pane when the node's "Always Output Data" setting is on and no task
 * finished while others left on Pending or Failure: n8n then adds an empty item to the first
 * output, Success (checked in n8n 1.123 and 2.41), which a Write File or a notification after
 * Success would take for a finished separation. The node cannot stop n8n from adding it.
 */
export const ALWAYS_OUTPUT_DATA_NOTICE =
	'"Always Output Data" is on, so n8n adds an empty item to Success when no task finished, even though items left on Pending or Failure. That item has no task_id: turn the setting off (the three outputs already account for every item), or check task_id after Success.';

export function noticeAlwaysOutputData(
	ctx: IExecuteFunctions,
	outputs: INodeExecutionData[][],
): void {
	const others = outputs.some((output, index) => index !== OUTPUT.success && output.length > 0);
	if (ctx.getNode().alwaysOutputData === true && outputs[OUTPUT.success].length === 0 && others)
		ctx.addExecutionHints({
			message: ALWAYS_OUTPUT_DATA_NOTICE,
			type: 'warning',
			location: 'outputPane',
		});
}

function resultItem(
	input: INodeExecutionData,
	index: number,
	outcome: ItemResult,
): INodeExecutionData {
	const { verdict, checkCount, pendingSince, nextCheckInMs, checkedAt } = outcome.followed;
	const json: IDataObject = { ...input.json, task_id: outcome.taskId, status: verdict.status };
	if (verdict.runId !== undefined) json.run_id = verdict.runId;
	json.checked_at = checkedAt;
	json.check_count = checkCount;
	json.pending_since = pendingSince;
	if (verdict.route === 'pending')
		json.next_check_in_seconds = Math.max(1, Math.round((nextCheckInMs ?? 0) / 1000));
	else delete json.next_check_in_seconds;
	if (verdict.route === 'failure') {
		json.reason = verdict.reason;
		json.message = verdict.message;
		json.retryable = verdict.retryable;
	}
	if (outcome.urls) Object.assign(json, outcome.urls);
	const item = withInput(input, index, json);
	if (outcome.binary) item.binary = { ...input.binary, ...outcome.binary };
	return item;
}
