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
 *
 * The parts: what a test scripts and how a reply is written (standInReplies.ts), what is
 * recorded of each request (standInRecording.ts), the pace of a slow link (standInPacing.ts); this
 * file is the server that puts them together, and the stand-in's API tests import.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mulberry32 } from '../fixtures/random';
import { patternView } from './pattern';
import { defaultChunkBytes, isPace, paceDueAt } from './standInPacing';
import {
	BodyRecorder,
	claimSendTime,
	clientInFlight,
	declaredLength,
	firstHeader,
	forgetSendTimes,
	livePorts,
	type CreatedTask,
	type RecordedRequest,
} from './standInRecording';
import {
	INVALID_KEY_REPLY,
	UPLOAD_PATH,
	acceptsUpload,
	defaultReply,
	defaultUploadReply,
	encodeBody,
	failLoudly,
	isMidBodyFault,
	midBodyThreshold,
	rawPathname,
	routeKey,
	taskStatusPath,
	validateReplies,
	writeHead,
	type Reply,
	type StreamedBody,
} from './standInReplies';

// The pattern, the multipart helpers, the replies and the records are part of the stand-in's API:
// tests import them from here.
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
export {
	MAX_RECORDED_BODY_BYTES,
	sendTime,
	type CreatedTask,
	type RecordedRequest,
} from './standInRecording';
export {
	UPLOAD_PATH,
	resultPath,
	taskStatusPath,
	type Reply,
	type StreamedBody,
} from './standInReplies';

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
	/** 503s sent by `shedBeyond` or `noise` since start or reset(). */
	readonly unavailable: number;
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
	/**
	 * A server that sheds load: at most this many requests in service (past the key check and the
	 * rate limit, not yet answered); one more gets 503 at once, without Retry-After, and is not
	 * served.
	 */
	shedBeyond?: number;
	/**
	 * A noisy server: this share of the requests that would be served get 503 instead (no
	 * Retry-After, after the usual latency), whatever the rate; drawn from `seed`, the same every run.
	 */
	noise?: { share: number; seed: number };
}

/** What a request gets, decided from its headers alone. */
interface Decision {
	reply: Reply;
	/** A 401 or a rate limit's 429: turned back before the app would see it. */
	refused: boolean;
	/** POST /audio-separation reached the app: by a script (Reply.createsTask applies) or the default. */
	upload?: 'scripted' | 'default';
	/** Answered without the added latency (a shed 503). */
	atOnce?: boolean;
	/** Counted among the requests in service until answered (StandInOptions.shedBeyond). */
	inService?: boolean;
}

const UNAVAILABLE_REPLY: Reply = { status: 503, json: { detail: 'Service Unavailable' } };

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
	private unavailableCount = 0;
	private inService = 0;
	private noiseRandom: (() => number) | undefined;
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
		if (options.noise) this.noiseRandom = mulberry32(options.noise.seed);
		this.server.on('connection', (socket: Socket) => {
			this.sockets.add(socket);
			socket.on('close', () => this.sockets.delete(socket));
		});
	}

	get limited(): number {
		return this.limitedCount;
	}

	get unavailable(): number {
		return this.unavailableCount;
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
		this.unavailableCount = 0;
		if (this.options.noise) this.noiseRandom = mulberry32(this.options.noise.seed);
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
		if (decision.inService) {
			this.inService += 1;
			res.on('close', () => (this.inService -= 1));
		}
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
		if (answeredEarly) this.answer(req, res, reply, decision.atOnce);
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
			readDueAt = paceDueAt(readDueAt, now, chunk.length, readPace);
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
		const { shedBeyond, noise } = this.options;
		if (shedBeyond !== undefined && this.inService >= shedBeyond) {
			this.unavailableCount++;
			return { reply: UNAVAILABLE_REPLY, refused: true, atOnce: true };
		}
		if (noise && this.noiseRandom && this.noiseRandom() < noise.share) {
			this.unavailableCount++;
			return { reply: UNAVAILABLE_REPLY, refused: true };
		}
		const served = this.decideServed(method, path);
		return { ...served, inService: shedBeyond !== undefined };
	}

	/** What the app answers a request that got past the gateway. */
	private decideServed(method: string, path: string): Decision {
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
		this.answer(req, res, reply, decision.atOnce);
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

	private answer(
		req: http.IncomingMessage,
		res: http.ServerResponse,
		reply: Reply,
		atOnce = false,
	): void {
		if (reply.fault === 'hang') return; // The socket stays in `sockets` until close() destroys it.
		const waitMs = (atOnce ? 0 : (this.options.latencyMs ?? 0)) + (reply.delayMs ?? 0);
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
					chunkDueAt ??= paceDueAt(linkFreeAt, now, length, pace);
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
