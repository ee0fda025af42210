/**
 * Output items as both nodes shape them: the input item carried on (its JSON extended, its
 * binary kept), paired with the item it came from.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import type { NodeError } from './errors';

/** Under On Error "Continue": n8n shows the error on the item, or moves it to the error output. */
export function errorItem(
	input: INodeExecutionData,
	index: number,
	error: NodeError,
): INodeExecutionData {
	return { ...withInput(input, index, { ...input.json, error: error.message }), error };
}

export function withInput(
	input: INodeExecutionData,
	index: number,
	json: IDataObject,
): INodeExecutionData {
	const item: INodeExecutionData = { json, pairedItem: { item: index } };
	if (input.binary) item.binary = input.binary;
	return item;
}
