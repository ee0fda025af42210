/**
 * The client side of the CAMB stand-in's own tests (cambStandIn*.test.ts): raw node:http GETs and
 * POSTs that show what fetch hides (headers without a body, a reset mid-upload), a small
 * well-formed upload, and waits for what the stand-in has recorded.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { Readable } from 'node:stream';
import {
	checkStreamPattern,
	multipartBody,
	type FormPart,
	type MultipartBody,
	type StandIn,
} from './cambStandIn';

/** What a raw node:http request saw; fetch cannot tell "headers arrived, body never did" apart. */
interface RawOutcome {
	/** 'timeout' = nothing at all within timeoutMs; 'error' = the socket failed before a response. */
	kind: 'response' | 'timeout' | 'error';
	status?: number;
	headers?: http.IncomingHttpHeaders;
	/** Body text that arrived before the outcome was settled. */
	received: string;
	/** Did the body complete (the 'end' event) within timeoutMs? */
	ended: boolean;
	error?: NodeJS.ErrnoException;
}

/**
 * GET `path` with node:http and watch for `timeoutMs`: collects whatever arrives, then
 * destroys the request so no socket outlives the test. `path` is sent raw, unnormalised.
 */
export function rawGet(standIn: StandIn, path: string, timeoutMs: number): Promise<RawOutcome> {
	return new Promise((resolve) => {
		const outcome: RawOutcome = { kind: 'timeout', received: '', ended: false };
		let settled = false;
		const settle = () => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			req.destroy();
			resolve(outcome);
		};
		const req = http.request({
			host: '127.0.0.1',
			port: standIn.port,
			path,
			method: 'GET',
			agent: false,
		});
		const timer = setTimeout(settle, timeoutMs);
		req.on('response', (res) => {
			outcome.kind = 'response';
			outcome.status = res.statusCode;
			outcome.headers = res.headers;
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => {
				outcome.received += chunk;
			});
			res.on('end', () => {
				outcome.ended = true;
				settle();
			});
			// A body cut off (by our destroy() or the stand-in's close()) errors, then closes.
			res.on('error', () => undefined);
			res.on('close', settle);
		});
		req.on('error', (error: NodeJS.ErrnoException) => {
			if (settled) return;
			if (outcome.kind === 'timeout') {
				outcome.kind = 'error';
				outcome.error = error;
			}
			settle();
		});
		req.end();
	});
}

/** What a streaming node:http GET saw: the body is checked against the pattern as it arrives, never kept. */
interface StreamOutcome {
	status?: number;
	headers?: http.IncomingHttpHeaders;
	/** Body bytes received. */
	bytes: number;
	/** Offset of the first byte that is not the stand-in's pattern, undefined if none. */
	firstMismatch: number | undefined;
	/** Did the body complete ('end') before the watch ran out? */
	ended: boolean;
	/** Peak process RSS and arrayBuffers growth over the values at the start, sampled every 5 ms. */
	rssGrowth: number;
	arrayBuffersGrowth: number;
}

/**
 * GET `path` and read the body chunk by chunk like a streaming client. `pause` stops reading
 * (socket paused, so the kernel buffers fill and backpressure reaches the stand-in) once
 * `afterBytes` have arrived, for `ms`. Settles on 'end', on error, or after `timeoutMs`.
 */
export function streamGet(
	standIn: StandIn,
	path: string,
	options: {
		timeoutMs: number;
		pause?: { afterBytes: number; ms: number; during?: () => void };
		/** Kept up to date while the body arrives: bytes so far, and Date.now() at the last of them. */
		progress?: { bytes: number; lastAt: number };
	},
): Promise<StreamOutcome> {
	return new Promise((resolve) => {
		const check = checkStreamPattern();
		const start = process.memoryUsage();
		let peakRss = start.rss;
		let peakArrayBuffers = start.arrayBuffers;
		const sample = () => {
			const now = process.memoryUsage();
			peakRss = Math.max(peakRss, now.rss);
			peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
		};
		const sampler = setInterval(sample, 5);
		const outcome: Omit<
			StreamOutcome,
			'bytes' | 'firstMismatch' | 'rssGrowth' | 'arrayBuffersGrowth'
		> = { ended: false };
		let settled = false;
		const settle = () => {
			if (settled) return;
			settled = true;
			sample();
			clearInterval(sampler);
			clearTimeout(timer);
			req.destroy();
			resolve({
				...outcome,
				bytes: check.bytes,
				firstMismatch: check.firstMismatch,
				rssGrowth: peakRss - start.rss,
				arrayBuffersGrowth: peakArrayBuffers - start.arrayBuffers,
			});
		};
		const timer = setTimeout(settle, options.timeoutMs);
		const req = http.request({
			host: '127.0.0.1',
			port: standIn.port,
			path,
			method: 'GET',
			agent: false,
		});
		req.on('response', (res) => {
			outcome.status = res.statusCode;
			outcome.headers = res.headers;
			let paused = false;
			res.on('data', (chunk: Buffer) => {
				check.update(chunk);
				if (options.progress) {
					options.progress.bytes = check.bytes;
					options.progress.lastAt = Date.now();
				}
				const pause = options.pause;
				if (pause && !paused && check.bytes >= pause.afterBytes) {
					paused = true;
					res.pause();
					setTimeout(() => {
						pause.during?.();
						res.resume();
					}, pause.ms);
				}
			});
			res.on('end', () => {
				outcome.ended = true;
				settle();
			});
			res.on('error', () => undefined);
			res.on('close', settle);
		});
		req.on('error', settle);
		req.end();
	});
}

