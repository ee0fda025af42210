/**
 * Every verdict and reason of the package, in one place: what one CAMB status answer means for
 * the user (which output the item takes and, for failures, a machine-readable reason, a sentence
 * a person can act on and whether submitting again could help), and the verdicts and reasons that
 * come from elsewhere (a run without a result, a task still pending when the budget runs out, a
 * task CAMB.AI would not talk about, a tool call whose check failed). A new failure reason goes
 * here. Pure: no n8n, no HTTP.
 */

import { excerpt, replaceControlCharacters } from '../shared/json';
import type { CambAnswer } from '../shared/transport';
import { errorDetail, readStatus } from '../shared/transport/cambApi';

export type Route = 'success' | 'pending' | 'failure';

export interface Verdict {
	route: Route;
	/** CAMB's status, upper-cased (or a node code such as TASK_NOT_FOUND when CAMB gave none). */
	status: string;
	runId?: number;
	/** Failure only. */
	reason?: string;
	message?: string;
	retryable?: boolean;
}

/** An answer that is not a task status at all (HTML, broken JSON, no status field). */
export interface Unreadable {
	route: 'invalid';
	problem: string;
}

export interface ClassifyOptions {
	/** CAMB's own node assumes brand-new tasks may answer 404 for a moment. */
	notFoundAsPending: boolean;
	/** Send statuses this node does not know to Pending instead of Failure. */
	unknownStatusAsPending: boolean;
}

// Reasons where the same file will fail again: the user must change the input or the account.
const NOT_RETRYABLE_REASONS = new Set([
	'HARMFUL_CONTENT_DETECTED',
	'SOURCE_TOO_LONG',
	'SOURCE_TOO_LARGE',
	'SOURCE_TYPE_NOT_SUPPORTED',
	'SOURCE_NOT_FOUND',
	'MISMATCHED_SOURCE_CODEC',
	'CONTENT_DOES_NOT_MATCH_EXTENSION',
	'INVALID_SOURCE_DATA',
	'PAYMENT_REQUIRED',
	'FORBIDDEN',
]);

export function classifyAnswer(answer: CambAnswer, options: ClassifyOptions): Verdict | Unreadable {
	if (answer.statusCode === 404) return notFound(answer.body, options);
	if (answer.statusCode === 422) return rejectedId(answer.body);

	return classifyStatusBody(answer.body, options);
}

/** Accepts both shapes CAMB is known to send: a bare string, or an object with `status`. */
function classifyStatusBody(body: string, options: ClassifyOptions): Verdict | Unreadable {
	const fields = readStatus(body);
	if ('problem' in fields) return { route: 'invalid', problem: fields.problem };

	const status = tidyStatus(fields.status);
	const runId = fields.runId;
	switch (status) {
		case 'SUCCESS':
			return { route: 'success', status, runId };
		case 'PENDING':
			return { route: 'pending', status, runId };
		case 'ERROR':
		case 'FAILED':
		case 'TIMEOUT':
		case 'PAYMENT_REQUIRED':
			return {
				route: 'failure',
				status,
				runId,
				...explainFailure(status, fields.exceptionReason, fields.cambMessage),
			};
		default:
			if (options.unknownStatusAsPending) return { route: 'pending', status, runId };
			return {
				route: 'failure',
				status,
				runId,
				reason: 'UNKNOWN_STATUS',
				message: `CAMB.AI answered with a status this node does not know, "${excerpt(fields.status)}"; check the task in CAMB.AI, or turn on "Unknown Status Means Pending".`,
				retryable: false,
			};
	}
}

/**
 * TIMEOUT and PAYMENT_REQUIRED say what went wrong themselves; a plain ERROR (or FAILED) is made
 * specific by CAMB's exception_reason when it sends one.
 */
function explainFailure(
	status: string,
	exceptionReason: string | undefined,
	cambMessage: string | undefined,
): Pick<Verdict, 'reason' | 'message' | 'retryable'> {
	const code = exceptionReasonCode(exceptionReason);
	const detail = [
		exceptionReason && !code ? ` CAMB.AI's reason: ${excerpt(exceptionReason)}.` : '',
		cambMessage ? ` CAMB.AI says: ${excerpt(cambMessage)}` : '',
	].join('');
	if (status === 'PAYMENT_REQUIRED' || code === 'PAYMENT_REQUIRED') {
		return {
			reason: 'PAYMENT_REQUIRED',
			retryable: false,
			message: `The CAMB.AI account has run out of credits; add credits, then submit the file again.${detail}`,
		};
	}
	if (status === 'TIMEOUT') {
		return {
			reason: 'TIMEOUT',
			retryable: false,
			message: `CAMB.AI stopped the task because it ran too long; split the audio into shorter pieces and submit them separately.${detail}`,
		};
	}
	const reason = code ?? 'ERROR';
	const retryable = !NOT_RETRYABLE_REASONS.has(reason);
	const advice = retryable
		? 'submitting the file again may help'
		: 'submitting the same file again will fail the same way; fix the file first';
	return {
		reason,
		retryable,
		message: `CAMB.AI could not separate the audio (${reason}); ${advice}.${detail}`,
	};
}

