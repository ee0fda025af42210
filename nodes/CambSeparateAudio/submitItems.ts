/**
 * Runs one execution of Camb Separate Audio: every item's file is found and checked first (so
 * under Stop Workflow a bad item uploads nothing), then all files upload side by side under the
 * request cap and rate control, and each item leaves with the task_id CAMB.AI gave its file, in
 * input order, paired with the item it came from.
 */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import {
	CambError,
	cancelledError,
	noTaskId,
	throwFirstError,
	toNodeError,
} from '../shared/errors';
import { connect, isCancelled, type CambClient } from '../shared/transport';
import { submitSeparation, type AudioUpload } from '../shared/transport/cambApi';
import { inputFile } from './inputFile';
import { outputItems, throwNamingTasks, type Outcome, type Submitted } from './outputItems';
import { binaryProperty, projectFields, readSettings, type Settings } from './settings';

export async function submitItems(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	if (items.length === 0) return [[]];
	const settings = readSettings(ctx);
	const continueOnFail = ctx.continueOnFail();
	const properties = items.map((_, index) => binaryProperty(ctx, index));
	const files = await Promise.all(
		items.map(
			async (item, index) => await inputFile(ctx, item, index, properties[index], settings),
		),
	);
	const client = await connect(ctx, settings, continueOnFail);
	// Under "Stop Workflow" one bad item ends the run: fail before uploading anything.
	if (!continueOnFail) throwFirstError(ctx.getNode(), [...files, client]);

	const outcomes = await Promise.all(
		items.map(async (_, index): Promise<Outcome> => {
			const file = files[index];
			if (file instanceof CambError) return { error: toNodeError(ctx.getNode(), file) };
			if (client instanceof CambError) return { error: toNodeError(ctx.getNode(), client, index) };
			try {
				return await submit(ctx, client, index, file, settings);
			} catch (error) {
				if (!continueOnFail) client.itemFailed(index);
				return { error: toNodeError(ctx.getNode(), error, index) };
			}
		}),
	).finally(() => {
		if (!(client instanceof CambError)) client.close();
	});
	if (isCancelled(ctx)) throw cancelledError();
	if (!continueOnFail) throwNamingTasks(ctx.getNode(), outcomes);
	return outputItems(items, outcomes, properties, settings.keepBinary);
}

async function submit(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	file: AudioUpload,
	settings: Settings,
): Promise<Submitted> {
	const submitted = await submitSeparation(client, index, {
		file,
		fields: projectFields(ctx, index),
		retryIfMayHaveArrived: settings.retryIfMayHaveArrived,
	});
	if ('noTaskId' in submitted) throw noTaskId(index, file.fileName, submitted.noTaskId);
	return {
		taskId: submitted.taskId,
		submittedAt: new Date().toISOString(),
		fileName: file.fileName,
	};
}
