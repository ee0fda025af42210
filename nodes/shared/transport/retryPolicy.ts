/**
 * When to try a request again and how long to wait first. Pure: the caller sleeps.
 * Mirrors CAMB's official SDKs: retry 408, 429 and 5xx and dropped connections,
 * back off exponentially with jitter, and let the server's Retry-After win.
 */

export interface BackoffSettings {
	/** Wait before the first retry, before jitter. */
	baseDelayMs: number;
	/** No computed wait grows beyond this. */
	maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffSettings = { baseDelayMs: 1000, maxDelayMs: 30_000 };

/** A server asking for a longer pause than this is not waited for: the check fails now instead. */
export const MAX_RETRY_AFTER_MS = 60_000;

export function isRetryableStatus(statusCode: number): boolean {
	return statusCode === 408 || statusCode === 429 || statusCode >= 500;
}

// Connection-level failures that a second attempt can cure. A cancelled execution is not one.
const RETRYABLE_ERROR_CODES = new Set([
	'ECONNRESET',
	'ECONNREFUSED',
	'ECONNABORTED',
	'ETIMEDOUT',
	'ESOCKETTIMEDOUT',
	'EPIPE',
	'EAI_AGAIN',
	'ENETUNREACH',
	'EHOSTUNREACH',
	'ERR_BAD_RESPONSE',
]);

export function isRetryableNetworkError(error: { code?: unknown; message?: unknown }): boolean {
	if (typeof error.code === 'string' && RETRYABLE_ERROR_CODES.has(error.code)) return true;
	const message = typeof error.message === 'string' ? error.message : '';
	return (
		/socket hang up|timeout of \d+ms exceeded|aborted/i.test(message) &&
		error.code !== 'ERR_CANCELED'
	);
}

/**
 * Whether a failed upload may have created a task, so that sending it again could make a second
 * one. It cannot have when the connection was never made; when it broke off (reset, stall) before
 * the connection took the body's last byte (a form upload makes no task from part of a file); when
 * CAMB answered that it did not take the request (408 it timed out waiting for it, 429 rate
 * limited, 503 unavailable) or refused it (any other 4xx: it answered before creating a task); or
 * when its answer was too large to read (that is no CAMB answer). After anything else (a reset or
 * time-out once the last byte was out, a 500, 502 or 504) the task may exist.
 */
export type UploadFailure =
	| { kind: 'error status'; statusCode: number }
	| { kind: 'oversized' }
	| { kind: 'network'; code: string; beforeLastByte?: boolean };

const NEVER_CONNECTED_CODES = new Set([
	'ECONNREFUSED',
	'ENOTFOUND',
	'EAI_AGAIN',
	'ENETUNREACH',
	'EHOSTUNREACH',
]);

export function mayHaveCreatedTask(failed: UploadFailure): boolean {
	if (failed.kind === 'oversized') return false;
	if (failed.kind === 'error status') return failed.statusCode >= 500 && failed.statusCode !== 503;
	return failed.beforeLastByte !== true && !NEVER_CONNECTED_CODES.has(failed.code);
}

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so retries
 * from many items spread out but never fire instantly.
 * `attempt` is the number of attempts already made (1 after the first failure).
 */
export function backoffDelayMs(
	attempt: number,
	settings: BackoffSettings,
	random: () => number = Math.random,
): number {
	const step = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attempt - 1));
	return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * The pause a server asked for, in ms: `retry-after-ms`, then `Retry-After` as seconds or an
 * HTTP date. Undefined when absent or unreadable.
 */
