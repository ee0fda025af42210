/**
 * A scripted stand-in of the CAMB.AI API for tests.
 *
 * It is a real HTTP server (node:http only) on 127.0.0.1 and a free port, so the node under
 * test goes through its real HTTP stack: headers, status codes, timeouts and broken sockets
 * behave as they would against client.camb.ai. Tests script what each route answers, one
 * reply per request, and read back what the node actually sent.
 *
 * Request bodies are read as a stream and never held whole: a multipart/form-data body (the
 * upload, POST /audio-separation) is parsed as it arrives (multipart.ts), keeping text fields and
 * only the length and sha256 of each file, so a 1 GiB upload costs no memory; any other body is
 * kept as text up to MAX_RECORDED_BODY_BYTES. Every request is recorded once its body has ended,
 * whole or not (RecordedRequest.bodyComplete), so a test sees an upload that broke off too.
 *
 * Uploads that CAMB accepted are listed in `tasksCreated`: the proof that the node never created
 * two tasks for one item. Unscripted, a well-formed upload creates a task and gets its id; a
 * script says per reply whether CAMB took the file (Reply.createsTask), so "accepted, then the
 * connection dropped" and "refused" can both be played. Faults can also strike mid-upload
 * ('reset-mid-body', 'hang-mid-body').
 *
 * When an answer is chosen: at once when the request's headers arrive (the api key check, the
 * rate limit's token and the script's next reply), which is when a gateway decides. By default it
 * is SENT only after the whole body has been read, refusals (401, 429) included: that is what a
 * FastAPI app does when a dependency checks the key (it reads the form before it solves the
 * dependencies), and it is the one order in which no client can miss the answer. A server that answers and closes while the client is
 * still writing makes the kernel reset the connection, and a client that has not read the answer
 * yet sees ECONNRESET/EPIPE instead of the 429. StandInOptions.refuseEarly plays a gateway that
 * refuses at the headers and then reads the rest of the body before closing (nginx's lingering
 * close), so the client gets the refusal while still uploading.
 *
 * A second instance on another port can play the storage host of the pre-signed stem URLs:
 * `Reply.stream` serves bodies of any size (a deterministic pattern, see pattern.ts) without
 * holding them in memory.
 *
 * Either side can play a slow link: StandInOptions.readBytesPerSecond reads every request body at
 * that pace (the client's writes fill the kernel's buffers, then block), StreamedBody.bytesPerSecond
 * writes a streamed answer at its pace. Idle, a link saves no more than PACE_CREDIT_MS of credit.
 */
import * as diagnostics from 'node:diagnostics_channel';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import {
	MultipartParser,
	boundaryOf,
	isMultipartFormData,
	type MultipartRecord,
} from './multipart';
import { MAX_PATTERN_VIEW_BYTES, patternView } from './pattern';

// The pattern and the multipart helpers are part of the stand-in's API: tests import them from here.
export {
	STREAM_PATTERN_PERIOD,
	checkStreamPattern,
	patternChunks,
	patternSha256,
	streamPattern,
	writePatternFile,
	type StreamPatternCheck,
} from './pattern';
export {
	MAX_FIELD_BYTES,
	MultipartParser,
	multipartBody,
	uploadProblems,
	type ExpectedUpload,
	type FormPart,
	type MultipartBody,
	type MultipartRecord,
	type RecordedFile,
} from './multipart';

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

export interface RecordedRequest {
	method: string;
	/** Raw request URL exactly as received, query included. */
	path: string;
	/** Node's lower-cased request headers. */
	headers: Record<string, string | string[] | undefined>;
	/**
	 * The request body as UTF-8 ('' when there was none), its first MAX_RECORDED_BODY_BYTES only
	 * (see bodyTruncated). Always '' for multipart/form-data: see `multipart`.
	 */
	body: string;
	/** True when `body` holds only the first MAX_RECORDED_BODY_BYTES of a longer body. */
	bodyTruncated?: true;
	/** Body bytes received, multipart or not, whole or not. */
	bodyBytes: number;
	/**
	 * False when the body never finished arriving: the client went away, or a mid-body fault
	 * reset the connection or stopped reading. `bodyError` says which.
	 */
	bodyComplete: boolean;
	/** Date.now() when the body ended, whole or not (a mid-body fault struck, the client went away). */
	bodyEndedAt?: number;
	/** Why bodyComplete is false. */
	bodyError?: string;
	/** A multipart/form-data body as parsed (set for that content-type only, even when malformed). */
	multipart?: MultipartRecord;
	/** Date.now() when the request arrived. */
	at: number;
	/**
	 * Date.now() when an HTTP client in THIS process created the request (node:diagnostics_channel),
	 * i.e. when the node under test decided to send it; undefined for requests from other processes
	 * (real n8n in e2e tests). Timing checks of the node's pauses use it: on a busy machine the
	 * stand-in can notice a request late, which shortens the gap seen at `at`, never `sentAt`'s.
	 */
	sentAt?: number;
}

