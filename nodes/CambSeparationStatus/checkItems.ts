/**
 * Runs one execution. Every input item becomes one job: follow its task (once, or until done),
 * then, for finished tasks, fetch the result links and download the stems. All jobs run at
 * once under the request cap; each item leaves on exactly one output, in input order, paired
 * with the item it came from.
 */
import type {
	IBinaryKeyData,
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
} from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { classifyAnswer, excerpt, type ClassifyOptions } from './classifyStatus';
import { DEFAULTS, OUTPUT, SWITCH_DEFAULTS } from './description';
import {
	followTask,
	type Clock,
	type FollowSettings,
	type Followed,
	type Progress,
} from './followTask';
import { pause } from './pause';
import { fetchResultUrls, NoResultLinks, type ResultUrls } from './results';
import { downloadStems, type StemProperties } from './stems';
import { adaptForTool, isToolMode } from './toolMode';
import {
	cancelledError,
	CREDENTIAL_TYPE,
	createCambClient,
	isCancelled,
	NotChecked,
	type CambClient,
} from './transport';
import { checkBaseUrl, checkTaskId, statusPath } from './validate';

interface Settings extends ClassifyOptions {
	maxInFlight: number;
	attempts: number;
	timeoutSeconds: number;
	follow: FollowSettings;
	fetchResultUrls: boolean;
	downloadStems: boolean;
	stemProperties: StemProperties;
}

type NodeError = NodeApiError | NodeOperationError;

/** What became of one item so far: its followed task (and what was fetched for it), or an error. */
interface Checked {
	taskId: string;
	followed: Followed;
	urls?: ResultUrls;
	binary?: IBinaryKeyData;
}
type Outcome = Checked | { error: NodeError };

export async function checkItems(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	if (items.length === 0) return [[], [], []];

	const settings = adaptForTool(ctx, readSettings(ctx));
	const taskIds = items.map((_, index) => readTaskId(ctx, index));
	// As a tool, an item's error is an answer for the model (toolMode.ts), never a stopped run.
	const continueOnFail = ctx.continueOnFail() || isToolMode(ctx);
	const client = await connect(ctx, settings, continueOnFail);

	// Under "Stop Workflow" one bad item ends the run: fail before sending anything.
	if (!continueOnFail) throwFirstError([...taskIds, client]);

	const outcomes: Outcome[] = await Promise.all(
		items.map(async (item, index): Promise<Outcome> => {
			const taskId = taskIds[index];
			if (typeof taskId !== 'string') return { error: taskId };
			if (client instanceof NodeOperationError) return { error: itemError(ctx, client, index) };
			return await guard(ctx, client, index, continueOnFail, async () => ({
				taskId,
				followed: await follow(ctx, client, index, taskId, progressOf(item.json, taskId), settings),
			}));
		}),
	);
	if (client instanceof NodeOperationError) return route(items, outcomes);
	settle(ctx, outcomes, continueOnFail);

	if (settings.fetchResultUrls) await addResultUrls(ctx, client, outcomes, continueOnFail);
	if (settings.fetchResultUrls && settings.downloadStems) {
		await Promise.all(
			outcomes.map(async (outcome, index) => {
				if ('error' in outcome || !outcome.urls) return;
				const downloaded = await guard(ctx, client, index, continueOnFail, async () => ({
					...outcome,
					binary: await downloadStems(
						ctx,
						client,
						index,
						outcome.urls as ResultUrls,
						settings.stemProperties,
					),
				}));
				outcomes[index] = downloaded;
			}),
		);
	}

	settle(ctx, outcomes, continueOnFail);
	return route(items, outcomes);
}

/** Ends the run after a phase if it must: canceled (whatever On Error says), or an error under Stop Workflow. */
function settle(ctx: IExecuteFunctions, outcomes: Outcome[], continueOnFail: boolean): void {
	if (isCancelled(ctx)) throw cancelledError(ctx);
	if (!continueOnFail)
		throwFirstError(outcomes.map((outcome) => ('error' in outcome ? outcome.error : undefined)));
}

/** Runs one step of one item; an error becomes that item's outcome and, under Stop Workflow, stops the rest. */
async function guard(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	continueOnFail: boolean,
	step: () => Promise<Checked>,
): Promise<Outcome> {
	try {
		return await step();
	} catch (error) {
		return failItem(ctx, client, index, continueOnFail, error);
	}
}

/** An item's error becomes its outcome; under Stop Workflow it also stops every request still to come. */
function failItem(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	continueOnFail: boolean,
	error: unknown,
): Outcome {
	if (!continueOnFail) client.stop(index);
	return { error: asNodeError(ctx, error, index) };
}

/** Checks one task as often as the settings say: once, or until done when waiting. */
async function follow(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	taskId: string,
	progress: Progress,
	settings: Settings,
): Promise<Followed> {
	const signal = ctx.getExecutionCancelSignal();
	const clock: Clock = {
		now: () => Date.now(),
		sleep: async (ms) => await pause(ms, signal),
		random: Math.random,
	};
	return await followTask(
		async () => {
			// While waiting, a 429 is the wait loop's business: it slows this task down instead of failing it.
			const answer = await client.request(index, {
				method: 'GET',
				path: statusPath(taskId),
				answers: settings.follow.wait ? [404, 422, 429] : [404, 422],
			});
			if (answer.statusCode === 429) return { rateLimitedForMs: answer.retryAfterMs ?? 0 };
			const verdict = classifyAnswer(answer, settings);
			if (verdict.route === 'invalid') throw new NotAStatus(verdict.problem);
			return { verdict };
		},
		progress,
		settings.follow,
		clock,
	);
}

