/**
 * Every error this package raises, built in one place so they read alike: a message that names
 * the item and what was wrong, a description that says what to do, never the API key. They are
 * built as CambErrors, which need no node; the node ties one to itself where it leaves the node
 * (toNodeError), so nothing carries the execution's context down just to build an error.
 * The transport's errors come first, then each node's.
 */
import type { INode, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { excerpt } from './json';

export type NodeError = NodeApiError | NodeOperationError;

interface CambErrorDetails {
	description?: string;
	itemIndex?: number;
	/** An answer from a server (or the failed request): shown as n8n shows an API's error. */
	answer?: JsonObject;
	httpCode?: string;
}

/** An error of this package, not yet tied to a node. */
export class CambError extends Error {
	constructor(
		message: string,
		readonly details: CambErrorDetails = {},
	) {
		super(message);
		this.name = 'CambError';
	}
}

/** A failed HTTP attempt as error messages quote it: its status (if any) and a one-line description. */
export interface FailedRequest {
	statusCode?: number;
	problem: string;
	/** It broke off before the connection took the last byte of the request: nothing was created. */
	beforeLastByte?: true;
}

/** The n8n error `node` shows for anything thrown, naming the item where one is known. */
export function toNodeError(node: INode, error: unknown, itemIndex?: number): NodeError {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (!(error instanceof CambError))
		return new NodeOperationError(node, error as Error, { itemIndex });
	const { description, answer, httpCode } = error.details;
	const options = { description, itemIndex: error.details.itemIndex ?? itemIndex };
	return answer
		? new NodeApiError(node, answer, { ...options, message: error.message, httpCode })
		: new NodeOperationError(node, error.message, options);
}

/** Runs a node's work: whatever it throws leaves as an n8n error of `node`. */
export async function asNodeWork<T>(node: INode, work: () => Promise<T>): Promise<T> {
	try {
		return await work();
	} catch (error) {
		throw toNodeError(node, error);
	}
}

/** Throws, tied to `node`, the first error by item order, skipping items only left unchecked because of it. */
export function throwFirstError(node: INode, candidates: Array<unknown>): void {
	const errors = candidates.filter(
		(candidate): candidate is CambError | NodeError =>
			candidate instanceof CambError ||
			candidate instanceof NodeApiError ||
			candidate instanceof NodeOperationError,
	);
	const first = errors.find((error) => !(error instanceof NotChecked)) ?? errors[0];
	if (first) throw toNodeError(node, first);
}

// ---- the transport ---------------------------------------------------------------------------

/** Worded as n8n words it ("canceled"): the engine recognises the word and marks the execution cancelled, not failed. */
export function cancelledError(): CambError {
	return new CambError('The execution was canceled');
}

/** An item left unchecked because another item's error stopped the run: never the error to report. */
export class NotChecked extends CambError {}

export function notChecked(itemIndex: number, why: string): NotChecked {
	return new NotChecked(`Item ${itemIndex} was not checked: ${why}`, { itemIndex });
}

/** An answer too large to be a status or a result: another attempt would get the same. */
export function oversizedAnswer(
	itemIndex: number,
	label: string,
	who: string,
	statusCode: number,
	bytes: number,
	limitBytes: number,
	problem: string,
): CambError {
	const limit = `${limitBytes / 1024 / 1024} MiB`;
	return new CambError(
		`${who}'s answer to ${label} is larger than ${limit}; the rest was not read`,
		{
			answer: { problem } as JsonObject,
			description: `A status or result answer is a few hundred bytes; this one had at least ${bytes} bytes (HTTP ${statusCode}). Check the Base URL of the credential.`,
			httpCode: String(statusCode),
			itemIndex,
		},
	);
}

export function keyRejected(itemIndex: number, statusCode: number, body: string): CambError {
	return new CambError(`CAMB.AI rejected the API key (HTTP ${statusCode})`, {
		answer: { statusCode, body: excerpt(body) } as JsonObject,
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
	itemIndex: number,
	message: string,
	answer: { statusCode: number; problem: string },
	advice?: string,
): CambError {
	return new CambError(
		message.includes(`HTTP ${answer.statusCode}`)
			? message
			: `${message} with HTTP ${answer.statusCode}`,
		{
			answer: { problem: answer.problem } as JsonObject,
			description: advice ? `${answer.problem}. ${advice}` : answer.problem,
			httpCode: String(answer.statusCode),
			itemIndex,
		},
	);
}

/** A connection failure another attempt would not cure (an unknown host, a refused URL). */
export function requestFailed(itemIndex: number, label: string, problem: string): CambError {
	return new CambError(`The request ${label} failed`, {
		answer: { problem } as JsonObject,
		description: problem,
		itemIndex,
	});
}

export function gaveUp(
	itemIndex: number,
	label: string,
	last: FailedRequest,
	attempts: number,
	turnedBack: number,
	startedAt: number,
	why: string,
): CambError {
	const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
	const also =
		turnedBack > 0
			? ` (and ${turnedBack} more turned back with 429, or 503 while others got through, which use up no attempt)`
			: '';
	const tried = `Tried ${label} ${attempts} time${attempts === 1 ? '' : 's'}${also} over ${seconds} s; the last attempt failed with ${last.problem}.`;
	const nothingMade = last.beforeLastByte
		? ' No attempt got the whole request out, so nothing was created: running it again is safe.'
		: '';
	return new CambError(why, {
		answer: { attempts, last: last.problem } as JsonObject,
		description: `${tried}${nothingMade} Raise the node's "Attempts per …" or "Request Timeout" option, or try again later.`,
		httpCode: last.statusCode === undefined ? undefined : String(last.statusCode),
		itemIndex,
	});
}

/** The credential's Base URL cannot be used: no request is sent for any item. */
export function badBaseUrl(problem: string): CambError {
	return new CambError(`The Base URL of the "CAMB.AI API" credential ${problem}`);
}

// ---- Camb Separation Status -----------------------------------------------------------------

export function badTaskId(itemIndex: number, problem: string): CambError {
	return new CambError(`The task ID of item ${itemIndex} ${problem}`, {
		itemIndex,
		description:
			'Pass the task_id that CAMB.AI returned when the audio was submitted, e.g. {{ $json.task_id }}.',
	});
}

/** A 200 whose body is no task status (HTML, broken JSON, no status field). */
export function notAStatus(itemIndex: number, problem: string): CambError {
	return new CambError(`CAMB.AI's answer for item ${itemIndex} is not a task status`, {
		answer: { problem },
		description: `Expected a status such as "SUCCESS" or {"status": "SUCCESS", ...}, but ${problem}. Check the Base URL of the credential.`,
		itemIndex,
	});
}

export function noResultLinks(itemIndex: number, body: string): CambError {
	return new CambError(`CAMB.AI's result for item ${itemIndex} has no usable stem links`, {
		answer: { body: excerpt(body) },
		description: `Expected foreground_audio_url and background_audio_url as http(s) links, but got: ${excerpt(body)}`,
		itemIndex,
	});
}

// ---- Camb Separate Audio ---------------------------------------------------------------------

/** The upload failed in a way that may have created the task: it is not sent again on its own. */
export function uploadMayHaveArrived(
	itemIndex: number,
	fileName: string,
	last: FailedRequest,
): CambError {
	const what =
		last.statusCode === undefined
			? 'the connection broke off or timed out after the whole file was handed to it'
			: `CAMB.AI answered HTTP ${last.statusCode} after the upload`;
	return new CambError(
		`The upload of item ${itemIndex} ("${fileName}") may have reached CAMB.AI: ${what}`,
		{
			answer: { problem: last.problem } as JsonObject,
			description: `${last.problem}. CAMB.AI may have created (and billed) a task for this file. This node does not send the file again on its own, so one item never makes two tasks. Check the task list in CAMB.AI Studio before submitting it again, or turn on "Retry Uploads That May Have Arrived" to have the node retry such failures.`,
			httpCode: last.statusCode === undefined ? undefined : String(last.statusCode),
			itemIndex,
		},
	);
}

/** CAMB.AI took the upload, but its answer carries no task id to follow. */
export function noTaskId(itemIndex: number, fileName: string, body: string): CambError {
	return new CambError(
		`CAMB.AI accepted the upload of item ${itemIndex} ("${fileName}") but its answer has no task_id`,
		{
			answer: { body: excerpt(body) },
			description: `Expected {"task_id": "..."}, but got: ${excerpt(body)}. A task may exist: check CAMB.AI Studio before submitting again, and check the Base URL of the credential.`,
			itemIndex,
		},
	);
}

/** No file under the binary property the node reads: names the properties the item does have. */
export function noBinary(itemIndex: number, property: string, available: string[]): CambError {
	const has = available.length
		? `it has ${available.map((name) => `"${name}"`).join(', ')}`
		: 'it has no binary data at all';
	return new CambError(
		`Item ${itemIndex} has no file in the binary property "${property}"; ${has}`,
		{
			itemIndex,
			description:
				'Set "Input Binary Field" to the name of the property that holds the audio file (a Read/Write Files from Disk or HTTP Request node puts it in "data").',
		},
	);
}

/** The item's file cannot be separated (empty, or not a format CAMB.AI takes): nothing was sent. */
export function badAudioFile(itemIndex: number, property: string, problem: string): CambError {
	return new CambError(`The file of item ${itemIndex} in "${property}" ${problem}`, {
		itemIndex,
		description:
			'Nothing was uploaded. Convert the file to AAC, FLAC, MP3 or WAV, or turn off "Check File Format" to let CAMB.AI decide.',
	});
}
