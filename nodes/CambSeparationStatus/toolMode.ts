/**
 * The node as an AI Agent's tool. n8n hands a tool's caller only output 0 (n8n-core's
 * get-input-connection-data, and the agent's buildSteps, read `[0]`), so items routed to Pending
 * or Failure would reach the model as "" or []. In tool mode every item therefore leaves on
 * output 0 as a short answer a model can act on, and a failed request is an answer too (n8n's
 * convention for tools: the model gets the error as text and can tell the user). On the canvas
 * nothing here runs.
 */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

import { checkFailed } from './classifyStatus';
import { OUTPUT } from './description';
import { cancelledError, toNodeError } from '../shared/errors';
import { isCancelled } from '../shared/transport';
import { readTaskId } from './settings';

/**
 * n8n runs a `usableAsTool` node under a derived type whose name is the node's plus "Tool"
 * (`cambSeparationStatusTool`), in both majors and on both of the agent's paths (the tool
 * invoked inside the agent, and the agent asking the engine to run it). n8n's own `@tool`
 * display option makes the same test, so the parameters shown and the behaviour agree.
 */
export function isToolMode(ctx: IExecuteFunctions): boolean {
	return ctx.getNode().type.endsWith('Tool');
}

/** The part of the node's settings tool mode decides. */
interface ToolModeSettings {
	follow: { wait: boolean };
	fetchResultUrls: boolean;
	downloadStems: boolean;
}

/**
 * A tool call checks once and replies at once: an agent cannot wait minutes, a model can do
 * nothing with binary stems (n8n drops them from a tool's answer anyway), and the pre-signed
 * links are fetched only when the user chose to give them to the model.
 */
export function adaptForTool<T extends ToolModeSettings>(ctx: IExecuteFunctions, settings: T): T {
	if (!isToolMode(ctx)) return settings;
	return {
		...settings,
		follow: { ...settings.follow, wait: false },
		fetchResultUrls: ctx.getNodeParameter('fetchResultUrls', 0, false) === true,
		downloadStems: false,
	};
}

/**
 * Runs the check as a tool: one answer per input item, in input order, all on output 0. An
 * error the check still throws (a credential that cannot be read, say) becomes every item's
 * answer; only a cancelled execution stays an error.
 */
export async function checkAsTool(
	ctx: IExecuteFunctions,
	check: (ctx: IExecuteFunctions) => Promise<INodeExecutionData[][]>,
): Promise<INodeExecutionData[][]> {
	const items = ctx.getInputData();
	let outputs: INodeExecutionData[][];
	try {
		outputs = await check(ctx);
	} catch (error) {
		if (isCancelled(ctx)) throw cancelledError();
		const shown = toNodeError(ctx.getNode(), error);
		return [items.map((_, index) => reply(index, errorReply(taskIdOf(ctx, index), shown)))];
	}
	const replies: INodeExecutionData[] = [];
	outputs.forEach((routed, output) => {
		for (const item of routed ?? []) {
			const index = itemIndexOf(item);
			replies[index] = reply(index, toReply(output, item, taskIdOf(ctx, index)));
		}
	});
	return [replies.filter((item) => item !== undefined)];
}

/** The answer for one routed item: what the model needs for its status, and nothing of the input. */
function toReply(
	output: number,
	item: INodeExecutionData,
	taskId: string | undefined,
): IDataObject {
	const json = item.json;
	// Under On Error "Continue" the check put the error on the item: still an answer for the model.
	if (item.error) return errorReply(taskId, item.error);
	const base: IDataObject = { task_id: json.task_id ?? taskId, status: json.status };
	if (output === OUTPUT.success) {
		const links =
			typeof json.foreground_audio_url === 'string' &&
			typeof json.background_audio_url === 'string';
		return {
			...base,
			...(json.run_id !== undefined ? { run_id: json.run_id } : {}),
			...(links
				? {
						foreground_audio_url: json.foreground_audio_url,
						background_audio_url: json.background_audio_url,
					}
				: {}),
			message: links
				? 'The separation is finished. foreground_audio_url is the voice stem, background_audio_url the rest; both are pre-signed links that expire, so share them as they are and soon.'
				: 'The separation is finished; both stems (voice and background) are ready in CAMB.AI. The links to them are not given to the assistant.',
		};
	}
	if (output === OUTPUT.pending) {
		const seconds =
			typeof json.next_check_in_seconds === 'number' ? json.next_check_in_seconds : undefined;
		return {
			...base,
			next_check_in_seconds: seconds,
			message: `CAMB.AI is still separating the audio. Do not check again right away: tell the user it is still running, and check again in ${seconds ?? 'a few'} seconds or later.`,
		};
	}
	return { ...base, reason: json.reason, message: json.message, retryable: json.retryable };
}

/**
 * A request that failed (rejected key, CAMB.AI unreachable, a refused task id) as an answer.
 * The message is the node's error message, which never holds the key. Thrown instead, the error
 * stopped the whole agent run in n8n 1.123 and reached the model as a bare error object in 2.41.
 */
function errorReply(taskId: string | undefined, error: unknown): IDataObject {
	const { message, description, httpCode } = error as {
		message?: unknown;
		description?: unknown;
		httpCode?: unknown;
	};
	const keyRejected = error instanceof NodeApiError && (httpCode === '401' || httpCode === '403');
	const { reason, retryable, advice } = checkFailed({
		keyRejectedWith: keyRejected ? Number(httpCode) : undefined,
		taskIdKnown: taskId !== undefined,
		requestFailed: error instanceof NodeApiError,
	});
	// The error's description is written for the workflow's owner: it is kept only where it says
	// what to fix (the key). Elsewhere it names hosts, ports and node options the model has no use for.
	const text = [message, keyRejected ? description : undefined]
		.filter((part): part is string => typeof part === 'string' && part.trim() !== '')
		.map(sentence)
		.join(' ');
	return {
		...(taskId !== undefined ? { task_id: taskId } : {}),
		status: 'CHECK_FAILED',
		reason,
		message: `${text || 'The status check failed.'} ${advice}`,
		retryable,
	};
}

/** Ends a part of a message with a full stop unless it ends with punctuation already. */
function sentence(text: string): string {
	const trimmed = text.trim();
	return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** The task id the item was checked for, if it was a valid one. */
function taskIdOf(ctx: IExecuteFunctions, index: number): string | undefined {
	try {
		const taskId = readTaskId(ctx, index);
		return typeof taskId === 'string' ? taskId : undefined;
	} catch {
		// An expression that fails (e.g. $fromAI without an answer) gives no id.
		return undefined;
	}
}

function itemIndexOf(item: INodeExecutionData): number {
	const paired = Array.isArray(item.pairedItem) ? item.pairedItem[0] : item.pairedItem;
	return typeof paired === 'object' && paired !== null
		? paired.item
		: typeof paired === 'number'
			? paired
			: 0;
}

function reply(index: number, json: IDataObject): INodeExecutionData {
	return { json, pairedItem: { item: index } };
}
