/**
 * Runs one execution of Camb Separate Audio: every item's file is found and checked first (so
 * under Stop Workflow a bad item uploads nothing), then all files upload side by side under the
 * request cap and rate control, and each item leaves with the task_id CAMB.AI gave its file, in
 * input order, paired with the item it came from.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	asNodeError,
	cancelledError,
	forItem,
	noTaskId,
	throwFirstError,
	type NodeError,
} from '../shared/errors';
import { errorItem, withInput } from '../shared/items';
import { isPlainObject, parseJson } from '../shared/json';
import { connect, isCancelled, type CambClient, type FilePart } from '../shared/transport';
import { DEFAULTS } from './description';
import { inputFile } from './inputFile';

const SUBMIT_PATH = '/audio-separation';

interface Settings {
	attempts: number;
	checkFormat: boolean;
	keepBinary: boolean;
	maxInFlight: number;
	retryIfMayHaveArrived: boolean;
	timeoutSeconds: number;
}

interface Submitted {
	taskId: string;
	submittedAt: string;
	file: FilePart;
}
type Outcome = Submitted | { error: NodeError };

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
	if (!continueOnFail) throwFirstError([...files, client]);

	const outcomes = await Promise.all(
		items.map(async (_, index): Promise<Outcome> => {
			const file = files[index];
			if (file instanceof NodeOperationError) return { error: file };
			if (client instanceof NodeOperationError) return { error: forItem(ctx, client, index) };
			try {
				return await submit(ctx, client, index, file, settings);
			} catch (error) {
				if (!continueOnFail) client.stop(index);
				return { error: asNodeError(ctx, error, index) };
			}
		}),
	).finally(() => {
		if (!(client instanceof NodeOperationError)) client.close();
	});
	if (isCancelled(ctx)) throw cancelledError(ctx);
	if (!continueOnFail) throwLosingNoTask(outcomes);

	return [
		outcomes.map((outcome, index) =>
			'error' in outcome
				? errorItem(items[index], index, outcome.error)
				: submittedItem(items[index], index, outcome, properties[index], settings.keepBinary),
		),
	];
}

async function submit(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	file: FilePart,
	settings: Settings,
): Promise<Submitted> {
	const answer = await client.upload(index, {
		path: SUBMIT_PATH,
		fields: projectFields(ctx, index),
		file,
		retryIfMayHaveArrived: settings.retryIfMayHaveArrived,
	});
	const taskId = readTaskId(answer.body);
	if (taskId === undefined) throw noTaskId(ctx, index, file.fileName, answer.body);
	return { taskId, submittedAt: new Date().toISOString(), file };
}

/**
 * Under Stop Workflow the run ends with the first error; the tasks other items already created
 * are named in it, so no paid task is lost from sight.
 */
function throwLosingNoTask(outcomes: Outcome[]): void {
	const errors = outcomes.map((outcome) => ('error' in outcome ? outcome.error : undefined));
	const created = outcomes.flatMap((outcome, index) =>
		'taskId' in outcome ? [`item ${index}: ${outcome.taskId}`] : [],
	);
	if (created.length > 0) {
		const tasks = ` Tasks created before the run stopped (check them with Camb Separation Status): ${created.join(', ')}.`;
		for (const error of errors)
			if (error) error.description = `${error.description ?? ''}${tasks}`.trim();
	}
	throwFirstError(errors);
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
		file_name: submitted.file.fileName,
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

/** CAMB.AI answers {"task_id": "..."}; a number is taken as its text. */
function readTaskId(body: string): string | undefined {
	const parsed = parseJson(body);
	if (!parsed.ok || !isPlainObject(parsed.value)) return undefined;
	const id = parsed.value.task_id;
	if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
	return typeof id === 'string' && id.trim() ? id.trim() : undefined;
}

function readSettings(ctx: IExecuteFunctions): Settings {
	const options = ctx.getNodeParameter('options', 0, {}) as IDataObject;
	const number = (name: 'attempts' | 'maxInFlight' | 'timeoutSeconds') => {
		const value = options[name];
		return typeof value === 'number' && Number.isFinite(value) && value >= 1
			? Math.floor(value)
			: DEFAULTS[name];
	};
	const flag = (name: 'checkFormat' | 'keepBinary' | 'retryIfMayHaveArrived') =>
		typeof options[name] === 'boolean' ? (options[name] as boolean) : DEFAULTS[name];
	return {
		attempts: number('attempts'),
		checkFormat: flag('checkFormat'),
		keepBinary: flag('keepBinary'),
		maxInFlight: number('maxInFlight'),
		retryIfMayHaveArrived: flag('retryIfMayHaveArrived'),
		timeoutSeconds: number('timeoutSeconds'),
	};
}

function binaryProperty(ctx: IExecuteFunctions, index: number): string {
	const value = ctx.getNodeParameter('binaryPropertyName', index, 'data');
	return typeof value === 'string' && value.trim() ? value.trim() : 'data';
}

/** CAMB.AI's optional form fields, per item (they may be expressions); empty ones are left out. */
function projectFields(ctx: IExecuteFunctions, index: number): Record<string, string> {
	const extra = ctx.getNodeParameter('additionalFields', index, {}) as IDataObject;
	const fields: Record<string, string> = {};
	const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
	if (text(extra.projectName)) fields.project_name = text(extra.projectName);
	if (text(extra.projectDescription)) fields.project_description = text(extra.projectDescription);
	if (
		typeof extra.folderId === 'number' &&
		Number.isSafeInteger(extra.folderId) &&
		extra.folderId > 0
	)
		fields.folder_id = String(extra.folderId);
	return fields;
}
