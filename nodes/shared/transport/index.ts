/**
 * The one place that talks HTTP, for both nodes: CAMB.AI calls (authenticated through the
 * credential) and stem downloads (never authenticated), each host behind its own gate (gate.ts:
 * an adaptive window, pace and shared cool-down), with retries (retrying.ts), answers read with
 * a size cap (readAnswer.ts), and request failures turned into n8n errors (../errors.ts) that say
 * what was tried. Task outcomes are not decided here.
 *
 *   index.ts     the client of one execution: its settings, its two gates, what callers may ask
 *   camb.ts      requests to CAMB.AI          storage.ts   downloads from the storage host
 *   upload.ts + multipart.ts  uploads to CAMB.AI, streamed under an idle watch, never repeated when they may have arrived
 *   retrying.ts  the retry loop               attempt.ts   how one attempt went
 *   gate.ts + rateControl.ts  how fast        retryPolicy.ts  whether and when to try again
 *   readAnswer.ts + watchdog.ts  answers read with a cap; uploads and answers failed when they stop moving
 */
import type { ICredentialsDecrypted, IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { badBaseUrl, type CambError } from '../errors';
import { pause } from '../pause';
import { checkBaseUrl } from '../validate';
import { CREDENTIAL_TYPE, requestCamb, type CambAnswer, type CambRequest } from './camb';
import { createGate } from './gate';
import type { Readable } from './readAnswer';
import { createRetrier, type RetrySettings } from './retrying';
import { download } from './storage';
import { uploadToCamb, type Upload } from './upload';
import { createWatchdog } from './watchdog';

export { CREDENTIAL_TYPE, type CambAnswer, type CambRequest } from './camb';
export { isCancelled } from './retrying';
export type { Readable } from './readAnswer';
export type { FilePart } from './multipart';
export type { Upload } from './upload';

export interface ClientSettings extends RetrySettings {
	/** Give up on one attempt after this long without a byte from the server. */
	timeoutMs: number;
	/** The most requests in flight at once to each host: the ceiling of its adaptive window. */
	maxInFlight: number;
}

export interface CambClient {
	/** 2xx and the request's `alsoAccepted` codes come back; anything else is retried, then raised as an error (errors.ts). */
	request(itemIndex: number, request: CambRequest): Promise<CambAnswer>;
	/**
	 * Downloads a pre-signed storage link WITHOUT the API key and hands the body stream to `store`.
	 * A failure mid-way (reset, stall) retries the whole download.
	 */
	download<T>(
		itemIndex: number,
		url: string,
		store: (body: Readable, headers: IDataObject) => Promise<T>,
	): Promise<T>;
	/**
	 * Uploads a file to CAMB.AI as multipart/form-data, streamed. Sent again only when CAMB.AI cannot
	 * have taken it (see upload.ts); the answer is a 2xx, anything else is raised as an error (errors.ts).
	 */
	upload(itemIndex: number, upload: Upload): Promise<CambAnswer>;
	/** Item `itemIndex` failed for good under Stop Workflow: no further request is sent; waiting and later calls throw "not checked". */
	itemFailed(itemIndex: number): void;
	/** The node's work is done: the watchdog on answers stops, so no timer outlives the execution. */
	close(): void;
}

export function createCambClient(
	ctx: IExecuteFunctions,
	baseUrl: string,
	credential: ICredentialsDecrypted,
	settings: ClientSettings,
): CambClient {
	const clock = {
		now: () => Date.now(),
		sleep: async (ms: number) => await pause(ms, ctx.getExecutionCancelSignal()),
	};
	// CAMB.AI and the storage host that serves stems have limits of their own: one gate each.
	const cambGate = createGate(settings.maxInFlight, clock);
	const storageGate = createGate(settings.maxInFlight, clock);
	const retrier = createRetrier(ctx, settings);
	const camb = {
		ctx,
		retrier,
		gate: cambGate,
		baseUrl,
		timeoutMs: settings.timeoutMs,
		credential,
		watchdog: createWatchdog(settings.timeoutMs, { now: clock.now, sleep: pause }),
	};
	const storage = { ctx, retrier, gate: storageGate, timeoutMs: settings.timeoutMs };

	return {
		request: async (itemIndex, request) => await requestCamb(camb, itemIndex, request),
		download: async (itemIndex, url, store) => await download(storage, itemIndex, url, store),
		upload: async (itemIndex, upload) => await uploadToCamb(camb, itemIndex, upload),
		itemFailed: (itemIndex) => retrier.itemFailed(itemIndex),
		close: () => camb.watchdog.close(),
	};
}

/** The options both nodes offer for their requests, as the user sets them. */
export interface RequestOptions {
	timeoutSeconds: number;
	attempts: number;
	maxInFlight: number;
}

/**
 * The client for this execution, from the credential and the node's options; or why none can
 * exist (a bad Base URL stops every item). Under Stop Workflow the first item that fails for good
 * stops every request after it.
 */
export async function connect(
	ctx: IExecuteFunctions,
	options: RequestOptions,
	continueOnFail: boolean,
): Promise<CambClient | CambError> {
	const data = await ctx.getCredentials(CREDENTIAL_TYPE);
	const baseUrl = checkBaseUrl(data.baseUrl);
	if (!baseUrl.ok) return badBaseUrl(baseUrl.problem);
	// Which credential the node uses, for n8n's authentication path (camb.ts, sendToCamb).
	const chosen = ctx.getNode().credentials?.[CREDENTIAL_TYPE];
	const credential = {
		id: chosen?.id ?? '',
		name: chosen?.name ?? '',
		type: CREDENTIAL_TYPE,
		data,
	};
	return createCambClient(ctx, baseUrl.value, credential, {
		timeoutMs: options.timeoutSeconds * 1000,
		maxAttempts: options.attempts,
		maxInFlight: options.maxInFlight,
		stopOnFirstError: !continueOnFail,
	});
}
