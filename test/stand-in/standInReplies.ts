/**
 * What a test scripts the CAMB stand-in to answer (Reply, StreamedBody), checked when it is
 * scripted; the routes and what the stand-in answers unscripted (CAMB.AI's defaults); and how a
 * reply's status, headers and body are written. The server (cambStandIn.ts) decides which reply a
 * request gets and when.
 */
import * as http from 'node:http';
import { MAX_STREAM_CHUNK_BYTES, isPace } from './standInPacing';
import type { RecordedRequest } from './standInRecording';

/** One scripted answer. */
export interface Reply {
	/** HTTP status, default 200. */
	status?: number;
	/** Sent as JSON.stringify(json) with content-type application/json. A bare string is valid JSON. */
	json?: unknown;
	/** Sent as-is with content-type text/html (unless `headers` say otherwise), e.g. a proxy error page. */
	text?: string;
	/** Sent byte for byte, e.g. a gzip body with `headers: { 'content-encoding': 'gzip' }`. */
	raw?: Buffer;
	/**
	 * A large generated body that is never held in memory, e.g. a stem file on a storage host:
	 * `bytes` bytes of the deterministic pattern of `streamPattern()`, written `chunkBytes` at a
	 * time (default 64 KiB, at most 1 MiB) and only as fast as the client reads (a write that
	 * fills the socket's buffer waits for 'drain') and `bytesPerSecond` allows. content-length is
	 * `bytes`, content-type `contentType` (default application/octet-stream); `headers` still win.
	 * With fault 'stall' the first floor(bytes / 2) bytes are sent (at the pace, if any), then
	 * nothing more. Not with `json` or `text`.
	 */
	stream?: StreamedBody;
	/** Extra response headers; they win over the defaults (content-type, content-length). */
	headers?: Record<string, string>;
	/** Wait this long before answering (added to the stand-in's latencyMs), counted from the body's end. */
	delayMs?: number;
	/**
	 * After the whole request body arrived:
	 * reset: destroy the socket without any answer (client sees ECONNRESET / socket hang up).
	 * hang: never answer; the socket stays open until close().
	 * stall: send status, headers (content-length of the full body) and the first half of the
	 *        body, then never finish.
	 * While the body is still arriving, once `afterBodyBytes` of it came (never creates a task):
	 * reset-mid-body: destroy the socket with a TCP RST, like `reset`; the client's upload fails
	 *        with ECONNRESET or EPIPE.
	 * hang-mid-body: stop reading the body (the request is paused, so the kernel's buffers fill and
	 *        the client's writes block) and never answer: only a client time-out ends it.
	 * The request is recorded at that moment with bodyComplete false. A body that ends before
	 * `afterBodyBytes` (only possible without content-length) gets the fault at its end instead.
	 */
	fault?: 'reset' | 'hang' | 'stall' | 'reset-mid-body' | 'hang-mid-body';
	/**
	 * For the mid-body faults: how many body bytes arrive first (it strikes at the first chunk
	 * that reaches it, so a few KiB more may be counted). Default: half the content-length, or
	 * 64 KiB without one; always at most content-length - 1, so the body never completes. 0
	 * strikes right after the headers.
	 */
	afterBodyBytes?: number;
	/**
	 * POST /audio-separation only: does this reply mean CAMB accepted the upload and created a
	 * task? Default: true for a 2xx without a fault, false otherwise. A task is created (listed
	 * in `tasksCreated`) once the whole body has arrived, before the reply's delay and fault, so
	 * `{ fault: 'reset', createsTask: true }` is "CAMB took the file, then the connection
	 * dropped" and `{ fault: 'hang', createsTask: true }` "... then never answered". Its id is
	 * the reply's json.task_id when that is a string, else the next `standin-task-N`; with no
	 * body given (json, text, raw, stream), the answer is `{"task_id": id}`. Not with the
	 * mid-body faults (CAMB cannot accept half a file).
	 */
	createsTask?: boolean;
}

/** See Reply.stream. */
export interface StreamedBody {
	/** Body length; any safe integer >= 0 (gigabytes are fine: nothing is buffered). */
	bytes: number;
	/** Default application/octet-stream. */
	contentType?: string;
	/** Bytes per write, 1 to 1 MiB; default 64 KiB, or 50 ms at bytesPerSecond (at most 64 KiB). */
	chunkBytes?: number;
	/**
	 * A slow link: each chunk is written once a link at this pace (any positive number) would have
	 * carried it, so by any time t after the headers at most t * bytesPerSecond bytes went out.
	 */
	bytesPerSecond?: number;
}