/**
 * A status as a short upper-case code. Only ASCII letters change case, so look-alikes such as
 * "ſuccess" stay unknown; control characters go and the length is capped.
 */
function tidyStatus(raw: string): string {
	const clean = replaceControlCharacters(raw, ' ').trim();
	const upper = clean.replace(/[a-z]/g, (letter) => letter.toUpperCase());
	return upper.length > MAX_CODE_LENGTH ? `${upper.slice(0, MAX_CODE_LENGTH)}…` : upper;
}

const MAX_CODE_LENGTH = 64;

/** CAMB's exception_reason when it is a code (PROCESSING_ERROR…); "NONE" means it has nothing to say. */
function exceptionReasonCode(raw: string | undefined): string | undefined {
	if (!raw || !/^[A-Za-z0-9_]{1,64}$/.test(raw)) return undefined;
	const code = raw.toUpperCase();
	return code === 'NONE' ? undefined : code;
}

/** A task that is still pending when the check budget ("Max Checks") runs out. */
export function stillPending(verdict: Verdict, checkCount: number, pendingForMs: number): Verdict {
	return {
		...verdict,
		route: 'failure',
		reason: 'STILL_PENDING',
		retryable: true,
		message: `CAMB.AI still reports the task as ${verdict.status} after ${checkCount} check${checkCount === 1 ? '' : 's'} over ${formatDuration(pendingForMs)}; check the task in CAMB.AI, submit the file again, or raise "Max Checks".`,
	};
}

function formatDuration(ms: number): string {
	const seconds = Math.max(0, Math.round(ms / 1000));
	if (seconds < 120) return `${seconds} s`;
	const minutes = Math.round(seconds / 60);
	return minutes < 120 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}

function notFound(body: string, options: ClassifyOptions): Verdict {
	if (options.notFoundAsPending) return { route: 'pending', status: 'NOT_FOUND' };
	return {
		route: 'failure',
		status: 'NOT_FOUND',
		reason: 'TASK_NOT_FOUND',
		retryable: false,
		message: `CAMB.AI does not know this task id${cambDetail(body)}; check that it is the task_id the submission returned, or turn on "Not Found Means Pending" for tasks that were created moments ago.`,
	};
}

function rejectedId(body: string): Verdict {
	return {
		route: 'failure',
		status: 'INVALID_TASK_ID',
		reason: 'INVALID_TASK_ID',
		retryable: false,
		message: `CAMB.AI rejected the task id as malformed${cambDetail(body)}; pass the task_id exactly as the submission returned it.`,
	};
}

function cambDetail(body: string): string {
	const text = errorDetail(body);
	return text ? ` ("${excerpt(text)}")` : '';
}

/** A run whose task finished, but for which CAMB.AI has no result (404 on its result). */
export function resultNotFound(runId: number): Verdict {
	return {
		route: 'failure',
		status: 'SUCCESS',
		runId,
		reason: 'RESULT_NOT_FOUND',
		retryable: false,
		message: `The separation finished, but CAMB.AI has no result for run ${runId} (404); it may have been deleted. Submit the file again.`,
	};
}

/** A task CAMB.AI would not talk about during the whole wait (429 every time): still pending. */
export const RATE_LIMITED: Verdict = { route: 'pending', status: 'RATE_LIMITED' };

/** Why a tool call's check failed (toolMode.ts tells the model): the reason, and what to do. */
export function checkFailed(failure: {
	/** CAMB.AI refused the key: 401 (missing, wrong or revoked) or 403 (valid, but not allowed). */
	keyRejectedWith?: number;
	taskIdKnown: boolean;
	/** A request failed (an HTTP error), not the node. */
	requestFailed: boolean;
}): { reason: string; retryable: boolean; advice: string } {
	if (failure.keyRejectedWith === 403)
		return {
			reason: 'API_KEY_REJECTED',
			retryable: false,
			advice:
				'Tell the user that the CAMB.AI account of this workflow may not use audio separation and that the workflow owner must check its plan and permissions; checking again will not help until then.',
		};
	if (failure.keyRejectedWith !== undefined)
		return {
			reason: 'API_KEY_REJECTED',
			retryable: false,
			advice:
				'Tell the user that the CAMB.AI API key of this workflow was rejected and that the workflow owner must update the credential; checking again will not help until then.',
		};
	if (!failure.taskIdKnown)
		return {
			reason: 'INVALID_TASK_ID',
			retryable: false,
			advice: 'Ask the user for the task_id CAMB.AI returned when the audio was submitted.',
		};
	if (failure.requestFailed)
		return {
			reason: 'CAMB_UNAVAILABLE',
			retryable: true,
			advice: 'CAMB.AI could not be asked right now; try again in a minute or tell the user.',
		};
	return {
		reason: 'NODE_ERROR',
		retryable: false,
		advice: 'The tool is not set up correctly; tell the user to ask the workflow owner.',
	};
}