export function retryAfterMs(headers: Record<string, unknown>, nowMs: number): number | undefined {
	const ms = Number(headerValue(headers, 'retry-after-ms'));
	if (headerValue(headers, 'retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0)
		return Math.ceil(ms);

	const value = headerValue(headers, 'retry-after')?.trim();
	if (!value) return undefined;
	if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
	// An HTTP date always names a weekday and month; anything else ("-3") is unreadable.
	const date = /[a-z]/i.test(value) ? Date.parse(value) : NaN;
	if (Number.isNaN(date)) return undefined;
	return Math.max(0, date - nowMs);
}

/** A header's value, whatever its case; the first of a repeated header. */
export function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
	for (const [key, value] of Object.entries(headers)) {
		if (key.toLowerCase() !== name) continue;
		if (Array.isArray(value)) return value.length ? String(value[0]) : undefined;
		return value === undefined || value === null ? undefined : String(value);
	}
	return undefined;
}

/**
 * How long a request may meet nothing but 429s, while the host lets no other request through
 * either, before it gives up. A 429 uses up no attempt: the execution's shared cool-down and pace
 * (see rateControl.ts) already slow every request down, so a patient client gets through; only a
 * server that refuses everything for this long ends in an error. Time a request spends queued
 * behind others while the host accepts them is not refusal (a batch of 1,500 may queue for minutes).
 */
export const RATE_LIMIT_PATIENCE_MS = 60_000;

/** One failed attempt, as the retry decision needs it. */
export interface FailedAttempt {
	retryable: boolean;
	/** A 429: counts against the patience above, not against the attempts. */
	rateLimited: boolean;
	/** When the host last let any request of the execution through (any answer but a 429). */
	hostAcceptedAt?: number;
	/** The pause the server asked for, if any. */
	serverAskedMs?: number;
	/**
	 * A 503 without Retry-After: a server turning back what it cannot serve at once. The host's
	 * gate narrows its window for it (rateControl.ts), which holds the retry back as much as needed.
	 */
	shed?: boolean;
	/** When this attempt went out: did the host serve another request since? */
	sentAt?: number;
}

/** What a request has been through so far. */
export interface RetryState {
	/** Failed attempts that count against "Attempts per Check" (everything but 429s). */
	failures: number;
	/** When the current run of 429s began, if the last answer was one. */
	rateLimitedSince?: number;
	/** Shed 503s that used up no attempt (see decideRetry). */
	freeSheds?: number;
}

/** The most shed 503s one request may meet without using up attempts. */
export const MAX_FREE_SHEDS = 5;

export type GiveUp =
	| 'not-retryable'
	| 'asked-too-long'
	| 'out-of-attempts'
	| 'rate-limited-too-long';

export type RetryDecision =
	| { retryInMs: number; state: RetryState }
	| { giveUp: GiveUp; state: RetryState };

/**
 * After a failed attempt: try again (after how long), or give up (why). Pure: `now` is passed in.
 * A 429 is retried at once as far as this request is concerned; the shared cool-down that the
 * 429 started holds it back until the server's Retry-After (or a second) has passed. So is a 503
 * without Retry-After (shed load): the gate's window, narrowed by it, holds the retry back. It uses
 * up no attempt while the host serves others (isFreeShed); else the first retry still goes at once.
 */
export function decideRetry(
	failed: FailedAttempt,
	state: RetryState,
	now: number,
	maxAttempts: number,
	backoff: BackoffSettings = DEFAULT_BACKOFF,
	random: () => number = Math.random,
): RetryDecision {
	if (!failed.retryable) return { giveUp: 'not-retryable', state };
	if (failed.serverAskedMs !== undefined && failed.serverAskedMs > MAX_RETRY_AFTER_MS)
		return { giveUp: 'asked-too-long', state };
	if (failed.rateLimited) {
		const since = state.rateLimitedSince ?? now;
		const next = { failures: state.failures, rateLimitedSince: since };
		if (now - Math.max(since, failed.hostAcceptedAt ?? -Infinity) >= RATE_LIMIT_PATIENCE_MS)
			return { giveUp: 'rate-limited-too-long', state: next };
		return { retryInMs: 0, state: next };
	}
	if (isFreeShed(failed, state))
		return { retryInMs: 0, state: { ...state, freeSheds: (state.freeSheds ?? 0) + 1 } };
	const next = { failures: state.failures + 1, freeSheds: state.freeSheds };
	if (next.failures >= Math.max(1, Math.floor(maxAttempts)))
		return { giveUp: 'out-of-attempts', state: next };
	// A first shed 503 goes back to the gate at once: a pause of a second would be most of the
	// item's time, and the gate already waits for room. Shed again, it backs off as usual.
	const pause =
		failed.shed && next.failures === 1 ? 0 : backoffDelayMs(next.failures, backoff, random);
	return { retryInMs: failed.serverAskedMs ?? pause, state: next };
}

/**
 * A shed 503 while the host served another request of the execution since this one went out: it
 * is up, with no room for this one at that moment, as a 429 says it is over its rate. Like a 429
 * it uses up no attempt (up to MAX_FREE_SHEDS times per request, so one task that the server
 * always answers 503 still ends); a server that serves nothing uses them up as before.
 */
function isFreeShed(failed: FailedAttempt, state: RetryState): boolean {
	return (
		failed.shed === true &&
		failed.sentAt !== undefined &&
		failed.hostAcceptedAt !== undefined &&
		failed.hostAcceptedAt >= failed.sentAt &&
		(state.freeSheds ?? 0) < MAX_FREE_SHEDS
	);
}

/** Why the retry loop stopped trying, in a sentence that names the host and the request. */
export function giveUpReason(
	why: Exclude<GiveUp, 'not-retryable'>,
	who: string,
	label: string,
	attempts: number,
	last: { statusCode?: number; beforeLastByte?: true },
	serverAskedMs?: number,
): string {
	if (why === 'asked-too-long') {
		const seconds = Math.ceil((serverAskedMs ?? 0) / 1000);
		return `${who} asked to wait ${seconds > 86_400 ? 'more than a day' : `${seconds} s`} before trying again, longer than this node waits`;
	}
	if (why === 'rate-limited-too-long') {
		return `${who} kept answering ${label}, and every other request, with 429 (rate limited) for ${RATE_LIMIT_PATIENCE_MS / 1000} s; this node waits no longer`;
	}
	// The label names the task (or file), so the error says which one even where n8n drops the item's data.
	// No system error code in the message: n8n would swap the whole message for its generic text.
	const lastAnswer =
		last.statusCode !== undefined
			? `HTTP ${last.statusCode}`
			: last.beforeLastByte
				? 'it broke off before the whole request was sent'
				: 'no usable connection';
	return `${who} could not answer ${label} after ${attempts} attempt${attempts === 1 ? '' : 's'} (last: ${lastAnswer})`;
}
