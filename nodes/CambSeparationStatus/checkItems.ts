/**
 * Runs one execution. Every input item becomes one job: follow its task (once, or until done),
 * then, for finished tasks, fetch the result links and download the stems. All jobs run at
 * once under the request cap; each item leaves on exactly one output, in input order, paired
 * with the item it came from.
 */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import {
	CambError,
	cancelledError,
	noResultLinks,
	notAStatus,
	throwFirstError,
	toNodeError,
} from '../shared/errors';
import { pause } from '../shared/pause';
import { connect, isCancelled, type CambClient } from '../shared/transport';
import { getStatus, type ResultUrls } from '../shared/transport/cambApi';
import { classifyAnswer } from './classifyStatus';
import { followTask, type Clock, type Followed, type Progress } from './followTask';
import { noticeAlwaysOutputData, route, type ItemResult, type Outcome } from './outputItems';
import { fetchResultUrls } from './results';
import { progressOf, readSettings, readTaskId, type Settings } from './settings';
import { downloadStems } from './stems';
import { adaptForTool, isToolMode } from './toolMode';

export async function checkItems(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	if (items.length === 0) return [[], [], []];

	const settings = adaptForTool(ctx, readSettings(ctx));
	const taskIds = items.map((_, index) => readTaskId(ctx, index));
	// As a tool, an item's error is an answer for the model (toolMode.ts), never a stopped run.
	const continueOnFail = ctx.continueOnFail() || isToolMode(ctx);
	const client = await connect(ctx, settings, continueOnFail);

	// Under "Stop Workflow" one bad item ends the run: fail before sending anything.
	if (!continueOnFail) throwFirstError(ctx.getNode(), [...taskIds, client]);

	let outputs: INodeExecutionData[][];
	if (client instanceof CambError) {
		const failed = taskIds.map(
			(taskId, index): Outcome => ({
				// Every item gets the shared error, attached to it (n8n shows it on that item).
				error: toNodeError(ctx.getNode(), typeof taskId === 'string' ? client : taskId, index),
			}),
		);
		outputs = route(items, failed);
	} else {
		try {
			outputs = await checkAll(ctx, client, items, taskIds, settings, continueOnFail);
		} finally {
			client.close();
		}
	}
	// A tool answers on output 0 alone (toolMode.ts): n8n's setting means nothing there.
	if (!isToolMode(ctx)) noticeAlwaysOutputData(ctx, outputs);
	return outputs;
}

/** Follows every task, then fetches result links and stems for those that finished. */
async function checkAll(
	ctx: IExecuteFunctions,
	client: CambClient,
	items: INodeExecutionData[],
	taskIds: Array<string | CambError>,
	settings: Settings,
	continueOnFail: boolean,
): Promise<INodeExecutionData[][]> {
	const outcomes: Outcome[] = await Promise.all(
		items.map(async (item, index): Promise<Outcome> => {
			const taskId = taskIds[index];
			if (typeof taskId !== 'string') return { error: toNodeError(ctx.getNode(), taskId) };
			return await guard(ctx, client, index, continueOnFail, async () => ({
				taskId,
				followed: await follow(ctx, client, index, taskId, progressOf(item.json, taskId), settings),
			}));
		}),
	);
	endPhase(ctx, outcomes, continueOnFail);

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

	endPhase(ctx, outcomes, continueOnFail);
	return route(items, outcomes);
}

/** Ends the run after a phase if it must: cancelled (whatever On Error says), or an error under Stop Workflow. */
function endPhase(ctx: IExecuteFunctions, outcomes: Outcome[], continueOnFail: boolean): void {
	if (isCancelled(ctx)) throw cancelledError();
	if (!continueOnFail)
		throwFirstError(
			ctx.getNode(),
			outcomes.map((outcome) => ('error' in outcome ? outcome.error : undefined)),
		);
}

/** Runs one step of one item; an error becomes that item's outcome and, under Stop Workflow, stops the rest. */
async function guard(
	ctx: IExecuteFunctions,
	client: CambClient,
	index: number,
	continueOnFail: boolean,
	step: () => Promise<ItemResult>,
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
	if (!continueOnFail) client.itemFailed(index);
	return { error: toNodeError(ctx.getNode(), error, index) };
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
			const answer = await getStatus(client, index, taskId, settings.follow.wait);
			if (answer.statusCode === 429) return { rateLimitedForMs: answer.retryAfterMs ?? 0 };
			const verdict = classifyAnswer(answer, settings);
			if (verdict.route === 'invalid') throw notAStatus(index, verdict.problem);
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
		const outcome = outcomes[index] as ItemResult;
		if ('urls' in result) outcome.urls = result.urls;
		else if ('verdict' in result)
			outcome.followed = { ...outcome.followed, verdict: result.verdict };
		else {
			const error = 'noLinks' in result ? noResultLinks(index, result.noLinks) : result.error;
			outcomes[index] = failItem(ctx, client, index, continueOnFail, error);
		}
	}
}
