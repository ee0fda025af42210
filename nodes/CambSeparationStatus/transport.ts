/**
 * The one place that talks HTTP: CAMB.AI calls (authenticated through the credential) and
 * stem downloads (never authenticated), under one request cap, with retries and backoff,
 * turning request failures into n8n errors that say what was tried. Task outcomes are not
 * decided here.
 */
import type { IDataObject, IExecuteFunctions, IHttpRequestMethods, IN8nHttpFullResponse, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { excerpt, type CambAnswer } from './classifyStatus';
import type { Limiter } from './limiter';
import { pause } from './pause';
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

/** Node's Readable, named through n8n's own types: community nodes may not import 'stream'. */
export type Readable = Exclude<Parameters<IExecuteFunctions['helpers']['prepareBinaryData']>[0], Buffer>;

export interface RequestSettings {
	/** Give up on one attempt after this long without a byte from the server. */
	timeoutMs: number;
	/** Attempts per request, the first included. */
	maxAttempts: number;
	/** Under Stop Workflow: the first request that fails for good stops every request after it. */
	stopOnFirstError: boolean;
	backoff?: BackoffSettings;
}

export interface CambRequest {
	method: IHttpRequestMethods;
	/** Path below the base URL, already encoded. */
	path: string;
	body?: IDataObject;
	/** Non-2xx codes the caller decides about itself instead of them being retried or raised. */
	answers?: number[];
}

/** A CAMB answer, with the pause the server asked for (429s handed to a waiting caller). */
export interface HttpAnswer extends CambAnswer {
	retryAfterMs?: number;
}

export interface CambClient {
	/** 2xx and the request's `answers` come back; anything else is retried, then raised as NodeApiError. */
	request(itemIndex: number, request: CambRequest): Promise<HttpAnswer>;
	/**
	 * Downloads a pre-signed storage link WITHOUT the API key and hands the body stream to `store`.
	 * A failure mid-way (reset, stall) retries the whole download.
	 */
	download<T>(itemIndex: number, url: string, store: (body: Readable, headers: IDataObject) => Promise<T>): Promise<T>;
	/** Item `itemIndex` failed for good: no further request is sent; waiting and later calls throw "not checked". */
	stop(itemIndex: number): void;
}

/** How one attempt went. */
type Attempt<T> =
	| { kind: 'done'; value: T }
	| { kind: 'answer'; statusCode: number; body: string; headers: IDataObject }
	| { kind: 'network'; code: string; message: string }
	| { kind: 'not sent' };
type Failed = Extract<Attempt<unknown>, { kind: 'answer' } | { kind: 'network' }>;
/** After a failed attempt: wait and try again, or give up with this error. */
type Decision = { retryInMs: number } | { error: NodeApiError };

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

	/**
	 * Runs one attempt in a request slot and decides, still inside the slot, whether it failed for
	 * good: so under Stop Workflow no request queued behind it goes out once the run is lost.
	 */
	async function inSlot<T>(
		itemIndex: number,
		send: () => Promise<Attempt<T>>,
		decide: (failed: Failed) => Decision,
	): Promise<{ outcome: Exclude<Attempt<T>, Failed> } | { outcome: Failed; decision: Decision }> {
		return await limiter(async () => {
			if (stoppedBecause !== undefined || keyRejection || isCancelled(ctx)) return { outcome: { kind: 'not sent' } };
			let outcome: Attempt<T>;
			try {
				outcome = await send();
			} catch (error) {
				if (isCancelled(ctx)) throw cancelled(ctx);
				outcome = { kind: 'network', ...networkProblem(error) };
			}
			if (outcome.kind === 'done' || outcome.kind === 'not sent') return { outcome };
			const decision = decide(outcome);
			if ('error' in decision && settings.stopOnFirstError) stop(itemIndex);
			return { outcome, decision };
		});
	}

	/** The retry loop shared by CAMB calls and downloads. `refuse` explains answers not worth retrying. */
	async function retrying<T>(
		itemIndex: number,
		label: string,
		who: string,
		send: () => Promise<Attempt<T>>,
		refuse: (answer: Extract<Failed, { kind: 'answer' }>) => NodeApiError,
	): Promise<T> {
		const startedAt = Date.now();
		const decide = (outcome: Failed, tries: number): Decision => {
			const retryable = outcome.kind === 'network' ? isRetryableNetworkError(outcome) : isRetryableStatus(outcome.statusCode);
			if (!retryable) return { error: outcome.kind === 'answer' ? refuse(outcome) : failed(ctx, itemIndex, label, outcome) };
			const serverAsked = outcome.kind === 'answer' ? retryAfterMs(outcome.headers, Date.now()) : undefined;
			if (serverAsked !== undefined && serverAsked > MAX_RETRY_AFTER_MS) {
				const seconds = Math.ceil(serverAsked / 1000);
				const wait = seconds > 86_400 ? 'more than a day' : `${seconds} s`;
				const why = `${who} asked to wait ${wait} before trying again, longer than this node waits`;
				return { error: gaveUp(ctx, itemIndex, label, outcome, tries, startedAt, why) };
			}
			if (tries >= maxAttempts) {
				// The label names the task (or file), so the error says which one even where n8n drops the item's data.
				// No system error code in the message: n8n would swap the whole message for its generic text.
				const last = outcome.kind === 'answer' ? `HTTP ${outcome.statusCode}` : 'no usable connection';
				const why = `${who} could not answer ${label} after ${tries} attempt${tries === 1 ? '' : 's'} (last: ${last})`;
				return { error: gaveUp(ctx, itemIndex, label, outcome, tries, startedAt, why) };
			}
			return { retryInMs: serverAsked ?? backoffDelayMs(tries, backoff) };
		};

		for (let tries = 1; ; tries++) {
			const slot = await inSlot(itemIndex, send, (failed) => decide(failed, tries));
			if ('decision' in slot) {
				if ('error' in slot.decision) throw slot.decision.error;
				await pause(slot.decision.retryInMs, ctx.getExecutionCancelSignal());
				continue;
			}
			if (slot.outcome.kind === 'done') return slot.outcome.value;
			if (keyRejection) throw keyRejected(ctx, itemIndex, keyRejection.statusCode, keyRejection.body);
			if (isCancelled(ctx)) throw cancelled(ctx);
			throw notChecked(ctx, itemIndex, stoppedBecause ?? 'the execution stopped');
		}
	}

	async function request(itemIndex: number, request: CambRequest): Promise<HttpAnswer> {
		const label = `${request.method} ${request.path}`;
		const isAnswer = (code: number) => (code >= 200 && code < 300) || (request.answers ?? []).includes(code);
		const send = async (): Promise<Attempt<HttpAnswer>> => {
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
			const { statusCode, headers } = response;
			const body = bodyText(response.body);
			// Noted before the slot is handed on, so no queued request goes out with the same key.
			if (statusCode === 401 || statusCode === 403) keyRejection ??= { statusCode, body };
			if (isAnswer(statusCode)) {
				return { kind: 'done', value: { statusCode, body, retryAfterMs: retryAfterMs(headers, Date.now()) } };
			}
			return { kind: 'answer', statusCode, body, headers };
		};
		return await retrying(itemIndex, label, 'CAMB.AI', send, (answer) =>
			answer.statusCode === 401 || answer.statusCode === 403
				? keyRejected(ctx, itemIndex, answer.statusCode, answer.body)
				: unexpectedAnswer(ctx, itemIndex, `CAMB.AI answered ${label}`, answer),
		);
	}

	async function download<T>(itemIndex: number, url: string, store: (body: Readable, headers: IDataObject) => Promise<T>): Promise<T> {
		const label = `GET ${new URL(url).origin}${new URL(url).pathname}`;
		const send = async (): Promise<Attempt<T>> => {
			// Plain httpRequest: the storage link is pre-signed and must never see the API key.
			const response = (await ctx.helpers.httpRequest({
				method: 'GET',
				url,
				encoding: 'stream',
				timeout: settings.timeoutMs,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
			})) as IN8nHttpFullResponse;
			const body = response.body as Readable;
			if (response.statusCode < 200 || response.statusCode >= 300) {
				return { kind: 'answer', statusCode: response.statusCode, body: await readStart(body), headers: response.headers };
			}
			return { kind: 'done', value: await store(body, response.headers) };
		};
		return await retrying(itemIndex, label, 'The storage host', send, (answer) =>
			unexpectedAnswer(
				ctx,
				itemIndex,
				[403, 404, 410].includes(answer.statusCode)
					? `The stem link has expired or the file is gone (HTTP ${answer.statusCode})`
					: `The storage host answered ${label}`,
				answer,
				'Stem links are pre-signed and expire. Run the check again to get fresh links.',
			),
		);
	}

	function stop(itemIndex: number): void {
		stoppedBecause ??= `an error on item ${itemIndex} stopped the run`;
	}

	return { request, download, stop };
}

