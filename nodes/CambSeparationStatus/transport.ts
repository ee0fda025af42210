/**
 * The one place that talks HTTP to CAMB.AI: authentication through the credential,
 * the request-in-flight cap, retries with backoff, and turning request failures into
 * n8n errors that say what was tried. Task outcomes are not decided here.
 */
import type { IDataObject, IExecuteFunctions, IHttpRequestMethods, IN8nHttpFullResponse, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError, sleepWithAbort } from 'n8n-workflow';

import { excerpt, type CambAnswer } from './classifyStatus';
import type { Limiter } from './limiter';
import {
	backoffDelayMs,
	DEFAULT_BACKOFF,
	isRetryableNetworkError,
	isRetryableStatus,
	MAX_RETRY_AFTER_MS,
	retryAfterMs,
	type BackoffSettings,
} from './retryPolicy';

export const CREDENTIAL_TYPE = 'cambAiApi';

export interface RequestSettings {
	/** Give up on one attempt after this long without an answer. */
	timeoutMs: number;
	/** Attempts per request, the first included. */
	maxAttempts: number;
	backoff?: BackoffSettings;
}

export interface CambRequest {
	method: IHttpRequestMethods;
	/** Path below the base URL, already encoded. */
	path: string;
	body?: IDataObject;
}

export interface CambClient {
	/** Answers 2xx, 404 and 422 (task-level answers); throws NodeApiError for everything else. */
	request(itemIndex: number, request: CambRequest): Promise<CambAnswer>;
	/** No further request is sent: waiting and later calls throw a "not checked" error. */
	stop(why: string): void;
}

/** How the last attempt went, kept for the error message when attempts run out. */
type Sent =
	| { kind: 'answer'; statusCode: number; body: string; headers: Record<string, unknown> }
	| { kind: 'network'; code: string; message: string };
type Attempt = Sent | { kind: 'not sent' };

export function createCambClient(
	ctx: IExecuteFunctions,
	baseUrl: string,
	limiter: Limiter,
	settings: RequestSettings,
): CambClient {
	const backoff = settings.backoff ?? DEFAULT_BACKOFF;
	const maxAttempts = Math.max(1, Math.floor(settings.maxAttempts));
	let stoppedBecause: string | undefined;
	// Once CAMB has rejected the key, every later request would be rejected too: don't send it again.
	let keyRejection: { statusCode: number; body: string } | undefined;

	async function attemptOnce(request: CambRequest): Promise<Attempt> {
		try {
			const response = await limiter(async () => {
				// Checked inside the slot: requests queued before the stop must not go out either.
				if (stoppedBecause !== undefined || keyRejection) return undefined;
				const response = (await ctx.helpers.httpRequestWithAuthentication.call(ctx, CREDENTIAL_TYPE, {
					method: request.method,
					url: `${baseUrl}${request.path}`,
					body: request.body,
					json: request.body !== undefined,
					encoding: 'text',
					headers: { accept: 'application/json' },
					timeout: settings.timeoutMs,
					returnFullResponse: true,
					ignoreHttpStatusErrors: true,
					// A redirect could carry the API key to another host: treat it as an unexpected answer.
					disableFollowRedirect: true,
				})) as IN8nHttpFullResponse;
				// Noted before the slot is handed on, so no queued request goes out with the same key.
				if (response.statusCode === 401 || response.statusCode === 403) {
					keyRejection ??= { statusCode: response.statusCode, body: bodyText(response.body) };
				}
				return response;
			});
			if (!response) return { kind: 'not sent' };
			return { kind: 'answer', statusCode: response.statusCode, body: bodyText(response.body), headers: response.headers };
		} catch (error) {
			if (isCancelled(ctx)) throw new NodeOperationError(ctx.getNode(), 'The execution was cancelled');
			return { kind: 'network', ...networkProblem(error) };
		}
	}

	async function request(itemIndex: number, request: CambRequest): Promise<CambAnswer> {
		const startedAt = Date.now();
		for (let attempt = 1; ; attempt++) {
			const outcome = await attemptOnce(request);
			if (outcome.kind === 'not sent') {
				if (keyRejection) throw keyRejected(ctx, itemIndex, keyRejection.statusCode, keyRejection.body);
				throw notChecked(ctx, itemIndex, stoppedBecause ?? 'the execution stopped');
			}
			if (outcome.kind === 'answer' && isTaskLevelAnswer(outcome.statusCode)) {
				return { statusCode: outcome.statusCode, body: outcome.body };
			}
			if (outcome.kind === 'answer' && (outcome.statusCode === 401 || outcome.statusCode === 403)) {
				throw keyRejected(ctx, itemIndex, outcome.statusCode, outcome.body);
			}
			const retryable =
				outcome.kind === 'network' ? isRetryableNetworkError(outcome) : isRetryableStatus(outcome.statusCode);
			if (!retryable) throw notRetried(ctx, itemIndex, request, outcome);

			const serverAsked = outcome.kind === 'answer' ? retryAfterMs(outcome.headers, Date.now()) : undefined;
			if (serverAsked !== undefined && serverAsked > MAX_RETRY_AFTER_MS) {
				throw gaveUp(ctx, itemIndex, request, outcome, attempt, startedAt, `CAMB.AI asked to wait ${Math.ceil(serverAsked / 1000)} s before trying again, longer than this node waits`);
			}
			if (attempt >= maxAttempts) throw gaveUp(ctx, itemIndex, request, outcome, attempt, startedAt);
			await sleepWithAbort(serverAsked ?? backoffDelayMs(attempt, backoff), ctx.getExecutionCancelSignal());
		}
	}

	return {
		request,
		stop(why: string) {
			stoppedBecause ??= why;
		},
	};
}