/** An upload CAMB accepted: one per task the node caused. */
export interface CreatedTask {
	/** The task_id answered. */
	taskId: string;
	/** Index in `requests` of the upload that created it (valid until reset()). */
	requestIndex: number;
	/** The media_file's sha256 and length; undefined when a script accepted a body without exactly one. */
	fileSha256: string | undefined;
	bytes: number | undefined;
}

export interface StandIn {
	/** e.g. http://127.0.0.1:45678 (no trailing slash). */
	readonly baseUrl: string;
	readonly port: number;
	/** Every request, in the order their bodies ended (arrived whole or broke off). */
	readonly requests: RecordedRequest[];
	/**
	 * Tasks created by uploads (POST /audio-separation), in order. Unscripted: one per complete
	 * upload with exactly one file in media_file. Scripted: see Reply.createsTask.
	 */
	readonly tasksCreated: CreatedTask[];
	/** Script the answers for GET /audio-separation/{encodeURIComponent(taskId)}: the i-th request gets replies[i]; once exhausted the last reply repeats. */
	task(taskId: string, ...replies: Reply[]): void;
	/** Script any route by method and raw path (pathname exactly as received, without query). Same sequence semantics. */
	on(method: string, path: string, ...replies: Reply[]): void;
	/** Requests received for one task's status path. */
	requestsForTask(taskId: string): RecordedRequest[];
	/** The most requests that were open (received, not yet answered or dropped) at one time since start or reset(). */
	readonly maxConcurrent: number;
	/**
	 * The most bytes of a streamed body (Reply.stream) that one response held queued in memory,
	 * waiting for the socket, since start or reset(). Honouring backpressure keeps it at about one
	 * chunk plus the socket's high-water mark, however large the body.
	 */
	readonly maxQueuedStreamBytes: number;
	/**
	 * The most requests that HTTP clients in THIS process had open to the stand-in at one time
	 * (created, not yet closed) since start or reset(): the concurrency the node decided on,
	 * counted on its side. On a busy machine the stand-in may see fewer open at once
	 * (maxConcurrent) because it answers some before others arrive.
	 */
	readonly maxClientInFlight: number;
	/** Requests turned back by `rateLimit` with a 429 since start or reset(). */
	readonly limited: number;
	/** Forget scripts, recorded requests and created tasks, and number tasks from 1 again (keeps api key and latency). */
	reset(): void;
	/** Stop the server, destroying every open socket (hung and stalled ones too) so jest can exit. */
	close(): Promise<void>;
}

export interface StandInOptions {
	/** When set, any request whose x-api-key header differs gets 401 {"detail":"Invalid API key"}, before scripts are consulted. */
	apiKey?: string;
	/** Fixed added latency on every answer (for benchmarks). */
	latencyMs?: number;
	/**
	 * A rate limit in front of every route, as an API gateway enforces one: a token bucket of
	 * `burst` requests refilled at `perSecond`; a request that finds it empty gets 429 with
	 * `Retry-After: retryAfterSeconds` (no header when undefined), before scripts are consulted.
	 * Uploads included: a 429 never creates a task.
	 */
	rateLimit?: { perSecond: number; burst: number; retryAfterSeconds?: number };
	/**
	 * Send the 401 and 429 refusals as soon as the request's headers arrive, as a gateway in front
	 * of the app may, instead of after the body (the default: see the file's header). The
	 * stand-in still reads the rest of the body and keeps the connection (nginx's lingering close),
	 * so a client reads the refusal while it is still uploading; the request is recorded when its
	 * body ends, whole or not (a client that stops sending once refused shows up as went away).
	 */
	refuseEarly?: boolean;
	/**
	 * A slow uplink: every request body is read at most this many bytes per second (0 or undefined:
	 * as fast as it comes), counted from its first byte. Each chunk the socket gives (up to 64 KiB:
	 * at 64 KiB/s a read a second) is taken once the link would have carried it, the request paused
	 * meanwhile, so the client's writes back up. Mid-body faults strike at the bytes taken. On
	 * loopback the kernel lets a client get some 4 MiB ahead, then takes its writes in ~1.5 MiB steps.
	 */
	readBytesPerSecond?: number;
}

