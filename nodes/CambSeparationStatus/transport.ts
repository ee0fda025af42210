/**
 * The one place that talks HTTP: CAMB.AI calls (authenticated through the credential) and
 * stem downloads (never authenticated), each host behind its own gate (gate.ts: an adaptive
 * window, pace and shared cool-down), with retries and backoff, answers read with a size cap,
 * turning request failures into n8n errors that say what was tried. Task outcomes are not
 * decided here.
 */
import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IN8nHttpFullResponse,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { excerpt, type CambAnswer } from './classifyStatus';
import { createGate, type Gate, type Judged } from './gate';
import { pause } from './pause';
import type { LoadSignal } from './rateControl';
import {
	decideRetry,
	DEFAULT_BACKOFF,
	headerValue,
	isRetryableNetworkError,
	isRetryableStatus,
	MAX_RETRY_AFTER_MS,
	RATE_LIMIT_PATIENCE_MS,
	retryAfterMs,
	type BackoffSettings,
	type GiveUp,
	type RetryState,
} from './retryPolicy';

export const CREDENTIAL_TYPE = 'cambAiApi';

/** A status or result answer larger than this is not one: it is refused, and the rest is not read. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** Node's Readable, named through n8n's own types: community nodes may not import 'stream'. */
export type Readable = Exclude<
	Parameters<IExecuteFunctions['helpers']['prepareBinaryData']>[0],
	Buffer
>;

export interface RequestSettings {
	/** Give up on one attempt after this long without a byte from the server. */
	timeoutMs: number;
	/** Attempts per request, the first included; 429s do not use them up (see decideRetry). */
	maxAttempts: number;
	/** The most requests in flight at once to each host: the ceiling of its adaptive window. */
	maxInFlight: number;
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
	download<T>(
		itemIndex: number,
		url: string,
		store: (body: Readable, headers: IDataObject) => Promise<T>,
	): Promise<T>;
	/** Item `itemIndex` failed for good: no further request is sent; waiting and later calls throw "not checked". */
	stop(itemIndex: number): void;
}

/** How one attempt went. */
type Attempt<T> =
	| { kind: 'done'; value: T; statusCode: number; retryAfterMs?: number }
	| { kind: 'answer'; statusCode: number; body: string; headers: IDataObject }
	| { kind: 'oversized'; statusCode: number; bytes: number }
	| { kind: 'network'; code: string; message: string }
	| { kind: 'not sent' };
type Failed = Extract<
	Attempt<unknown>,
	{ kind: 'answer' } | { kind: 'oversized' } | { kind: 'network' }
>;
/** After a failed attempt: wait and try again, or give up with this error. */
type Decision = { retryInMs: number } | { error: NodeApiError };
/** What came out of one attempt's turn through the gate. */
type Turn<T> =
	| { outcome: Extract<Attempt<T>, { kind: 'done' } | { kind: 'not sent' }> }
	| { outcome: Failed; decision: Decision };