/** Adds the stem links to finished tasks; a run CAMB does not know turns the item into a Failure. */
async function addResultUrls(
	ctx: IExecuteFunctions,
	client: CambClient,
	outcomes: Outcome[],
	continueOnFail: boolean,
): Promise<void> {
	const runs = outcomes.flatMap((outcome, itemIndex) =>
		'error' in outcome ||
		outcome.followed.verdict.route !== 'success' ||
		outcome.followed.verdict.runId === undefined
			? []
			: [{ itemIndex, runId: outcome.followed.verdict.runId }],
	);
	if (runs.length === 0) return;
	const results = await fetchResultUrls(client, runs);
	for (const [index, result] of results) {
		const outcome = outcomes[index] as Checked;
		if ('urls' in result) outcome.urls = result.urls;
		else if ('verdict' in result)
			outcome.followed = { ...outcome.followed, verdict: result.verdict };
		else outcomes[index] = failItem(ctx, client, index, continueOnFail, result.error);
	}
}

/** Raised for a 200 whose body is no status; becomes a NodeApiError naming the item. */
class NotAStatus {
	constructor(readonly problem: string) {}
}

function readSettings(ctx: IExecuteFunctions): Settings {
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

function readTaskId(ctx: IExecuteFunctions, index: number): string | NodeOperationError {
	const checked = checkTaskId(ctx.getNodeParameter('taskId', index, undefined));
	if (checked.ok) return checked.value;
	return new NodeOperationError(ctx.getNode(), `The task ID of item ${index} ${checked.problem}`, {
		itemIndex: index,
		description:
			'Pass the task_id that CAMB.AI returned when the audio was submitted, e.g. {{ $json.task_id }}.',
	});
}

/**
 * What an item brought from earlier checks of the same task (a polling loop). Only trusted when
 * the item's task_id is the task being checked, so a recycled item does not inherit a count.
 */
function progressOf(json: IDataObject, taskId: string): Progress {
	if (String(json.task_id) !== taskId) return { checkCount: 0 };
	const count = json.check_count;
	const since = json.pending_since;
	return {
		checkCount: typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 ? count : 0,
		pendingSince: typeof since === 'string' && !Number.isNaN(Date.parse(since)) ? since : undefined,
	};
}

/** The client for this execution, or the reason none can exist (a bad base URL stops every item). */
async function connect(
	ctx: IExecuteFunctions,
	settings: Settings,
	continueOnFail: boolean,
): Promise<CambClient | NodeOperationError> {
	const credentials = await ctx.getCredentials(CREDENTIAL_TYPE);
	const baseUrl = checkBaseUrl(credentials.baseUrl);
	if (!baseUrl.ok) {
		return new NodeOperationError(
			ctx.getNode(),
			`The Base URL of the "CAMB.AI API" credential ${baseUrl.problem}`,
		);
	}
	return createCambClient(ctx, baseUrl.value, {
		timeoutMs: settings.timeoutSeconds * 1000,
		maxAttempts: settings.attempts,
		maxInFlight: settings.maxInFlight,
		stopOnFirstError: !continueOnFail,
	});
}

/** Throws the first error by item order, skipping items that were only left unchecked because of it. */
function throwFirstError(candidates: Array<unknown>): void {
	const errors = candidates.filter(
		(candidate) => candidate instanceof NodeApiError || candidate instanceof NodeOperationError,
	);
	const first = errors.find((error) => !(error instanceof NotChecked)) ?? errors[0];
	if (first) throw first;
}

function itemError(
	ctx: IExecuteFunctions,
	shared: NodeOperationError,
	index: number,
): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), shared.message, { itemIndex: index });
}

function asNodeError(ctx: IExecuteFunctions, error: unknown, index: number): NodeError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (error instanceof NotAStatus) {
		return new NodeApiError(
			ctx.getNode(),
			{ problem: error.problem },
			{
				message: `CAMB.AI's answer for item ${index} is not a task status`,
				description: `Expected a status such as "SUCCESS" or {"status": "SUCCESS", ...}, but ${error.problem}. Check the Base URL of the credential.`,
				itemIndex: index,
			},
		);
	}
	if (error instanceof NoResultLinks) {
		return new NodeApiError(
			ctx.getNode(),
			{ body: excerpt(error.body) },
			{
				message: `CAMB.AI's result for item ${index} has no usable stem links`,
				description: `Expected foreground_audio_url and background_audio_url as http(s) links, but got: ${excerpt(error.body)}`,
				itemIndex: index,
			},
		);
	}
	return new NodeOperationError(ctx.getNode(), error as Error, { itemIndex: index });
}

function route(items: INodeExecutionData[], outcomes: Outcome[]): INodeExecutionData[][] {
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
	outcome: Checked,
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

/** Under On Error "Continue": n8n shows the error on the item, or moves it to the error output. */
function errorItem(input: INodeExecutionData, index: number, error: NodeError): INodeExecutionData {
	return { ...withInput(input, index, { ...input.json, error: error.message }), error };
}

function withInput(
	input: INodeExecutionData,
	index: number,
	json: IDataObject,
): INodeExecutionData {
	const item: INodeExecutionData = { json, pairedItem: { item: index } };
	if (input.binary) item.binary = input.binary;
	return item;
}
