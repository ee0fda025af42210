/**
 * Every n8n error this package raises, built in one place so they read alike: a message that
 * names the item and what was wrong, a description that says what to do, never the API key.
 * The transport's errors come first, then each node's.
 */
import type { IExecuteFunctions, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { excerpt } from './json';

export type NodeError = NodeApiError | NodeOperationError;

/** A failed HTTP attempt as error messages quote it: its status (if any) and a one-line description. */
export interface FailedRequest {
	statusCode?: number;
	problem: string;
	/** It broke off before the connection took the last byte of the request: nothing was created. */
	beforeLastByte?: true;
}

// ---- the transport ---------------------------------------------------------------------------

/** Worded as n8n words it ("canceled"): the engine recognises the word and marks the execution cancelled, not failed. */
export function cancelledError(ctx: IExecuteFunctions): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), 'The execution was canceled');
}

/** An item left unchecked because another item's error stopped the run: never the error to report. */
export class NotChecked extends NodeOperationError {}

export function notChecked(ctx: IExecuteFunctions, itemIndex: number, why: string): NotChecked {
	return new NotChecked(ctx.getNode(), `Item ${itemIndex} was not checked: ${why}`, { itemIndex });
}

/** An answer too large to be a status or a result: another attempt would get the same. */
export function oversizedAnswer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	who: string,
	statusCode: number,
	bytes: number,
	limitBytes: number,
	problem: string,
): NodeApiError {
	const limit = `${limitBytes / 1024 / 1024} MiB`;
	return new NodeApiError(ctx.getNode(), { problem } as JsonObject, {
		message: `${who}'s answer to ${label} is larger than ${limit}; the rest was not read`,
		description: `A status or result answer is a few hundred bytes; this one had at least ${bytes} bytes (HTTP ${statusCode}). Check the Base URL of the credential.`,
		httpCode: String(statusCode),
		itemIndex,
	});
}

export function keyRejected(
	ctx: IExecuteFunctions,
	itemIndex: number,
	statusCode: number,
	body: string,
): NodeApiError {
	return new NodeApiError(ctx.getNode(), { statusCode, body: excerpt(body) } as JsonObject, {
		message: `CAMB.AI rejected the API key (HTTP ${statusCode})`,
		description:
			statusCode === 401
				? 'The key in the "CAMB.AI API" credential is missing, wrong or revoked. Copy a current key from the API section of CAMB.AI Studio.'
				: 'The key is valid but not allowed to use audio separation. Check the plan and permissions of the CAMB.AI account.',
		httpCode: String(statusCode),
		itemIndex,
	});
}

/** An answer that another attempt would not change (a 400, a redirect, an expired link). */
export function unexpectedAnswer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	message: string,
	answer: { statusCode: number; problem: string },
	advice?: string,
): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem: answer.problem } as JsonObject, {
		message: message.includes(`HTTP ${answer.statusCode}`)
			? message
			: `${message} with HTTP ${answer.statusCode}`,
		description: advice ? `${answer.problem}. ${advice}` : answer.problem,
		httpCode: String(answer.statusCode),
		itemIndex,
	});
}

/** A connection failure another attempt would not cure (an unknown host, a refused URL). */
export function requestFailed(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	problem: string,
): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem } as JsonObject, {
		message: `The request ${label} failed`,
		description: problem,
		itemIndex,
	});
}

export function gaveUp(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	last: FailedRequest,
	attempts: number,
	turnedBack: number,
	startedAt: number,
	why: string,
): NodeApiError {
	const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
	const also =
		turnedBack > 0
			? ` (and ${turnedBack} more turned back with 429, or 503 while others got through, which use up no attempt)`
			: '';
	const tried = `Tried ${label} ${attempts} time${attempts === 1 ? '' : 's'}${also} over ${seconds} s; the last attempt failed with ${last.problem}.`;
	const nothingMade = last.beforeLastByte
		? ' No attempt got the whole request out, so nothing was created: running it again is safe.'
		: '';
	return new NodeApiError(ctx.getNode(), { attempts, last: last.problem } as JsonObject, {
		message: why,
		description: `${tried}${nothingMade} Raise the node's "Attempts per …" or "Request Timeout" option, or try again later.`,
		httpCode: last.statusCode === undefined ? undefined : String(last.statusCode),
		itemIndex,
	});
}

/** Throws the first error by item order, skipping items that were only left unchecked because of it. */
export function throwFirstError(candidates: Array<unknown>): void {
	const errors = candidates.filter(
		(candidate): candidate is NodeError =>
			candidate instanceof NodeApiError || candidate instanceof NodeOperationError,
	);
	const first = errors.find((error) => !(error instanceof NotChecked)) ?? errors[0];
	if (first) throw first;
}

/** The credential's Base URL cannot be used: no request is sent for any item. */
export function badBaseUrl(ctx: IExecuteFunctions, problem: string): NodeOperationError {
	return new NodeOperationError(
		ctx.getNode(),
		`The Base URL of the "CAMB.AI API" credential ${problem}`,
	);
}