export function createCambClient(
	ctx: IExecuteFunctions,
	baseUrl: string,
	settings: RequestSettings,
): CambClient {
	const backoff = settings.backoff ?? DEFAULT_BACKOFF;
	const clock = {
		now: () => Date.now(),
		sleep: async (ms: number) => await pause(ms, ctx.getExecutionCancelSignal()),
	};
	// CAMB.AI and the storage host that serves stems have limits of their own: one gate each.
	const cambGate = createGate(settings.maxInFlight, clock);
	const storageGate = createGate(settings.maxInFlight, clock);
	let stoppedBecause: string | undefined;
	// Once CAMB has rejected the key, every later request would be rejected too: don't send it again.
	let keyRejection: { statusCode: number; body: string } | undefined;

	/**
	 * Runs one attempt through the host's gate and decides, before the gate hears the answer, whether
	 * it failed for good: so under Stop Workflow no request queued behind it goes out once the run is lost.
	 */
	async function attempt<T>(
		gate: Gate,
		itemIndex: number,
		send: () => Promise<Attempt<T>>,
		decide: (failed: Failed) => Decision,
	): Promise<Turn<T>> {
		return await gate.through(async (): Promise<Judged<Turn<T>>> => {
			if (stoppedBecause !== undefined || keyRejection || isCancelled(ctx)) {
				return { value: { outcome: { kind: 'not sent' } }, signal: 'neutral' };
			}
			let outcome: Attempt<T>;
			try {
				outcome = await send();
			} catch (error) {
				if (isCancelled(ctx)) throw cancelledError(ctx);
				outcome = { kind: 'network', ...networkProblem(error) };
			}
			const load = loadOf(outcome);
			if (outcome.kind === 'done' || outcome.kind === 'not sent')
				return { value: { outcome }, ...load };
			const decision = decide(outcome);
			if ('error' in decision && settings.stopOnFirstError) stop(itemIndex);
			return { value: { outcome, decision }, ...load };
		});
	}

	/** The retry loop shared by CAMB calls and downloads. `refuse` explains answers not worth retrying. */
	async function retrying<T>(
		gate: Gate,
		itemIndex: number,
		label: string,
		who: string,
		send: () => Promise<Attempt<T>>,
		refuse: (answer: Extract<Failed, { kind: 'answer' }>) => NodeApiError,
	): Promise<T> {
		const startedAt = Date.now();
		let state: RetryState = { failures: 0 };
		let sent = 0;
		const decide = (outcome: Failed): Decision => {
			sent++;
			if (outcome.kind === 'oversized')
				return { error: oversizedAnswer(ctx, itemIndex, label, who, outcome) };
			const serverAsked =
				outcome.kind === 'answer' ? retryAfterMs(outcome.headers, Date.now()) : undefined;
			const retryable =
				outcome.kind === 'network'
					? isRetryableNetworkError(outcome)
					: isRetryableStatus(outcome.statusCode);
			const rateLimited = outcome.kind === 'answer' && outcome.statusCode === 429;
			const decision = decideRetry(
				{ retryable, rateLimited, serverAskedMs: serverAsked },
				state,
				Date.now(),
				settings.maxAttempts,
				backoff,
			);
			state = decision.state;
			if ('retryInMs' in decision) return { retryInMs: decision.retryInMs };
			if (decision.giveUp === 'not-retryable') {
				return {
					error:
						outcome.kind === 'answer' ? refuse(outcome) : failed(ctx, itemIndex, label, outcome),
				};
			}
			// Counted as "Attempts per Check" counts them: 429s used up none.
			const attempts = Math.max(1, decision.state.failures);
			const turnedBack = sent - attempts;
			const why = giveUpReason(decision.giveUp, who, label, attempts, outcome, serverAsked);
			return {
				error: gaveUp(ctx, itemIndex, label, outcome, attempts, turnedBack, startedAt, why),
			};
		};

		for (;;) {
			const turn = await attempt(gate, itemIndex, send, decide);
			if ('decision' in turn) {
				if ('error' in turn.decision) throw turn.decision.error;
				if (turn.decision.retryInMs > 0)
					await pause(turn.decision.retryInMs, ctx.getExecutionCancelSignal());
				continue;
			}
			if (turn.outcome.kind === 'done') return turn.outcome.value;
			if (keyRejection)
				throw keyRejected(ctx, itemIndex, keyRejection.statusCode, keyRejection.body);
			if (isCancelled(ctx)) throw cancelledError(ctx);
			throw notChecked(ctx, itemIndex, stoppedBecause ?? 'the execution stopped');
		}
	}

	async function request(itemIndex: number, request: CambRequest): Promise<HttpAnswer> {
		const label = `${request.method} ${request.path}`;
		const isAnswer = (code: number) =>
			(code >= 200 && code < 300) || (request.answers ?? []).includes(code);
		const send = async (): Promise<Attempt<HttpAnswer>> => {
			const response = (await ctx.helpers.httpRequestWithAuthentication.call(ctx, CREDENTIAL_TYPE, {
				method: request.method,
				url: `${baseUrl}${request.path}`,
				body: request.body,
				json: request.body !== undefined,
				// Read as a stream, so an answer can be capped instead of held whole (see readCapped).
				encoding: 'stream',
				headers: { accept: 'application/json' },
				timeout: settings.timeoutMs,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
				// A redirect could carry the API key to another host: treat it as an unexpected answer.
				disableFollowRedirect: true,
			})) as IN8nHttpFullResponse;
			const { statusCode, headers } = response;
			const read = await readCapped(
				response.body,
				headers,
				settings.timeoutMs,
				ctx.getExecutionCancelSignal(),
			);
			if ('oversized' in read) return { kind: 'oversized', statusCode, bytes: read.oversized };
			const body = read.text;
			// Noted before the slot is handed on, so no queued request goes out with the same key.
			if (statusCode === 401 || statusCode === 403) keyRejection ??= { statusCode, body };
			if (isAnswer(statusCode)) {
				return {
					kind: 'done',
					statusCode,
					value: { statusCode, body, retryAfterMs: retryAfterMs(headers, Date.now()) },
				};
			}
			return { kind: 'answer', statusCode, body, headers };
		};
		return await retrying(cambGate, itemIndex, label, 'CAMB.AI', send, (answer) =>
			answer.statusCode === 401 || answer.statusCode === 403
				? keyRejected(ctx, itemIndex, answer.statusCode, answer.body)
				: unexpectedAnswer(ctx, itemIndex, `CAMB.AI answered ${label}`, answer),
		);
	}

	async function download<T>(
		itemIndex: number,
		url: string,
		store: (body: Readable, headers: IDataObject) => Promise<T>,
	): Promise<T> {
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
				return {
					kind: 'answer',
					statusCode: response.statusCode,
					body: await readStart(body),
					headers: response.headers,
				};
			}
			return {
				kind: 'done',
				statusCode: response.statusCode,
				value: await store(body, response.headers),
			};
		};
		return await retrying(storageGate, itemIndex, label, 'The storage host', send, (answer) =>
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

/** What an attempt says about the host's load, for its gate; with the pause it asked for, if usable. */
function loadOf(outcome: Attempt<unknown>): { signal: LoadSignal; retryAfterMs?: number } {
	if (outcome.kind === 'not sent') return { signal: 'neutral' };
	if (outcome.kind === 'network') return { signal: isTimeout(outcome) ? 'overloaded' : 'neutral' };
	const asked =
		outcome.kind === 'answer'
			? retryAfterMs(outcome.headers, Date.now())
			: outcome.kind === 'done'
				? outcome.retryAfterMs
				: undefined;
	// A pause longer than the node waits fails that request; it does not stall every other one.
	const retryAfter = asked !== undefined && asked <= MAX_RETRY_AFTER_MS ? asked : undefined;
	if (outcome.statusCode === 429) return { signal: 'limited', retryAfterMs: retryAfter };
	if (outcome.statusCode === 503) return { signal: 'overloaded', retryAfterMs: retryAfter };
	if (outcome.statusCode >= 500) return { signal: 'neutral', retryAfterMs: retryAfter };
	return { signal: 'clean' };
}

function isTimeout(problem: { code: string; message: string }): boolean {
	return (
		['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED'].includes(problem.code) ||
		/timeout of \d+ms exceeded|stalled/i.test(problem.message)
	);
}

function giveUpReason(
	why: Exclude<GiveUp, 'not-retryable'>,
	who: string,
	label: string,
	sent: number,
	last: Failed,
	serverAsked?: number,
): string {
	if (why === 'asked-too-long') {
		const seconds = Math.ceil((serverAsked ?? 0) / 1000);
		return `${who} asked to wait ${seconds > 86_400 ? 'more than a day' : `${seconds} s`} before trying again, longer than this node waits`;
	}
	if (why === 'rate-limited-too-long') {
		return `${who} kept answering ${label} with 429 (rate limited) for ${RATE_LIMIT_PATIENCE_MS / 1000} s; this node waits no longer`;
	}
	// The label names the task (or file), so the error says which one even where n8n drops the item's data.
	// No system error code in the message: n8n would swap the whole message for its generic text.
	const lastAnswer = last.kind === 'network' ? 'no usable connection' : `HTTP ${last.statusCode}`;
	return `${who} could not answer ${label} after ${sent} attempt${sent === 1 ? '' : 's'} (last: ${lastAnswer})`;
}

export function isCancelled(ctx: IExecuteFunctions): boolean {
	return ctx.getExecutionCancelSignal()?.aborted === true;
}

/** Worded as n8n words it: the engine recognises "canceled" and marks the execution canceled, not failed. */
export function cancelledError(ctx: IExecuteFunctions): NodeOperationError {
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

/**
 * Reads an answer whole, up to MAX_ANSWER_BYTES (after decompression: n8n inflates gzip before
 * the stream reaches us, so a small body that inflates to gigabytes is stopped too). A body that
 * announces or reaches more is left unread. A body that stops arriving for `stallMs` is treated
 * as a time-out, like a request that never answered.
 */
async function readCapped(
	body: unknown,
	headers: IDataObject,
	stallMs: number,
	signal: AbortSignal | undefined,
): Promise<{ text: string } | { oversized: number }> {
	if (!isReadable(body)) return { text: bodyText(body) };
	const declared = Number(headerValue(headers, 'content-length'));
	if (Number.isFinite(declared) && declared > MAX_ANSWER_BYTES) {
		body.destroy();
		return { oversized: declared };
	}
	const chunks: Buffer[] = [];
	let size = 0;
	const chunksIn = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
	try {
		for (;;) {
			const next = await withWatchdog(chunksIn.next(), stallMs, signal);
			if (next.done) break;
			const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
			size += chunk.length;
			if (size > MAX_ANSWER_BYTES) return { oversized: size };
			chunks.push(chunk);
		}
	} finally {
		body.destroy();
	}
	return { text: Buffer.concat(chunks).toString('utf8') };
}

/** The next chunk, or a time-out error once `stallMs` pass without one (the timer ends with the race). */
async function withWatchdog<T>(
	next: Promise<T>,
	stallMs: number,
	signal: AbortSignal | undefined,
): Promise<T> {
	const watchdog = new AbortController();
	const forward = () => watchdog.abort();
	signal?.addEventListener('abort', forward, { once: true });
	const stalled = pause(stallMs, watchdog.signal).then(
		() => {
			throw Object.assign(
				new Error(`the answer stalled: no data for ${Math.round(stallMs / 1000)} s`),
				{ code: 'ETIMEDOUT' },
			);
		},
		() => {
			// Ended by the race (or a cancel, which the caller notices itself): no verdict from here.
			return new Promise<never>(() => {});
		},
	);
	try {
		return await Promise.race([next, stalled]);
	} finally {
		signal?.removeEventListener('abort', forward);
		watchdog.abort();
	}
}

function isReadable(value: unknown): value is Readable {
	return (
		typeof value === 'object' &&
		value !== null &&
		typeof (value as Readable).destroy === 'function' &&
		Symbol.asyncIterator in value
	);
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

function describe(outcome: Failed): string {
	if (outcome.kind === 'answer') return `HTTP ${outcome.statusCode} ${excerpt(outcome.body)}`;
	if (outcome.kind === 'oversized')
		return `HTTP ${outcome.statusCode} with a body of more than ${outcome.bytes} bytes`;
	return `${outcome.code}: ${excerpt(outcome.message)}`;
}

/** An answer too large to be a status or a result: another attempt would get the same. */
function oversizedAnswer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	who: string,
	outcome: Extract<Failed, { kind: 'oversized' }>,
): NodeApiError {
	const limit = `${MAX_ANSWER_BYTES / 1024 / 1024} MiB`;
	return new NodeApiError(ctx.getNode(), { problem: describe(outcome) } as JsonObject, {
		message: `${who}'s answer to ${label} is larger than ${limit}; the rest was not read`,
		description: `A status or result answer is a few hundred bytes; this one had at least ${outcome.bytes} bytes (HTTP ${outcome.statusCode}). Check the Base URL of the credential.`,
		httpCode: String(outcome.statusCode),
		itemIndex,
	});
}

function keyRejected(
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
function unexpectedAnswer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	message: string,
	answer: Extract<Failed, { kind: 'answer' }>,
	advice?: string,
): NodeApiError {
	return new NodeApiError(ctx.getNode(), { problem: describe(answer) } as JsonObject, {
		message: message.includes(`HTTP ${answer.statusCode}`)
			? message
			: `${message} with HTTP ${answer.statusCode}`,
		description: advice ? `${describe(answer)}. ${advice}` : describe(answer),
		httpCode: String(answer.statusCode),
		itemIndex,
	});
}

/** A connection failure another attempt would not cure (an unknown host, a refused URL). */
function failed(
	ctx: IExecuteFunctions,
	itemIndex: number,
	label: string,
	outcome: Failed,
): NodeApiError {
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
	rateLimited: number,
	startedAt: number,
	why: string,
): NodeApiError {
	const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
	const also =
		rateLimited > 0
			? ` (and ${rateLimited} more turned back with 429, which use up no attempt)`
			: '';
	const tried = `Tried ${label} ${attempts} time${attempts === 1 ? '' : 's'}${also} over ${seconds} s; the last attempt failed with ${describe(last)}.`;
	return new NodeApiError(ctx.getNode(), { attempts, last: describe(last) } as JsonObject, {
		message: why,
		description: `${tried} Raise "Attempts per Check" or "Request Timeout" in the node's options, or try again later.`,
		httpCode: last.kind === 'network' ? undefined : String(last.statusCode),
		itemIndex,
	});
}
