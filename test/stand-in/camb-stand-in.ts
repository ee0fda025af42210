/**
 * A scripted stand-in of the CAMB.AI API for tests.
 *
 * It is a real HTTP server (node:http only) on 127.0.0.1 and a free port, so the node under
 * test goes through its real HTTP stack: headers, status codes, timeouts and broken sockets
 * behave as they would against client.camb.ai. Tests script what each route answers, one
 * reply per request, and read back what the node actually sent.
 *
 * A second instance on another port can play the storage host of the pre-signed stem URLs:
 * `Reply.stream` serves bodies of any size (a deterministic pattern, see checkStreamPattern())
 * without holding them in memory.
 */
import * as diagnostics from 'node:diagnostics_channel';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

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
	 * fills the socket's buffer waits for 'drain'). content-length is `bytes`, content-type
	 * `contentType` (default application/octet-stream); `headers` still win. With fault 'stall'
	 * the first floor(bytes / 2) bytes are sent, then nothing more. Not with `json` or `text`.
	 */
	stream?: StreamedBody;
	/** Extra response headers; they win over the defaults (content-type, content-length). */
	headers?: Record<string, string>;
	/** Wait this long before answering (added to the stand-in's latencyMs). */
	delayMs?: number;
	/**
	 * reset: destroy the socket without any answer (client sees ECONNRESET / socket hang up).
	 * hang: never answer; the socket stays open until close().
	 * stall: send status, headers (content-length of the full body) and the first half of the
	 *        body, then never finish.
	 */
	fault?: 'reset' | 'hang' | 'stall';
}

/** See Reply.stream. */
export interface StreamedBody {
	/** Body length; any safe integer >= 0 (gigabytes are fine: nothing is buffered). */
	bytes: number;
	/** Default application/octet-stream. */
	contentType?: string;
	/** Bytes per write, 1 to 1 MiB; default 64 KiB. */
	chunkBytes?: number;
}

export interface RecordedRequest {
	method: string;
	/** Raw request URL exactly as received, query included. */
	path: string;
	/** Node's lower-cased request headers. */
	headers: Record<string, string | string[] | undefined>;
	/** The full request body as UTF-8 ('' when there was none). */
	body: string;
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

export interface StandIn {
	/** e.g. http://127.0.0.1:45678 (no trailing slash). */
	readonly baseUrl: string;
	readonly port: number;
	readonly requests: RecordedRequest[];
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
	/** Forget scripts and recorded requests (keeps api key and latency). */
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
	 */
	rateLimit?: { perSecond: number; burst: number; retryAfterSeconds?: number };
}

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

// ---- streamed bodies -------------------------------------------------------------------------

const DEFAULT_STREAM_CHUNK_BYTES = 64 * 1024;
const MAX_STREAM_CHUNK_BYTES = 1024 * 1024;
/**
 * Length of the repeating unit of the streamed-body pattern. A prime, so no power-of-two chunk,
 * buffer or page size lines up with it: a chunk lost, repeated or swapped anywhere in a body
 * shifts everything after it and shows up as a mismatch.
 */
export const STREAM_PATTERN_PERIOD = 65_521;

let patternRing: Buffer | undefined;

/**
 * The pattern's period followed by enough of its own start that any run of up to
 * MAX_STREAM_CHUNK_BYTES bytes, at any offset, is one zero-copy view of it. About 1 MiB, built
 * once; every streamed body is written from it, so a body of any size costs no memory.
 */
function ring(): Buffer {
	if (patternRing) return patternRing;
	const buffer = Buffer.allocUnsafe(STREAM_PATTERN_PERIOD + MAX_STREAM_CHUNK_BYTES);
	// xorshift32 with a fixed seed: the same bytes on every run and machine, and not compressible.
	let x = 0x2545f491;
	for (let i = 0; i < STREAM_PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >>> 17;
		x ^= x << 5;
		buffer[i] = x & 0xff;
	}
	for (let i = STREAM_PATTERN_PERIOD; i < buffer.length; i++)
		buffer[i] = buffer[i - STREAM_PATTERN_PERIOD];
	patternRing = buffer;
	return buffer;
}

/** A read-only view of `length` (at most 1 MiB) pattern bytes starting at body offset `offset`. */
function patternView(offset: number, length: number): Buffer {
	const start = offset % STREAM_PATTERN_PERIOD;
	return ring().subarray(start, start + length);
}

/** The `length` bytes a streamed body holds from `offset` on (a copy: for tests comparing small ranges). */
export function streamPattern(offset: number, length: number): Buffer {
	const out = Buffer.allocUnsafe(length);
	for (let done = 0; done < length; ) {
		const piece = Math.min(MAX_STREAM_CHUNK_BYTES, length - done);
		patternView(offset + done, piece).copy(out, done);
		done += piece;
	}
	return out;
}

/** Checks a streamed body chunk by chunk as it arrives, without keeping any of it. */
export interface StreamPatternCheck {
	/** Feed the next chunk of the body, in order. */
	update(chunk: Uint8Array): void;
	/** Bytes fed so far. */
	readonly bytes: number;
	/** Body offset of the first byte that differs from the pattern; undefined while all match. */
	readonly firstMismatch: number | undefined;
}

/** A fresh StreamPatternCheck for a body read from offset 0. */
export function checkStreamPattern(): StreamPatternCheck {
	let bytes = 0;
	let firstMismatch: number | undefined;
	return {
		get bytes() {
			return bytes;
		},
		get firstMismatch() {
			return firstMismatch;
		},
		update(chunk: Uint8Array) {
			const data = Buffer.isBuffer(chunk)
				? chunk
				: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
			for (let done = 0; firstMismatch === undefined && done < data.length; ) {
				const piece = Math.min(MAX_STREAM_CHUNK_BYTES, data.length - done);
				const actual = data.subarray(done, done + piece);
				const expected = patternView(bytes + done, piece);
				if (!actual.equals(expected)) {
					let i = 0;
					while (actual[i] === expected[i]) i++;
					firstMismatch = bytes + done + i;
				}
				done += piece;
			}
			bytes += data.length;
		},
	};
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
		if (reply.fault !== undefined && !['reset', 'hang', 'stall'].includes(reply.fault)) {
			throw new Error(`stand-in: unknown fault ${String(reply.fault)} for ${route}`);
		}
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

/** Reads the whole request body: routes such as POST /audio-separation-results need it, and recording wants it. */
function readBody(req: http.IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		let body = '';
		// setEncoding decodes across chunk borders, so a multi-byte character split in two survives.
		req.setEncoding('utf8');
		req.on('data', (chunk: string) => (body += chunk));
		req.on('end', () => resolve(body));
		req.on('error', reject);
	});
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

/** The sequence scripted for one route and how far into it the requests have gone. */
interface Script {
	replies: Reply[];
	served: number;
}

class CambStandIn implements StandIn {
	readonly requests: RecordedRequest[] = [];