/** A non-multipart body is recorded as text up to this many bytes, then only counted. */
export const MAX_RECORDED_BODY_BYTES = 1024 * 1024;

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
function rawPathname(rawUrl: string): string {
	const queryStart = rawUrl.indexOf('?');
	return queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
}

/** One map key per route; methods are compared case-insensitively like HTTP does. */
function routeKey(method: string, pathname: string): string {
	return `${method.toUpperCase()} ${pathname}`;
}

/** True for /audio-separation/{one non-empty segment}: the shape FastAPI would route to the status handler. */
function isTaskStatusPathname(pathname: string): boolean {
	if (!pathname.startsWith(TASK_STATUS_PREFIX)) return false;
	const id = pathname.slice(TASK_STATUS_PREFIX.length);
	return id.length > 0 && !id.includes('/');
}

/** What the stand-in answers when no script covers the request; mirrors the real service's defaults. */
function defaultReply(method: string, pathname: string): Reply {
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
function defaultUploadReply(request: RecordedRequest): { reply: Reply; accepted: boolean } {
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

function isMidBodyFault(reply: Reply): boolean {
	return MID_BODY_FAULTS.includes(reply.fault);
}

/** Reply.createsTask with its default: a 2xx without a fault. */
function acceptsUpload(reply: Reply): boolean {
	const status = reply.status ?? 200;
	return reply.createsTask ?? (status >= 200 && status < 300 && reply.fault === undefined);
}

// ---- streamed bodies -------------------------------------------------------------------------

const DEFAULT_STREAM_CHUNK_BYTES = 64 * 1024;
const MAX_STREAM_CHUNK_BYTES = MAX_PATTERN_VIEW_BYTES;

/**
 * How much idle time a paced link (readBytesPerSecond, StreamedBody.bytesPerSecond) may catch up
 * on: enough to absorb the stand-in's own timer and event-loop delays, too little to let a client
 * that stalled burst. Never more than the pace allows since the first byte.
 */
const PACE_CREDIT_MS = 50;

/** StreamedBody.chunkBytes unset: 64 KiB, or 50 ms at the pace, so a slow link trickles, not lurches. */
function defaultChunkBytes(bytesPerSecond: number | undefined): number {
	if (bytesPerSecond === undefined) return DEFAULT_STREAM_CHUNK_BYTES;
	return Math.max(1, Math.min(DEFAULT_STREAM_CHUNK_BYTES, Math.floor(bytesPerSecond / 20)));
}

/** A pace is a positive, finite number of bytes per second. */
function isPace(value: unknown): boolean {
	return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/** The FastAPI-style answer to a missing or wrong key. */
const INVALID_KEY_REPLY: Reply = { status: 401, json: { detail: 'Invalid API key' } };

/** Catch scripting mistakes when the test is written, not as a puzzling answer later. */
function validateReplies(route: string, replies: Reply[]): void {
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
function encodeBody(reply: Reply): { body: Buffer; contentType?: string } {
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
function writeHead(
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
 * Reads one request body as it arrives, keeping only what the record needs: multipart is parsed
 * on the fly (fields, file lengths and hashes), any other body is decoded as UTF-8 up to
 * MAX_RECORDED_BODY_BYTES and then only counted. Memory stays flat for bodies of any size.
 */
class BodyRecorder {
	bytes = 0;
	private text = '';
	private textBytes = 0;
	private truncated = false;
	private readonly decoder = new StringDecoder('utf8');
	private readonly parser: MultipartParser | undefined;
	private readonly multipartError: string | undefined;

	constructor(contentType: string | undefined) {
		if (!isMultipartFormData(contentType)) return;
		const boundary = boundaryOf(contentType);
		if (boundary === undefined) this.multipartError = 'multipart/form-data without a boundary';
		else this.parser = new MultipartParser(boundary);
	}

	get isMultipart(): boolean {
		return this.parser !== undefined || this.multipartError !== undefined;
	}

	write(chunk: Buffer): void {
		this.bytes += chunk.length;
		if (this.isMultipart) return this.parser?.write(chunk);
		const room = MAX_RECORDED_BODY_BYTES - this.textBytes;
		if (room <= 0) {
			this.truncated = true;
			return;
		}
		const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
		if (kept.length < chunk.length) this.truncated = true;
		this.textBytes += kept.length;
		// The decoder holds back a multi-byte character split between chunks until its rest comes.
		this.text += this.decoder.write(kept);
	}

	/** Fills the record's body fields: `brokenOff` says why the body did not arrive whole, if it did not. */
	finish(record: RecordedRequest, brokenOff?: string): void {
		record.bodyBytes = this.bytes;
		record.bodyComplete = brokenOff === undefined;
		if (brokenOff !== undefined) record.bodyError = brokenOff;
		if (this.isMultipart) {
			record.body = '';
			if (this.parser)
				record.multipart =
					brokenOff === undefined ? this.parser.end() : this.parser.abort(brokenOff);
			else
				record.multipart = { fields: {}, files: [], complete: false, error: this.multipartError };
			return;
		}
		record.body = this.truncated ? this.text : this.text + this.decoder.end();
		if (this.truncated) record.bodyTruncated = true;
	}
}

/**
 * A broken script (e.g. a header value Node refuses) answers 500 with the reason, so the
 * failing test shows why instead of timing out on a request nobody answers.
 */
function failLoudly(res: http.ServerResponse, error: unknown): void {
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

// ---- when this process sent each request ------------------------------------------------------

/** Ports of the stand-ins listening in this process. */
const livePorts = new Set<number>();
/** Per "port METHOD rawUrl": creation times of requests not yet seen by the stand-in, oldest first. */
const sendTimes = new Map<string, number[]>();

// Published synchronously when a ClientRequest is created, before a byte is written, so the
// time is on record before the stand-in can see the request.
diagnostics.subscribe('http.client.request.start', (message) => {
	const request = (message as { request: http.ClientRequest }).request;
	const host = String(request.getHeader('host') ?? '');
	const match = /^127\.0\.0\.1:(\d+)$/.exec(host);
	if (!match || !livePorts.has(Number(match[1]))) return;
	const key = `${match[1]} ${request.method} ${request.path}`;
	const times = sendTimes.get(key) ?? [];
	times.push(Date.now());
	sendTimes.set(key, times);
	// In flight on the client's side from creation until its answer has been read to the end (or
	// dropped, or the request failed), whichever comes first: the moment the node's gate frees the slot.
	const port = Number(match[1]);
	const counts = clientInFlight.get(port) ?? { now: 0, peak: 0 };
	counts.now += 1;
	counts.peak = Math.max(counts.peak, counts.now);
	clientInFlight.set(port, counts);
	let open = true;
	let answered = false;
	const done = () => {
		if (open) counts.now -= 1;
		open = false;
	};
	request.once('response', (response: http.IncomingMessage) => {
		answered = true;
		response.once('end', done);
		response.once('close', done);
	});
	request.once('error', done);
	request.once('close', () => {
		// Closed without an answer (refused, reset before the headers): nothing more will come.
		if (!answered) done();
	});
});

/** Per stand-in port: requests this process's HTTP clients have open to it now, and the most at once. */
const clientInFlight = new Map<number, { now: number; peak: number }>();

/** When the node sent a request, where this process saw it (RecordedRequest.sentAt), else when it arrived. */
export function sendTime(request: RecordedRequest): number {
	return request.sentAt ?? request.at;
}

/** The oldest unclaimed send time for this request; requests to one path arrive in the order they were sent. */
function claimSendTime(port: number, method: string, rawUrl: string): number | undefined {
	const key = `${port} ${method} ${rawUrl}`;
	const times = sendTimes.get(key);
	const sentAt = times?.shift();
	if (times && times.length === 0) sendTimes.delete(key);
	return sentAt;
}

function forgetSendTimes(port: number): void {
	for (const key of sendTimes.keys()) if (key.startsWith(`${port} `)) sendTimes.delete(key);
}

/** A header node:http may give as a list: its first value. */
function firstHeader(value: string | string[] | undefined): string | undefined {
	return Array.isArray(value) ? value[0] : value;
}

/** The content-length the client declared, if a valid one. */
function declaredLength(value: string | undefined): number | undefined {
	return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Body bytes a mid-body fault lets in first: see Reply.afterBodyBytes. */
function midBodyThreshold(reply: Reply, declared: number | undefined): number {
	const wanted =
		reply.afterBodyBytes ?? (declared === undefined ? 64 * 1024 : Math.floor(declared / 2));
	return declared === undefined ? wanted : Math.max(0, Math.min(wanted, declared - 1));
}

/** What a request gets, decided from its headers alone. */
interface Decision {
	reply: Reply;
	/** A 401 or a rate limit's 429: turned back before the app would see it. */
	refused: boolean;
	/** POST /audio-separation reached the app: by a script (Reply.createsTask applies) or the default. */
	upload?: 'scripted' | 'default';
}

/** The sequence scripted for one route and how far into it the requests have gone. */
interface Script {
	replies: Reply[];
	served: number;
}

class CambStandIn implements StandIn {
	readonly requests: RecordedRequest[] = [];
	readonly tasksCreated: CreatedTask[] = [];

	// requestTimeout 0: node:http would otherwise answer 408 to a body still arriving after 300 s,
	// and 'hang-mid-body' must never be answered.
	private readonly server = http.createServer({ requestTimeout: 0 }, (req, res) =>
		this.handle(req, res),
	);
	private readonly scripts = new Map<string, Script>();
	/** Every open socket, so close() can end hung and stalled ones that server.close() would wait for forever. */
	private readonly sockets = new Set<Socket>();
	/** Pending delay timers, so close() can cancel them rather than leave work scheduled. */
	private readonly timers = new Set<NodeJS.Timeout>();
	private closing: Promise<void> | undefined;
	private boundPort = 0;
	private open = 0;
	private peakOpen = 0;
	private peakQueued = 0;
	private limitedCount = 0;
	private tokens = 0;
	private refilledAt = Date.now();
	private taskCounter = 0;

	constructor(private readonly options: StandInOptions) {
		const readPace = options.readBytesPerSecond;
		if (readPace !== undefined && readPace !== 0 && !isPace(readPace))
			throw new Error(
				`stand-in: invalid readBytesPerSecond ${String(readPace)} (0 or a positive number)`,
			);
		this.tokens = options.rateLimit?.burst ?? 0;
		this.server.on('connection', (socket: Socket) => {
			this.sockets.add(socket);
			socket.on('close', () => this.sockets.delete(socket));
		});
	}

	get limited(): number {
		return this.limitedCount;
	}

	get maxConcurrent(): number {
		return this.peakOpen;
	}

	get maxClientInFlight(): number {
		return clientInFlight.get(this.boundPort)?.peak ?? 0;
	}

	get maxQueuedStreamBytes(): number {
		return this.peakQueued;
	}

	get port(): number {
		return this.boundPort;
	}

	get baseUrl(): string {
		return `http://127.0.0.1:${this.boundPort}`;
	}

	/** Port 0 lets the OS pick a free port; loopback only, so nothing outside this machine can reach it. */
	listen(): Promise<void> {
		return new Promise((resolve, reject) => {
			this.server.once('error', reject);
			this.server.listen(0, '127.0.0.1', () => {
				this.server.off('error', reject);
				this.boundPort = (this.server.address() as AddressInfo).port;
				livePorts.add(this.boundPort);
				resolve();
			});
		});
	}

	task(taskId: string, ...replies: Reply[]): void {
		this.on('GET', taskStatusPath(taskId), ...replies);
	}

	/** Scripting a route again replaces its sequence and starts it from the first reply. */
	on(method: string, path: string, ...replies: Reply[]): void {
		const key = routeKey(method, path);
		validateReplies(key, replies);
		this.scripts.set(key, { replies: [...replies], served: 0 });
	}

	/** Only GETs count: another method on the same path is not a status check. The query is ignored. */
	requestsForTask(taskId: string): RecordedRequest[] {
		const statusPath = taskStatusPath(taskId);
		return this.requests.filter((r) => r.method === 'GET' && rawPathname(r.path) === statusPath);
	}

	reset(): void {
		this.scripts.clear();
		forgetSendTimes(this.boundPort);
		this.peakOpen = this.open;
		const counts = clientInFlight.get(this.boundPort);
		if (counts) counts.peak = counts.now;
		this.peakQueued = 0;
		this.limitedCount = 0;
		this.tokens = this.options.rateLimit?.burst ?? 0;
		this.refilledAt = Date.now();
		// Emptied in place: tests may hold a reference to `requests` or `tasksCreated`.
		this.requests.length = 0;
		this.tasksCreated.length = 0;
		this.taskCounter = 0;
	}

	close(): Promise<void> {
		if (this.closing) return this.closing;
		livePorts.delete(this.boundPort);
		forgetSendTimes(this.boundPort);
		clientInFlight.delete(this.boundPort);
		this.closing = new Promise<void>((resolve, reject) => {
			// Stop accepting first, then end what is open; close's callback fires once all sockets are gone.
			this.server.close((err) => (err ? reject(err) : resolve()));
			for (const timer of this.timers) clearTimeout(timer);
			this.timers.clear();
			for (const socket of this.sockets) socket.destroy();
			this.sockets.clear();
		});
		return this.closing;
	}

	/**
	 * Decide when the headers arrive (key, rate limit, script), read the body as it comes, record
	 * the request once the body has ended (whole or not), then answer.
	 */
	private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
		const at = Date.now();
		const method = req.method ?? 'GET';
		const path = req.url ?? '/';
		const sentAt = claimSendTime(this.boundPort, method, path);
		this.open += 1;
		this.peakOpen = Math.max(this.peakOpen, this.open);
		res.on('close', () => (this.open -= 1));

		const decision = this.decide(method, path, req.headers);
		const recorded: RecordedRequest = {
			method,
			path,
			headers: { ...req.headers },
			body: '',
			bodyBytes: 0,
			bodyComplete: false,
			at,
		};
		if (sentAt !== undefined) recorded.sentAt = sentAt;
		const body = new BodyRecorder(firstHeader(req.headers['content-type']));
		const declared = declaredLength(req.headers['content-length']);
		let ended = false;
		const socket = req.socket;
		const settle = (brokenOff?: string): void => {
			ended = true;
			recorded.bodyEndedAt = Date.now();
			socket.off('close', wentAway);
			body.finish(recorded, brokenOff);
			this.requests.push(recorded);
		};

		const reply = decision.reply;
		// See StandInOptions.refuseEarly: the refusal goes out now, the body is still read and recorded.
		const answeredEarly = decision.refused && this.options.refuseEarly === true;
		if (answeredEarly) this.answer(req, res, reply);
		const strikeAt = isMidBodyFault(reply) ? midBodyThreshold(reply, declared) : undefined;
		const strike = (): void => {
			if (reply.fault === 'reset-mid-body') {
				settle(`the stand-in reset the connection after ${body.bytes} body bytes (reset-mid-body)`);
				this.resetSocket(req.socket);
			} else {
				// Paused, node:http stops reading the socket once its small buffer is full: the
				// kernel's buffers fill and the client's writes block.
				req.pause();
				settle(`the stand-in stopped reading after ${body.bytes} body bytes (hang-mid-body)`);
			}
		};

		const take = (chunk: Buffer): void => {
			body.write(chunk);
			if (strikeAt !== undefined && body.bytes >= strikeAt) strike();
		};
		const bodyEnded = (): void => {
			if (ended) return;
			settle();
			if (!answeredEarly) this.respond(req, res, recorded, decision);
		};
		// StandInOptions.readBytesPerSecond: a chunk is held (the request paused) until a link at that
		// pace would have carried it; readDueAt is when the link will have carried all taken so far.
		const readPace = this.options.readBytesPerSecond;
		let readDueAt: number | undefined;
		let holding = false;
		// The last chunk ends the stream even while it is held: its end waits for it.
		let endHeld = false;
		req.on('data', (chunk: Buffer) => {
			if (ended) return;
			if (!readPace) return take(chunk);
			const now = performance.now();
			readDueAt =
				Math.max(readDueAt ?? now, now - PACE_CREDIT_MS) + (chunk.length * 1000) / readPace;
			if (readDueAt - now < 1) return take(chunk);
			// Paused, node:http stops reading the socket once its small buffer is full.
			req.pause();
			holding = true;
			this.after(Math.ceil(readDueAt - now), () => {
				holding = false;
				if (ended) return; // The client went away meanwhile.
				take(chunk);
				// A hang-mid-body strike (in take) has settled the request: it stays paused for good.
				if (ended) return;
				if (endHeld) bodyEnded();
				else req.resume();
			});
		});
		req.on('end', () => {
			if (holding) endHeld = true;
			else bodyEnded();
		});
		// A client that goes away mid-body makes the request emit 'error' (aborted), then 'close'.
		req.on('error', () => undefined);
		const wentAway = (): void => {
			// A request that ended closes, a held last chunk or not: its body is all there.
			if (ended || endHeld) return;
			const of = declared === undefined ? '' : ` of ${declared}`;
			settle(`the client went away after ${body.bytes}${of} body bytes`);
		};
		req.on('close', wentAway);
		// Once a response has finished (refuseEarly), node:http no longer tells the request that its
		// socket closed, so the socket is watched too.
		socket.once('close', wentAway);
		if (strikeAt === 0) strike();
	}

	/** What to answer, decided from the headers alone, in the order a gateway and then the app check. */
	private decide(method: string, path: string, headers: http.IncomingHttpHeaders): Decision {
		if (this.options.apiKey !== undefined && headers['x-api-key'] !== this.options.apiKey) {
			return { reply: INVALID_KEY_REPLY, refused: true };
		}
		if (!this.takeToken()) {
			this.limitedCount++;
			const seconds = this.options.rateLimit?.retryAfterSeconds;
			return {
				reply: {
					status: 429,
					json: { detail: 'Too many requests' },
					headers: seconds === undefined ? undefined : { 'retry-after': String(seconds) },
				},
				refused: true,
			};
		}
		const pathname = rawPathname(path);
		const isUpload = method.toUpperCase() === 'POST' && pathname === UPLOAD_PATH;
		const scripted = this.nextScripted(method, pathname);
		if (scripted)
			return { reply: scripted, refused: false, upload: isUpload ? 'scripted' : undefined };
		if (isUpload) return { reply: {}, refused: false, upload: 'default' };
		return { reply: defaultReply(method, pathname), refused: false };
	}

	/** After the whole body arrived: create the task if the upload was accepted, then answer. */
	private respond(
		req: http.IncomingMessage,
		res: http.ServerResponse,
		recorded: RecordedRequest,
		decision: Decision,
	): void {
		let reply = decision.reply;
		if (isMidBodyFault(reply)) {
			// The body ended before the fault's byte count (no content-length): strike at its end.
			if (reply.fault === 'reset-mid-body') this.resetSocket(req.socket);
			return;
		}
		if (decision.upload === 'default') {
			const verdict = defaultUploadReply(recorded);
			reply = verdict.accepted ? this.createTask(recorded, verdict.reply) : verdict.reply;
		} else if (decision.upload === 'scripted' && acceptsUpload(reply)) {
			reply = this.createTask(recorded, reply);
		}
		this.answer(req, res, reply);
	}

	/** Lists the task `recorded` (just pushed) created; a reply without a body gets {"task_id": id}. */
	private createTask(recorded: RecordedRequest, reply: Reply): Reply {
		const given = reply.json as { task_id?: unknown } | undefined;
		const taskId =
			typeof given === 'object' && given !== null && typeof given.task_id === 'string'
				? given.task_id
				: `standin-task-${++this.taskCounter}`;
		const files = recorded.multipart?.files.filter((file) => file.field === 'media_file') ?? [];
		const file = files.length === 1 ? files[0] : undefined;
		this.tasksCreated.push({
			taskId,
			requestIndex: this.requests.length - 1,
			fileSha256: file?.sha256,
			bytes: file?.bytes,
		});
		const hasBody = (['json', 'text', 'raw', 'stream'] as const).some(
			(kind) => reply[kind] !== undefined,
		);
		return hasBody ? reply : { ...reply, json: { task_id: taskId } };
	}

	/** The token bucket of options.rateLimit: true when the request may pass. */
	private takeToken(): boolean {
		const limit = this.options.rateLimit;
		if (!limit) return true;
		const now = Date.now();
		this.tokens = Math.min(
			limit.burst,
			this.tokens + ((now - this.refilledAt) * limit.perSecond) / 1000,
		);
		this.refilledAt = now;
		if (this.tokens < 1) return false;
		this.tokens -= 1;
		return true;
	}

	/** The i-th request on a route gets replies[i]; after the last one, the last repeats. */
	private nextScripted(method: string, pathname: string): Reply | undefined {
		const script = this.scripts.get(routeKey(method, pathname));
		if (!script) return undefined;
		const index = Math.min(script.served, script.replies.length - 1);
		script.served += 1;
		return script.replies[index];
	}

	private answer(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
		if (reply.fault === 'hang') return; // The socket stays in `sockets` until close() destroys it.
		const waitMs = (this.options.latencyMs ?? 0) + (reply.delayMs ?? 0);
		this.after(waitMs, () => {
			// The client may have given up during the wait; writing then would be pointless.
			if (res.destroyed || req.socket.destroyed) return;
			if (reply.fault === 'reset') return this.resetSocket(req.socket);
			try {
				this.send(res, reply);
			} catch (error) {
				failLoudly(res, error);
			}
		});
	}

	private send(res: http.ServerResponse, reply: Reply): void {
		if (reply.stream) return this.sendStream(res, reply, reply.stream);
		const { body, contentType } = encodeBody(reply);
		writeHead(res, reply, body.length, contentType);
		if (reply.fault === 'stall') {
			res.flushHeaders();
			res.write(body.subarray(0, Math.floor(body.length / 2)));
			return; // Never end: the client waits for bytes that do not come.
		}
		res.end(body);
	}

	/**
	 * Writes a generated body chunk by chunk, each a view of the shared pattern (nothing is
	 * allocated per body), and only while the socket takes it: when write() reports a full
	 * buffer, the next chunk waits for 'drain'. A client that stops reading stops the stand-in.
	 */
	private sendStream(res: http.ServerResponse, reply: Reply, stream: StreamedBody): void {
		writeHead(res, reply, stream.bytes, stream.contentType ?? 'application/octet-stream');
		const stall = reply.fault === 'stall';
		const end = stall ? Math.floor(stream.bytes / 2) : stream.bytes;
		const pace = stream.bytesPerSecond;
		const chunkBytes = stream.chunkBytes ?? defaultChunkBytes(pace);
		if (stall || pace !== undefined) res.flushHeaders();
		let offset = 0;
		// Paced: when the link will have carried all written so far, and when the next chunk is due.
		let linkFreeAt: number | undefined;
		let chunkDueAt: number | undefined;
		const pump = (): void => {
			while (offset < end) {
				// The client went away or close() ended the socket: nobody to write to.
				if (res.destroyed) return;
				const length = Math.min(chunkBytes, end - offset);
				if (pace !== undefined) {
					const now = performance.now();
					chunkDueAt ??= Math.max(linkFreeAt ?? now, now - PACE_CREDIT_MS) + (length * 1000) / pace;
					if (chunkDueAt - now >= 1) return this.after(Math.ceil(chunkDueAt - now), pump);
					linkFreeAt = chunkDueAt;
					chunkDueAt = undefined;
				}
				const accepted = res.write(patternView(offset, length));
				offset += length;
				this.peakQueued = Math.max(this.peakQueued, res.writableLength);
				if (!accepted) {
					res.once('drain', pump);
					return;
				}
			}
			if (!stall) res.end(); // A stall never ends: the client waits for the second half.
		};
		pump();
	}

	/** A TCP RST like a dropping proxy sends, so the client sees ECONNRESET rather than a clean close. */
	private resetSocket(socket: Socket): void {
		if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
		else socket.destroy();
	}

	/**
	 * Runs `fn` after `ms`. Timers are tracked so close() can clear them and unref'd so a
	 * forgotten one never keeps jest alive; nothing new is scheduled once closing.
	 */
	private after(ms: number, fn: () => void): void {
		if (this.closing) return;
		if (ms <= 0) return fn();
		const timer = setTimeout(() => {
			this.timers.delete(timer);
			fn();
		}, ms);
		timer.unref();
		this.timers.add(timer);
	}
}

/** Starts a stand-in on 127.0.0.1 and a free port. Always close() it (afterAll/afterEach). */
export async function startStandIn(options: StandInOptions = {}): Promise<StandIn> {
	const standIn = new CambStandIn(options);
	await standIn.listen();
	return standIn;
}