/** The upload route. */
export const UPLOAD_PATH = '/audio-separation';

const TASK_STATUS_PREFIX = '/audio-separation/';

/**
 * The raw path a client sends for a task's status. The id is percent-encoded the way a
 * careful client would (encodeURIComponent), so an id such as "../list-voices" stays inside
 * the status route instead of escaping to another one.
 */
export function taskStatusPath(taskId: string): string {
	return TASK_STATUS_PREFIX + encodeURIComponent(taskId);
}

/** The path of one run's result (stem links): run ids are integers, so nothing needs encoding. */
export function resultPath(runId: number): string {
	return `/audio-separation-result/${runId}`;
}

/** The raw pathname: everything before the query. Deliberately not decoded or normalised. */
export function rawPathname(rawUrl: string): string {
	const queryStart = rawUrl.indexOf('?');
	return queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
}

/** One map key per route; methods are compared case-insensitively like HTTP does. */
export function routeKey(method: string, pathname: string): string {
	return `${method.toUpperCase()} ${pathname}`;
}

/** True for /audio-separation/{one non-empty segment}: the shape FastAPI would route to the status handler. */
function isTaskStatusPathname(pathname: string): boolean {
	if (!pathname.startsWith(TASK_STATUS_PREFIX)) return false;
	const id = pathname.slice(TASK_STATUS_PREFIX.length);
	return id.length > 0 && !id.includes('/');
}

/** What the stand-in answers when no script covers the request; mirrors the real service's defaults. */
export function defaultReply(method: string, pathname: string): Reply {
	if (method === 'GET' && pathname === '/list-voices') {
		// The credential test calls this to check a key; any 200 list will do.
		return { json: [{ id: 1, voice_name: 'stand-in' }] };
	}
	if (method === 'GET' && isTaskStatusPathname(pathname)) {
		return { status: 404, json: { detail: 'Task not found' } };
	}
	return { status: 404, json: { detail: 'Not Found' } };
}

/** FastAPI's 422 for a form without the file: what CAMB answers an upload it cannot use. */
function uploadRefusal(msg: string, type: string): Reply {
	return { status: 422, json: { detail: [{ loc: ['body', 'media_file'], msg, type }] } };
}

/**
 * The unscripted answer to POST /audio-separation once its body has arrived: a task for a
 * well-formed form with exactly one file in media_file, else a 422 and no task. (Starlette
 * would take the last of two files; the stand-in refuses them, so a client that sends the
 * file twice is caught.)
 */
export function defaultUploadReply(request: RecordedRequest): { reply: Reply; accepted: boolean } {
	const multipart = request.multipart;
	if (!multipart) return { reply: uploadRefusal('Field required', 'missing'), accepted: false };
	if (!multipart.complete)
		return {
			reply: uploadRefusal(
				`There was an error parsing the body: ${multipart.error ?? 'incomplete'}`,
				'value_error',
			),
			accepted: false,
		};
	const files = multipart.files.filter((file) => file.field === 'media_file');
	if (files.length === 1) return { reply: {}, accepted: true };
	if (files.length > 1)
		return {
			reply: uploadRefusal(`Expected one file, got ${files.length}`, 'value_error'),
			accepted: false,
		};
	if ('media_file' in multipart.fields)
		return {
			reply: uploadRefusal("Expected UploadFile, received: <class 'str'>", 'value_error'),
			accepted: false,
		};
	return { reply: uploadRefusal('Field required', 'missing'), accepted: false };
}

const MID_BODY_FAULTS: ReadonlyArray<Reply['fault']> = ['reset-mid-body', 'hang-mid-body'];
const FAULTS: ReadonlyArray<Reply['fault']> = ['reset', 'hang', 'stall', ...MID_BODY_FAULTS];

export function isMidBodyFault(reply: Reply): boolean {
	return MID_BODY_FAULTS.includes(reply.fault);
}

/** Reply.createsTask with its default: a 2xx without a fault. */
export function acceptsUpload(reply: Reply): boolean {
	const status = reply.status ?? 200;
	return reply.createsTask ?? (status >= 200 && status < 300 && reply.fault === undefined);
}

/** The FastAPI-style answer to a missing or wrong key. */
export const INVALID_KEY_REPLY: Reply = { status: 401, json: { detail: 'Invalid API key' } };

