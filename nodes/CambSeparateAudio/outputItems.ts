/**
 * Shapes what leaves the node: each input item, in input order, with the task CAMB.AI made for
 * its file (or its error), paired with the item it came from; and, under Stop Workflow, the one
 * error that ends the run, naming the tasks other items already created.
 */
import type { IDataObject, INode, INodeExecutionData } from 'n8n-workflow';

import { throwFirstError, type NodeError } from '../shared/errors';
import { errorItem, withInput } from '../shared/items';

/** An item whose file CAMB.AI took. */
export interface Submitted {
	taskId: string;
	submittedAt: string;
	fileName: string;
}
/** What became of one item: its task, or the error that ended it. */
export type Outcome = Submitted | { error: NodeError };

export function outputItems(
	items: INodeExecutionData[],
	outcomes: Outcome[],
	properties: string[],
	keepBinary: boolean,
): INodeExecutionData[][] {
	return [
		outcomes.map((outcome, index) =>
			'error' in outcome
				? errorItem(items[index], index, outcome.error)
				: submittedItem(items[index], index, outcome, properties[index], keepBinary),
		),
	];
}

function submittedItem(
	input: INodeExecutionData,
	index: number,
	submitted: Submitted,
	property: string,
	keepBinary: boolean,
): INodeExecutionData {
	const json: IDataObject = {
		...input.json,
		task_id: submitted.taskId,
		submitted_at: submitted.submittedAt,
		file_name: submitted.fileName,
	};
	const item = withInput(input, index, json);
	if (!keepBinary && item.binary) {
		const rest = { ...item.binary };
		delete rest[property];
		if (Object.keys(rest).length > 0) item.binary = rest;
		else delete item.binary;
	}
	return item;
}

/**
 * Under Stop Workflow the run ends with the first error; the tasks other items already created
 * are named in it, so no paid task is lost from sight.
 */
export function throwNamingTasks(node: INode, outcomes: Outcome[]): void {
	const errors = outcomes.map((outcome) => ('error' in outcome ? outcome.error : undefined));
	const created = outcomes.flatMap((outcome, index) =>
		'taskId' in outcome ? [`item ${index}: ${outcome.taskId}`] : [],
	);
	if (created.length > 0) {
		const tasks = ` Tasks created before the run stopped (check them with Camb Separation Status): ${created.join(', ')}.`;
		for (const error of errors)
			if (error) error.description = `${error.description ?? ''}${tasks}`.trim();
	}
	throwFirstError(node, errors);
}