	private readonly server = http.createServer((req, res) => this.handle(req, res));
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

	constructor(private readonly options: StandInOptions) {
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
		// Emptied in place: tests may hold a reference to `requests`.
		this.requests.length = 0;
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

	/** Record first (so even refused requests are visible), then authenticate, then answer. */
	private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
		const at = Date.now();
		const sentAt = claimSendTime(this.boundPort, req.method ?? 'GET', req.url ?? '/');
		this.open += 1;
		this.peakOpen = Math.max(this.peakOpen, this.open);
		res.on('close', () => (this.open -= 1));
		readBody(req).then(
			(body) => {
				const recorded: RecordedRequest = {
					method: req.method ?? 'GET',
					path: req.url ?? '/',
					headers: { ...req.headers },
					body,
					at,
				};
				if (sentAt !== undefined) recorded.sentAt = sentAt;
				this.requests.push(recorded);
				this.answer(req, res, this.chooseReply(recorded));
			},
			// The client went away mid-body: there is nobody left to answer.
			() => undefined,
		);
	}

	private chooseReply(request: RecordedRequest): Reply {
		if (this.options.apiKey !== undefined && request.headers['x-api-key'] !== this.options.apiKey) {
			return INVALID_KEY_REPLY;
		}
		if (!this.takeToken()) {
			this.limitedCount++;
			const seconds = this.options.rateLimit?.retryAfterSeconds;
			return {
				status: 429,
				json: { detail: 'Too many requests' },
				headers: seconds === undefined ? undefined : { 'retry-after': String(seconds) },
			};
		}
		const pathname = rawPathname(request.path);
		return this.nextScripted(request.method, pathname) ?? defaultReply(request.method, pathname);
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
		const chunkBytes = stream.chunkBytes ?? DEFAULT_STREAM_CHUNK_BYTES;
		if (stall) res.flushHeaders();
		let offset = 0;
		const pump = (): void => {
			while (offset < end) {
				// The client went away or close() ended the socket: nobody to write to.
				if (res.destroyed) return;
				const length = Math.min(chunkBytes, end - offset);
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
