/**
 * Runs one execution: every input item becomes one job that checks its task, all jobs run
 * at once under the request cap, and each item leaves on exactly one output, in input order,
 * paired with the item it came from.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { classifyAnswer, type ClassifyOptions, type Verdict } from './classifyStatus';
import { DEFAULTS, OUTPUT } from './description';
import { createLimiter } from './limiter';
import { CREDENTIAL_TYPE, createCambClient, type CambClient } from './transport';
import { checkBaseUrl, checkTaskId, statusPath } from './validate';

interface Settings extends ClassifyOptions {
	maxInFlight: number;
	attempts: number;
	timeoutSeconds: number;
}

type NodeError = NodeApiError | NodeOperationError;

/** What became of one item: a verdict on its task, or an error that belongs to that item. */
type Outcome = { taskId: string; verdict: Verdict; checkedAt: string } | { error: NodeError };

export async function checkItems(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	const outputs: INodeExecutionData[][] = [[], [], []];
	if (items.length === 0) return outputs;

	const settings = readSettings(ctx);
	const taskIds = items.map((_, index) => readTaskId(ctx, index));
	const client = await connect(ctx, settings);

	// Under "Stop Workflow" one bad item ends the run: fail before sending anything.
	const continueOnFail = ctx.continueOnFail();
	if (!continueOnFail) throwFirstError([...taskIds, client]);

	const outcomes = await Promise.all(
		items.map(async (_, index): Promise<Outcome> => {
			const taskId = taskIds[index];
			if (typeof taskId !== 'string') return { error: taskId };
			if (client instanceof NodeOperationError) return { error: itemError(ctx, client, index) };
			try {
				return await checkTask(client, index, taskId, settings);
			} catch (error) {
				if (!continueOnFail) client.stop(`an earlier error stopped the run (item ${index})`);
				return { error: asNodeError(ctx, error, index) };
			}
		}),
	);

	if (!continueOnFail) throwFirstError(outcomes.map((outcome) => ('error' in outcome ? outcome.error : undefined)));
	outcomes.forEach((outcome, index) => {
		const input = items[index];
		if ('error' in outcome) outputs[OUTPUT.failure].push(errorItem(input, index, outcome.error));
		else outputs[OUTPUT[outcome.verdict.route]].push(resultItem(input, index, outcome));
	});
	return outputs;
}

/** One status check of one task. The wait-until-done mode repeats this per item. */
async function checkTask(client: CambClient, index: number, taskId: string, settings: Settings): Promise<Outcome> {
	const answer = await client.request(index, { method: 'GET', path: statusPath(taskId) });
	const verdict = classifyAnswer(answer, settings);
	if (verdict.route === 'invalid') throw new NotAStatusError(index, verdict.problem);
	return { taskId, verdict, checkedAt: new Date().toISOString() };
}

/** Raised for a 200 whose body is no status; turned into a NodeApiError with the item's node. */
class NotAStatusError {
	constructor(
		readonly itemIndex: number,
		readonly problem: string,
	) {}
}

function readSettings(ctx: IExecuteFunctions): Settings {
	const options = ctx.getNodeParameter('options', 0, {}) as IDataObject;
	return {
		maxInFlight: numberOption(options.maxInFlight, DEFAULTS.maxInFlight),
		attempts: numberOption(options.attempts, DEFAULTS.attempts),
		timeoutSeconds: numberOption(options.timeoutSeconds, DEFAULTS.timeoutSeconds),
		notFoundAsPending: (options.notFoundAsPending as boolean | undefined) ?? DEFAULTS.notFoundAsPending,
		unknownStatusAsPending: (options.unknownStatusAsPending as boolean | undefined) ?? DEFAULTS.unknownStatusAsPending,
	};
}

function numberOption(value: unknown, fallback: number): number {
	return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

function readTaskId(ctx: IExecuteFunctions, index: number): string | NodeOperationError {
	const checked = checkTaskId(ctx.getNodeParameter('taskId', index, undefined));
	if (checked.ok) return checked.value;
	return new NodeOperationError(ctx.getNode(), `The task ID of item ${index} ${checked.problem}`, {
		itemIndex: index,
		description: 'Pass the task_id that CAMB.AI returned when the audio was submitted, e.g. {{ $json.task_id }}.',
	});
}

/** The client for this execution, or the reason none can exist (a bad base URL stops every item). */
async function connect(ctx: IExecuteFunctions, settings: Settings): Promise<CambClient | NodeOperationError> {
	const credentials = await ctx.getCredentials(CREDENTIAL_TYPE);
	const baseUrl = checkBaseUrl(credentials.baseUrl);
	if (!baseUrl.ok) {
		return new NodeOperationError(ctx.getNode(), `The Base URL of the "CAMB.AI API" credential ${baseUrl.problem}`);
	}
	return createCambClient(ctx, baseUrl.value, createLimiter(settings.maxInFlight), {
		timeoutMs: settings.timeoutSeconds * 1000,
		maxAttempts: settings.attempts,
	});
}

function throwFirstError(candidates: Array<unknown>): void {
	const first = candidates.find((candidate) => candidate instanceof NodeApiError || candidate instanceof NodeOperationError);
	if (first) throw first;
}

function itemError(ctx: IExecuteFunctions, shared: NodeOperationError, index: number): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), shared.message, { itemIndex: index });
}

function asNodeError(ctx: IExecuteFunctions, error: unknown, index: number): NodeError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (error instanceof NotAStatusError) {
		return new NodeApiError(ctx.getNode(), { problem: error.problem }, {
			message: `CAMB.AI's answer for item ${index} is not a task status`,
			description: `Expected a status such as "SUCCESS" or {"status": "SUCCESS", ...}, but ${error.problem}. Check the Base URL of the credential.`,
			itemIndex: index,
		});
	}
	return new NodeOperationError(ctx.getNode(), error as Error, { itemIndex: index });
}

function resultItem(
	input: INodeExecutionData,
	index: number,
	outcome: { taskId: string; verdict: Verdict; checkedAt: string },
): INodeExecutionData {
	const { verdict } = outcome;
	const json: IDataObject = { ...input.json, task_id: outcome.taskId, status: verdict.status };
	if (verdict.runId !== undefined) json.run_id = verdict.runId;
	json.checked_at = outcome.checkedAt;
	if (verdict.route === 'failure') {
		json.reason = verdict.reason;
		json.message = verdict.message;
		json.retryable = verdict.retryable;
	}
	return withInput(input, index, json);
}

/** Under On Error "Continue": n8n shows the error on the item, or moves it to the error output. */
function errorItem(input: INodeExecutionData, index: number, error: NodeError): INodeExecutionData {
	return { ...withInput(input, index, { ...input.json, error: error.message }), error };
}

function withInput(input: INodeExecutionData, index: number, json: IDataObject): INodeExecutionData {
	const item: INodeExecutionData = { json, pairedItem: { item: index } };
	if (input.binary) item.binary = input.binary;
	return item;
}