/** Catch scripting mistakes when the test is written, not as a puzzling answer later. */
export function validateReplies(route: string, replies: Reply[]): void {
	if (replies.length === 0) {
		throw new Error(`stand-in: no replies given for ${route}`);
	}
	for (const reply of replies) {
		const bodies = (['json', 'text', 'raw', 'stream'] as const).filter(
			(kind) => reply[kind] !== undefined,
		);
		if (bodies.length > 1) {
			throw new Error(`stand-in: a reply for ${route} has both ${bodies.join(' and ')}; pick one`);
		}
		if (reply.stream !== undefined) validateStream(route, reply.stream);
		if (
			reply.status !== undefined &&
			!(Number.isInteger(reply.status) && reply.status >= 100 && reply.status <= 999)
		) {
			throw new Error(`stand-in: invalid status ${String(reply.status)} for ${route}`);
		}
		if (reply.fault !== undefined && !FAULTS.includes(reply.fault)) {
			throw new Error(`stand-in: unknown fault ${String(reply.fault)} for ${route}`);
		}
		if (reply.afterBodyBytes !== undefined) {
			if (!isMidBodyFault(reply))
				throw new Error(`stand-in: afterBodyBytes without a mid-body fault for ${route}`);
			if (!(Number.isSafeInteger(reply.afterBodyBytes) && reply.afterBodyBytes >= 0))
				throw new Error(
					`stand-in: invalid afterBodyBytes ${String(reply.afterBodyBytes)} for ${route}`,
				);
		}
		if (reply.createsTask !== undefined && route !== routeKey('POST', UPLOAD_PATH))
			throw new Error(`stand-in: createsTask is for POST ${UPLOAD_PATH} only, not ${route}`);
		if (reply.createsTask === true && isMidBodyFault(reply))
			throw new Error(`stand-in: ${String(reply.fault)} cannot create a task (${route})`);
	}
}

function validateStream(route: string, stream: StreamedBody): void {
	if (!(Number.isSafeInteger(stream.bytes) && stream.bytes >= 0)) {
		throw new Error(`stand-in: invalid stream bytes ${String(stream.bytes)} for ${route}`);
	}
	const chunkBytes = stream.chunkBytes;
	if (
		chunkBytes !== undefined &&
		!(Number.isInteger(chunkBytes) && chunkBytes >= 1 && chunkBytes <= MAX_STREAM_CHUNK_BYTES)
	) {
		throw new Error(
			`stand-in: invalid stream chunkBytes ${String(chunkBytes)} for ${route} (1 to ${MAX_STREAM_CHUNK_BYTES})`,
		);
	}
	if (stream.bytesPerSecond !== undefined && !isPace(stream.bytesPerSecond)) {
		throw new Error(
			`stand-in: invalid stream bytesPerSecond ${String(stream.bytesPerSecond)} for ${route} (a positive number)`,
		);
	}
}

/** The bytes to send and the content-type they imply (none for an empty reply). */
export function encodeBody(reply: Reply): { body: Buffer; contentType?: string } {
	if (reply.json !== undefined) {
		return {
			body: Buffer.from(JSON.stringify(reply.json), 'utf8'),
			contentType: 'application/json',
		};
	}
	if (reply.text !== undefined) {
		return { body: Buffer.from(reply.text, 'utf8'), contentType: 'text/html' };
	}
	if (reply.raw !== undefined) return { body: reply.raw, contentType: 'application/octet-stream' };
	return { body: Buffer.alloc(0) };
}

/** Status and headers for a reply; the reply's own headers are set last so they win (setHeader is case-insensitive). */
export function writeHead(
	res: http.ServerResponse,
	reply: Reply,
	contentLength: number,
	contentType: string | undefined,
): void {
	res.statusCode = reply.status ?? 200;
	if (contentType !== undefined) res.setHeader('content-type', contentType);
	// Always the FULL length, even when stalling: the client must believe more is coming.
	res.setHeader('content-length', contentLength);
	for (const [name, value] of Object.entries(reply.headers ?? {})) {
		res.setHeader(name, value);
	}
}

/**
 * A broken script (e.g. a header value Node refuses) answers 500 with the reason, so the
 * failing test shows why instead of timing out on a request nobody answers.
 */
export function failLoudly(res: http.ServerResponse, error: unknown): void {
	if (res.headersSent) {
		res.destroy();
		return;
	}
	const body = JSON.stringify({ detail: `stand-in script error: ${String(error)}` });
	res.writeHead(500, {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(body),
	});
	res.end(body);
}

/** Body bytes a mid-body fault lets in first: see Reply.afterBodyBytes. */
export function midBodyThreshold(reply: Reply, declared: number | undefined): number {
	const wanted =
		reply.afterBodyBytes ?? (declared === undefined ? 64 * 1024 : Math.floor(declared / 2));
	return declared === undefined ? wanted : Math.max(0, Math.min(wanted, declared - 1));
}
