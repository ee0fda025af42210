/**
 * Shapes what leaves the node: each input item, in input order, on the output its outcome
 * decides, with the check's fields added and `pairedItem` pointing back at it.
 */
import type { IBinaryKeyData, IDataObject, INodeExecutionData } from 'n8n-workflow';

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
