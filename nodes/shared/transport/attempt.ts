/**
 * One attempt at a request, as the retry loop sees it: how it went, what that says about the
 * host's load (for its gate), and a one-line description of a failure for error messages.
 */
import type { IDataObject } from 'n8n-workflow';

import { excerpt } from '../json';
import type { LoadSignal } from './rateControl';
import { MAX_RETRY_AFTER_MS, retryAfterMs } from './retryPolicy';

/**
 * How one attempt went: `done` (an answer the caller accepts), `error status` (an HTTP answer it
 * does not: retried or refused). Both carry the pause the server asked for (`retryAfterMs`, read
 * once from its headers when the attempt is made), `oversized` (an answer too large to read), `network` (no
 * usable answer at all; `beforeLastByte` when it broke off before the connection took the last
 * byte of the request's body, so the server cannot have the whole request), or `not sent` (held
 * back: the run stopped, or the key was rejected).
 */
export type Attempt<T> =
	| { kind: 'done'; value: T; statusCode: number; retryAfterMs?: number }
	| { kind: 'error status'; statusCode: number; body: string; retryAfterMs?: number }
	| { kind: 'oversized'; statusCode: number; bytes: number }
	| { kind: 'network'; code: string; message: string; beforeLastByte?: true }
	| { kind: 'not sent' };

/** An attempt that failed: the retry loop decides whether to try again. */
export type Failed = Extract<
	Attempt<unknown>,
	{ kind: 'error status' } | { kind: 'oversized' } | { kind: 'network' }
>;
export type ErrorStatus = Extract<Failed, { kind: 'error status' }>;

/** An answer the caller does not accept, with the pause the server asked for (read here, once). */
export function errorStatus(statusCode: number, headers: IDataObject, body: string): ErrorStatus {
	return {
		kind: 'error status',
		statusCode,
		body,
		retryAfterMs: retryAfterMs(headers, Date.now()),
	};
}

/** What an attempt says about the host's load, for its gate; with the pause it asked for, if usable. */
export function loadOf(tried: Attempt<unknown>): { signal: LoadSignal; retryAfterMs?: number } {
	if (tried.kind === 'not sent') return { signal: 'neutral' };
	if (tried.kind === 'network') return { signal: isTimeout(tried) ? 'overloaded' : 'neutral' };
	const asked = tried.kind === 'oversized' ? undefined : tried.retryAfterMs;
	// A pause longer than the node waits fails that request; it does not stall every other one.
	const retryAfter = asked !== undefined && asked <= MAX_RETRY_AFTER_MS ? asked : undefined;
	if (tried.statusCode === 429) return { signal: 'limited', retryAfterMs: retryAfter };
	// Without Retry-After, a 503 is a server turning back what it cannot serve at once (rateControl.ts).
	if (tried.statusCode === 503)
		return { signal: asked === undefined ? 'shed' : 'overloaded', retryAfterMs: retryAfter };
	if (tried.statusCode >= 500) return { signal: 'neutral', retryAfterMs: retryAfter };
	return { signal: 'clean' };
}

export function isTimeout(problem: { code: string; message: string }): boolean {
	return (
		['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED'].includes(problem.code) ||
		/timeout of \d+ms exceeded|stalled/i.test(problem.message)
	);
}

/**
 * n8n hands back either the raw HTTP error (code "ECONNRESET", message "read ECONNRESET") or,
 * from httpRequestWithAuthentication, a NodeApiError that keeps the system code in `httpCode`
 * and the original message in `messages`. Only those fields are read: the wrapped request
 * config holds the API key and must never be copied.
 */
export function networkProblem(error: unknown): { code: string; message: string } {
	const err = error as {
		code?: unknown;
		httpCode?: unknown;
		message?: unknown;
		messages?: unknown;
	};
	const code = [err.code, err.httpCode].find(
		(value): value is string => typeof value === 'string' && /^E[A-Z_]+$/.test(value),
	);
	const original = Array.isArray(err.messages)
		? err.messages.find((m): m is string => typeof m === 'string')
		: undefined;
	const message =
		original ?? (typeof err.message === 'string' ? err.message : 'the request failed');
	return { code: code ?? 'UNKNOWN', message };
}

export function describe(tried: Failed): string {
	if (tried.kind === 'error status') return `HTTP ${tried.statusCode} ${excerpt(tried.body)}`;
	if (tried.kind === 'oversized')
		return `HTTP ${tried.statusCode} with a body of more than ${tried.bytes} bytes`;
	const when = tried.beforeLastByte ? ' (before the whole request was sent)' : '';
	return `${tried.code}: ${excerpt(tried.message)}${when}`;
}