/** The same error, attached to one item (n8n shows per-item errors on that item). */
export function forItem(
	ctx: IExecuteFunctions,
	shared: NodeOperationError,
	itemIndex: number,
): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), shared.message, { itemIndex });
}

/** Anything thrown that is not already an n8n error becomes one naming the item. */
export function asNodeError(ctx: IExecuteFunctions, error: unknown, itemIndex: number): NodeError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	return new NodeOperationError(ctx.getNode(), error as Error, { itemIndex });
}

// ---- Camb Separation Status -----------------------------------------------------------------

export function badTaskId(
	ctx: IExecuteFunctions,
	itemIndex: number,
	problem: string,
): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), `The task ID of item ${itemIndex} ${problem}`, {
		itemIndex,
		description:
			'Pass the task_id that CAMB.AI returned when the audio was submitted, e.g. {{ $json.task_id }}.',
	});
}

/** A 200 whose body is no task status (HTML, broken JSON, no status field). */
export function notAStatus(
	ctx: IExecuteFunctions,
	itemIndex: number,
	problem: string,
): NodeApiError {
	return new NodeApiError(
		ctx.getNode(),
		{ problem },
		{
			message: `CAMB.AI's answer for item ${itemIndex} is not a task status`,
			description: `Expected a status such as "SUCCESS" or {"status": "SUCCESS", ...}, but ${problem}. Check the Base URL of the credential.`,
			itemIndex,
		},
	);
}

export function noResultLinks(
	ctx: IExecuteFunctions,
	itemIndex: number,
	body: string,
): NodeApiError {
	return new NodeApiError(
		ctx.getNode(),
		{ body: excerpt(body) },
		{
			message: `CAMB.AI's result for item ${itemIndex} has no usable stem links`,
			description: `Expected foreground_audio_url and background_audio_url as http(s) links, but got: ${excerpt(body)}`,
			itemIndex,
		},
	);
}

// ---- Camb Separate Audio ---------------------------------------------------------------------

/** The upload failed in a way that may have created the task: it is not sent again on its own. */
export function uploadMayHaveArrived(
	ctx: IExecuteFunctions,
	itemIndex: number,
	fileName: string,
	last: FailedRequest,
): NodeApiError {
	const what =
		last.statusCode === undefined
			? 'the connection broke off or timed out after the whole file was handed to it'
			: `CAMB.AI answered HTTP ${last.statusCode} after the upload`;
	return new NodeApiError(ctx.getNode(), { problem: last.problem } as JsonObject, {
		message: `The upload of item ${itemIndex} ("${fileName}") may have reached CAMB.AI: ${what}`,
		description: `${last.problem}. CAMB.AI may have created (and billed) a task for this file. This node does not send the file again on its own, so one item never makes two tasks. Check the task list in CAMB.AI Studio before submitting it again, or turn on "Retry Uploads That May Have Arrived" to have the node retry such failures.`,
		httpCode: last.statusCode === undefined ? undefined : String(last.statusCode),
		itemIndex,
	});
}

/** CAMB.AI took the upload, but its answer carries no task id to follow. */
export function noTaskId(
	ctx: IExecuteFunctions,
	itemIndex: number,
	fileName: string,
	body: string,
): NodeApiError {
	return new NodeApiError(
		ctx.getNode(),
		{ body: excerpt(body) },
		{
			message: `CAMB.AI accepted the upload of item ${itemIndex} ("${fileName}") but its answer has no task_id`,
			description: `Expected {"task_id": "..."}, but got: ${excerpt(body)}. A task may exist: check CAMB.AI Studio before submitting again, and check the Base URL of the credential.`,
			itemIndex,
		},
	);
}

/** No file under the binary property the node reads: names the properties the item does have. */
export function noBinary(
	ctx: IExecuteFunctions,
	itemIndex: number,
	property: string,
	available: string[],
): NodeOperationError {
	const has = available.length
		? `it has ${available.map((name) => `"${name}"`).join(', ')}`
		: 'it has no binary data at all';
	return new NodeOperationError(
		ctx.getNode(),
		`Item ${itemIndex} has no file in the binary property "${property}"; ${has}`,
		{
			itemIndex,
			description:
				'Set "Input Binary Field" to the name of the property that holds the audio file (a Read/Write Files from Disk or HTTP Request node puts it in "data").',
		},
	);
}

/** The item's file cannot be separated (empty, or not a format CAMB.AI takes): nothing was sent. */
export function badAudioFile(
	ctx: IExecuteFunctions,
	itemIndex: number,
	property: string,
	problem: string,
): NodeOperationError {
	return new NodeOperationError(
		ctx.getNode(),
		`The file of item ${itemIndex} in "${property}" ${problem}`,
		{
			itemIndex,
			description:
				'Nothing was uploaded. Convert the file to AAC, FLAC, MP3 or WAV, or turn off "Check File Format" to let CAMB.AI decide.',
		},
	);
}