export function isCancelled(ctx: IExecuteFunctions): boolean {
	return ctx.getExecutionCancelSignal()?.aborted === true;
}

/** Worded as n8n words it: the engine recognises "canceled" and marks the execution canceled, not failed. */
export function cancelled(ctx: IExecuteFunctions): NodeOperationError {
	return new NodeOperationError(ctx.getNode(), 'The execution was canceled');
}

/** An item left unchecked because another item's error stopped the run: never the error to report. */
export class NotChecked extends NodeOperationError {}

function notChecked(ctx: IExecuteFunctions, itemIndex: number, why: string): NotChecked {
	return new NotChecked(ctx.getNode(), `Item ${itemIndex} was not checked: ${why}`, { itemIndex });
}

function bodyText(body: unknown): string {
	if (typeof body === 'string') return body;
	if (body === undefined || body === null) return '';
	if (Buffer.isBuffer(body)) return body.toString('utf8');
	return JSON.stringify(body);
}

const ERROR_BODY_BYTES = 1024;

/** The first bytes of an error body, for the message; the rest is discarded unread. */
async function readStart(stream: Readable): Promise<string> {
	const chunks: Buffer[] = [];
	let size = 0;
	try {
		for await (const chunk of stream) {
			chunks.push(Buffer.from(chunk as Buffer));
			size += (chunk as Buffer).length;
			if (size >= ERROR_BODY_BYTES) break;
		}
	} catch {
		// A body that breaks off still leaves what arrived to quote.
	} finally {
		stream.destroy();
	}
	return Buffer.concat(chunks).subarray(0, ERROR_BODY_BYTES).toString('utf8');
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

function describe(outcome: Failed): string {
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

/** An answer that another attempt would not change (a 400, a redirect, an expired link). */
function unexpectedAnswer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	message: string,
	answer: Extract<Failed, { kind: 'answer' }>,
	advice?: string,
): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem: describe(answer) } as JsonObject, {
		message: message.includes(`HTTP ${answer.statusCode}`) ? message : `${message} with HTTP ${answer.statusCode}`,
		description: advice ? `${describe(answer)}. ${advice}` : describe(answer),
		httpCode: String(answer.statusCode),
		itemIndex,
	});
}

/** A connection failure another attempt would not cure (an unknown host, a refused URL). */
function failed(ctx: IExecuteFunctions, itemIndex: number, label: string, outcome: Failed): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem: describe(outcome) } as JsonObject, {
		message: `The request ${label} failed`,
		description: describe(outcome),
		itemIndex,
	});
}

function gaveUp(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	last: Failed,
	attempts: number,
	startedAt: number,
	why: string,
): NodeApiError {
	const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
	const tried = `Tried ${label} ${attempts} time${attempts === 1 ? '' : 's'} over ${seconds} s; the last attempt failed with ${describe(last)}.`;
	return new NodeApiError(ctx.getNode(), { attempts, last: describe(last) } as JsonObject, {
		message: why,
		description: `${tried} Raise "Attempts per Check" or "Request Timeout" in the node's options, or try again later.`,
		httpCode: last.kind === 'answer' ? String(last.statusCode) : undefined,
		itemIndex,
	});
}