/** What a streaming node:http POST saw, settled the way axios settles one. */
interface PostOutcome {
	/** 'response' = a whole answer arrived; 'error' = the request failed first; 'timeout' = neither in time. */
	kind: 'response' | 'error' | 'timeout';
	status?: number;
	headers?: http.IncomingHttpHeaders;
	/** The answer's body (UTF-8). */
	text: string;
	error?: NodeJS.ErrnoException;
	/** Body bytes the client produced for the socket before the outcome (its writes block when the server stops reading). */
	sent: number;
}

/**
 * POST a body to the stand-in the way axios's http adapter does: node:http, the body a Readable
 * piped into the request (so writes wait for the socket), settled when the answer has been read
 * to its end or the request errors. `gapBetweenWrites` hands each chunk over on its own turn of
 * the event loop, so they leave as separate TCP segments; `abortAfterBytes` plays a client that
 * goes away mid-body.
 */
export function post(
	standIn: StandIn,
	path: string,
	options: {
		body: Iterable<Buffer> | MultipartBody;
		headers?: Record<string, string | number>;
		timeoutMs: number;
		chunkBytes?: number;
		gapBetweenWrites?: boolean;
		abortAfterBytes?: number;
		/** Kept up to date with `sent` while the request runs. */
		progress?: { sent: number };
	},
): Promise<PostOutcome> {
	return new Promise((resolve) => {
		const outcome: PostOutcome = { kind: 'timeout', text: '', sent: 0 };
		const multipart = 'chunks' in options.body ? options.body : undefined;
		const chunks: Iterable<Buffer> = multipart
			? multipart.chunks(options.chunkBytes)
			: (options.body as Iterable<Buffer>);
		async function* paced() {
			for (const chunk of chunks) {
				yield chunk;
				await new Promise((r) => setImmediate(r));
			}
		}
		const source = Readable.from(options.gapBetweenWrites ? paced() : chunks, {
			objectMode: false,
		});
		let settled = false;
		const settle = () => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			source.unpipe();
			source.destroy();
			req.destroy();
			resolve(outcome);
		};
		const headers: Record<string, string | number> = { ...options.headers };
		if (multipart) {
			headers['content-type'] = multipart.contentType;
			headers['content-length'] = multipart.contentLength;
		}
		const req = http.request({
			host: '127.0.0.1',
			port: standIn.port,
			path,
			method: 'POST',
			headers,
			agent: false,
		});
		const timer = setTimeout(settle, options.timeoutMs);
		source.on('data', (chunk: Buffer) => {
			outcome.sent += chunk.length;
			if (options.progress) options.progress.sent = outcome.sent;
			if (options.abortAfterBytes !== undefined && outcome.sent >= options.abortAfterBytes) {
				outcome.kind = 'error';
				settle();
			}
		});
		req.on('response', (res) => {
			outcome.status = res.statusCode;
			outcome.headers = res.headers;
			res.setEncoding('utf8');
			res.on('data', (chunk: string) => (outcome.text += chunk));
			res.on('end', () => {
				outcome.kind = 'response';
				settle();
			});
			res.on('error', () => undefined);
		});
		req.on('error', (error: NodeJS.ErrnoException) => {
			if (settled) return;
			outcome.kind = 'error';
			outcome.error = error;
			settle();
		});
		source.pipe(req);
	});
}

/** A minimal well-formed upload: one small file in media_file. */
export function smallUpload(extra: FormPart[] = []): MultipartBody {
	return multipartBody([
		{ name: 'media_file', fileName: 'a.wav', contentType: 'audio/wav', data: Buffer.from('RIFF') },
		...extra,
	]);
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Resolves once the stand-in has recorded `count` requests, so a test knows a hung request got there. */
export async function untilRecorded(standIn: StandIn, count: number): Promise<void> {
	const deadline = Date.now() + 5000;
	while (standIn.requests.length < count) {
		if (Date.now() > deadline)
			throw new Error(`stand-in recorded ${standIn.requests.length} requests, expected ${count}`);
		await new Promise((r) => setTimeout(r, 5));
	}
}

/** Ref'd timers only: the ones that would keep the process (and jest) alive. */
export function refdTimerCount(): number {
	const info = (
		process as unknown as { getActiveResourcesInfo(): string[] }
	).getActiveResourcesInfo();
	return info.filter((name) => name === 'Timeout').length;
}