function notChecked(ctx: IExecuteFunctions, itemIndex: number, why: string): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), `Item ${itemIndex} was not checked: ${why}`, { itemIndex });
}

function isTaskLevelAnswer(statusCode: number): boolean {
	return (statusCode >= 200 && statusCode < 300) || statusCode === 404 || statusCode === 422;
}

function isCancelled(ctx: IExecuteFunctions): boolean {
	return ctx.getExecutionCancelSignal()?.aborted === true;
}

function bodyText(body: unknown): string {
	if (typeof body === 'string') return body;
	if (body === undefined || body === null) return '';
	if (Buffer.isBuffer(body)) return body.toString('utf8');
	return JSON.stringify(body);
}

/**
 * n8n hands back either the raw HTTP error (code "ECONNRESET", message "read ECONNRESET") or,
 * from httpRequestWithAuthentication, a NodeApiError that keeps the system code in `httpCode`
 * and the original message in `messages`. Only those fields are read: the wrapped request
 * config holds the API key and must never be copied.
 */
function networkProblem(error: unknown): { code: string; message: string } {
	const err = error as { code?: unknown; httpCode?: unknown; message?: unknown; messages?: unknown };
	const code = [err.code, err.httpCode].find((value): value is string => typeof value === 'string' && /^E[A-Z_]+$/.test(value));
	const original = Array.isArray(err.messages) ? err.messages.find((m): m is string => typeof m === 'string') : undefined;
	const message = original ?? (typeof err.message === 'string' ? err.message : 'the request failed');
	return { code: code ?? 'UNKNOWN', message };
}

function describe(outcome: Sent): string {
	return outcome.kind === 'answer'
		? `HTTP ${outcome.statusCode} ${excerpt(outcome.body)}`
		: `${outcome.code}: ${excerpt(outcome.message)}`;
}

function keyRejected(ctx: IExecuteFunctions, itemIndex: number, statusCode: number, body: string): NodeApiError {
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

/** An answer or failure that another attempt would not change (a 400, a redirect, a refused URL). */
function notRetried(ctx: IExecuteFunctions, itemIndex: number, request: CambRequest, outcome: Sent): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem: describe(outcome) } as JsonObject, {
		message:
			outcome.kind === 'answer'
				? `CAMB.AI answered ${request.method} ${request.path} with HTTP ${outcome.statusCode}`
				: `The request ${request.method} ${request.path} to CAMB.AI failed`,
		description: describe(outcome),
		httpCode: outcome.kind === 'answer' ? String(outcome.statusCode) : undefined,
		itemIndex,
	});
}

function gaveUp(
	ctx: IExecuteFunctions,
	itemIndex: number,
	request: CambRequest,
	last: Sent,
	attempts: number,
	startedAt: number,
	why?: string,
): NodeApiError {
	const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
	const tried = `Tried ${request.method} ${request.path} ${attempts} time${attempts === 1 ? '' : 's'} over ${seconds} s; the last attempt failed with ${describe(last)}.`;
	return new NodeApiError(ctx.getNode(), { attempts, last: describe(last) } as JsonObject, {
		message: why ?? `CAMB.AI could not be reached after ${attempts} attempt${attempts === 1 ? '' : 's'}`,
		description: `${tried} Raise "Attempts per Check" or "Request Timeout" in the node's options, or try again later.`,
		httpCode: last.kind === 'answer' ? String(last.statusCode) : undefined,
		itemIndex,
	});
}
