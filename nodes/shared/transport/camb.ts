/**
 * Requests to CAMB.AI: sent through the credential (which adds the x-api-key header), answers
 * read with a cap, a rejected key noted so no other request goes out with it.
 */
import type {
	ICredentialsDecrypted,
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	IN8nHttpFullResponse,
} from 'n8n-workflow';

import { keyRejected, unexpectedAnswer, type CambError } from '../errors';
import { describe, errorStatus, type Attempt, type ErrorStatus } from './attempt';
import type { Gate } from './gate';
import { readCapped } from './readAnswer';
import type { Retrier } from './retrying';
import { retryAfterMs } from './retryPolicy';
import type { Watchdog } from './watchdog';

/** What every CAMB request of one execution shares. */
export interface CambHost {
	ctx: IExecuteFunctions;
	retrier: Retrier;
	gate: Gate;
	baseUrl: string;
	timeoutMs: number;
	/** The credential, read once per execution (see sendToCamb). */
	credential: ICredentialsDecrypted;
	/** Fails uploads and answers that stop moving for `timeoutMs`. */
	watchdog: Watchdog;
}

export const CREDENTIAL_TYPE = 'cambAiApi';

/**
 * Sends one request through n8n's authentication path, which adds the credential's x-api-key
 * header. The credential read once per execution is handed in: otherwise n8n reads it from its
 * database and decrypts it again for every request (in n8n 1.x, one query per request).
 */
export async function sendToCamb(
	host: CambHost,
	options: IHttpRequestOptions,
): Promise<IN8nHttpFullResponse> {
	const { ctx } = host;
	return (await ctx.helpers.httpRequestWithAuthentication.call(
		ctx,
		CREDENTIAL_TYPE,
		{ ...options, returnFullResponse: true },
		{ credentialsDecrypted: host.credential },
	)) as IN8nHttpFullResponse;
}

export interface CambRequest {
	method: IHttpRequestMethods;
	/** Path below the base URL, already encoded. */
	path: string;
	body?: IDataObject;
	/** Non-2xx codes the caller decides about itself instead of them being retried or raised. */
	alsoAccepted?: number[];
}

/**
 * An answer the caller accepted: a 2xx or one of its `alsoAccepted` codes (for a status check: 404, 422, and
 * while waiting 429). Everything else is a request failure. `retryAfterMs`: the pause the server
 * asked for, handed to a waiting caller with its 429.
 */
export interface CambAnswer {
	statusCode: number;
	body: string;
	retryAfterMs?: number;
}

/**
 * Every CAMB.AI answer, to a request or an upload, is judged here: read with a cap, a rejected
 * key noted (before the slot is handed on, so no queued request goes out with the same key), and
 * `done` when the caller accepts its status, an `error status` otherwise.
 */
export async function judge(
	host: CambHost,
	response: IN8nHttpFullResponse,
	accepts: (statusCode: number) => boolean,
): Promise<Attempt<CambAnswer>> {
	const { statusCode, headers } = response;
	const read = await readCapped(response.body, headers, host.watchdog);
	if ('oversized' in read) return { kind: 'oversized', statusCode, bytes: read.oversized };
	const body = read.text;
	if (statusCode === 401 || statusCode === 403) host.retrier.keyRejectedWith(statusCode, body);
	if (!accepts(statusCode)) return errorStatus(statusCode, headers, body);
	// A waiting caller hands the pause a 429 asked for to its wait loop.
	const asked = retryAfterMs(headers, Date.now());
	return {
		kind: 'done',
		statusCode,
		value: { statusCode, body, retryAfterMs: asked },
		retryAfterMs: asked,
	};
}

export async function requestCamb(
	host: CambHost,
	itemIndex: number,
	request: CambRequest,
): Promise<CambAnswer> {
	const { timeoutMs } = host;
	const label = `${request.method} ${request.path}`;
	const isAnswer = (code: number) =>
		(code >= 200 && code < 300) || (request.alsoAccepted ?? []).includes(code);
	const send = async (): Promise<Attempt<CambAnswer>> => {
		const response = await sendToCamb(host, {
			method: request.method,
			url: `${host.baseUrl}${request.path}`,
			body: request.body,
			json: request.body !== undefined,
			// Read as a stream, so an answer can be capped instead of held whole (see readCapped).
			encoding: 'stream',
			headers: { accept: 'application/json' },
			timeout: timeoutMs,
			ignoreHttpStatusErrors: true,
			// A redirect could carry the API key to another host: treat it as an unexpected answer.
			disableFollowRedirect: true,
		});
		return await judge(host, response, isAnswer);
	};
	return await host.retrier.run(host.gate, {
		itemIndex,
		label,
		who: 'CAMB.AI',
		send,
		refuse: refusal(itemIndex, `CAMB.AI answered ${label}`),
	});
}

/** The error for an answer not worth retrying: a rejected key, or `what` with CAMB.AI's answer. */
export function refusal(itemIndex: number, what: string) {
	return (answer: ErrorStatus): CambError =>
		answer.statusCode === 401 || answer.statusCode === 403
			? keyRejected(itemIndex, answer.statusCode, answer.body)
			: unexpectedAnswer(itemIndex, what, {
					statusCode: answer.statusCode,
					problem: describe(answer),
				});
}
