/**
 * Proves the CAMB stand-in does what the node's tests will rely on. Every feature is checked
 * from the client side (global fetch, or node:http where fetch hides the failure mode), so a
 * broken feature shows up as a failing expectation, not just as missing coverage.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
	MAX_RECORDED_BODY_BYTES,
	STREAM_PATTERN_PERIOD,
	checkStreamPattern,
	multipartBody,
	patternSha256,
	startStandIn,
	streamPattern,
	taskStatusPath,
	uploadProblems,
	writePatternFile,
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
function rawGet(standIn: StandIn, path: string, timeoutMs: number): Promise<RawOutcome> {
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
function streamGet(
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
function post(
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
function smallUpload(extra: FormPart[] = []): MultipartBody {
	return multipartBody([
		{ name: 'media_file', fileName: 'a.wav', contentType: 'audio/wav', data: Buffer.from('RIFF') },
		...extra,
	]);
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Resolves once the stand-in has recorded `count` requests, so a test knows a hung request got there. */
async function untilRecorded(standIn: StandIn, count: number): Promise<void> {
	const deadline = Date.now() + 5000;
	while (standIn.requests.length < count) {
		if (Date.now() > deadline)
			throw new Error(`stand-in recorded ${standIn.requests.length} requests, expected ${count}`);
		await new Promise((r) => setTimeout(r, 5));
	}
}

/** Ref'd timers only: the ones that would keep the process (and jest) alive. */
function refdTimerCount(): number {
	const info = (
		process as unknown as { getActiveResourcesInfo(): string[] }
	).getActiveResourcesInfo();
	return info.filter((name) => name === 'Timeout').length;
}

describe('CAMB stand-in', () => {
	let standIn: StandIn;

	beforeAll(async () => {
		standIn = await startStandIn();
	});
	afterEach(() => standIn.reset());
	afterAll(() => standIn.close());

	const status = (taskId: string, init?: RequestInit) =>
		fetch(standIn.baseUrl + taskStatusPath(taskId), init);

	describe('listening', () => {
		it('binds a free port on 127.0.0.1 and reports it without a trailing slash', async () => {
			expect(standIn.port).toBeGreaterThan(0);
			expect(standIn.baseUrl).toBe(`http://127.0.0.1:${standIn.port}`);
			const res = await fetch(`${standIn.baseUrl}/list-voices`);
			expect(res.status).toBe(200);
		});

		it('gives each stand-in its own port', async () => {
			const other = await startStandIn();
			try {
				expect(other.port).not.toBe(standIn.port);
			} finally {
				await other.close();
			}
		});
	});

	describe('sequences', () => {
		it('answers the i-th request with the i-th reply, then repeats the last one', async () => {
			standIn.task(
				'task-1',
				{ json: { status: 'PENDING', run_id: null } },
				{ json: { status: 'PENDING', run_id: null } },
				{ json: { status: 'SUCCESS', run_id: 42 } },
			);
			const seen: unknown[] = [];
			for (let i = 0; i < 5; i++) seen.push(await (await status('task-1')).json());
			expect(seen).toEqual([
				{ status: 'PENDING', run_id: null },
				{ status: 'PENDING', run_id: null },
				{ status: 'SUCCESS', run_id: 42 },
				{ status: 'SUCCESS', run_id: 42 },
				{ status: 'SUCCESS', run_id: 42 },
			]);
		});

		it('keeps a separate position per task', async () => {
			standIn.task('a', { json: 'PENDING' }, { json: 'SUCCESS' });
			standIn.task('b', { json: 'ERROR' });
			expect(await (await status('a')).json()).toBe('PENDING');
			expect(await (await status('b')).json()).toBe('ERROR');
			expect(await (await status('a')).json()).toBe('SUCCESS');
		});

		it('restarts a route from its first reply when it is scripted again', async () => {
			standIn.task('t', { json: 'PENDING' }, { json: 'SUCCESS' });
			await status('t');
			standIn.task('t', { json: 'TIMEOUT' }, { json: 'ERROR' });
			expect(await (await status('t')).json()).toBe('TIMEOUT');
		});

		it('scripts any method and path with on(), matching the pathname and ignoring the query', async () => {
			standIn.on('post', '/audio-separation-results', {
				json: { '7': { foreground_audio_url: 'fg' } },
			});
			const res = await fetch(`${standIn.baseUrl}/audio-separation-results?x=1`, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ run_ids: [7] }),
			});
			expect(res.status).toBe(200);
			expect(await res.json()).toEqual({ '7': { foreground_audio_url: 'fg' } });
			// Same path, other method: not scripted.
			expect((await fetch(`${standIn.baseUrl}/audio-separation-results`)).status).toBe(404);
		});

		it('rejects scripting mistakes at once', () => {
			expect(() => standIn.task('t')).toThrow(/no replies/);
			expect(() => standIn.task('t', { json: 'SUCCESS', text: 'SUCCESS' })).toThrow(
				/both json and text/,
			);
			expect(() => standIn.task('t', { status: 42 })).toThrow(/invalid status/);
		});
	});

	describe('bodies and headers', () => {
		it('sends the documented bare-string shape as JSON', async () => {
			standIn.task('bare', { json: 'SUCCESS' });
			const res = await status('bare');
			expect(res.headers.get('content-type')).toBe('application/json');
			expect(await res.text()).toBe('"SUCCESS"');
		});

		it('sends the object shape as JSON with the given status', async () => {
			const answer = {
				status: 'ERROR',
				run_id: null,
				exception_reason: 'SOURCE_TOO_LONG',
				message: null,
			};
			standIn.task('obj', { status: 200, json: answer }, { status: 503, json: { detail: 'busy' } });
			const first = await status('obj');
			expect(first.status).toBe(200);
			expect(await first.text()).toBe(JSON.stringify(answer));
			const second = await status('obj');
			expect(second.status).toBe(503);
			expect(await second.json()).toEqual({ detail: 'busy' });
		});

		it('sends text raw as text/html, with the exact content-length', async () => {
			const page = '<html><body>502 Bad Gateway</body></html>';
			standIn.task('html', { status: 502, text: page });
			const res = await status('html');
			expect(res.status).toBe(502);
			expect(res.headers.get('content-type')).toBe('text/html');
			expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(page)));
			expect(await res.text()).toBe(page);
		});

		it('lets reply headers override the content-type, whatever their case', async () => {
			standIn.task('plain', { text: 'not json', headers: { 'Content-Type': 'text/plain' } });
			const res = await status('plain');
			expect(res.headers.get('content-type')).toBe('text/plain');
			expect(await res.text()).toBe('not json');
		});

		it('sends extra headers such as retry-after', async () => {
			standIn.task('limited', {
				status: 429,
				json: { detail: 'Too Many Requests' },
				headers: { 'retry-after': '2', 'retry-after-ms': '1500' },
			});
			const res = await status('limited');
			expect(res.status).toBe(429);
			expect(res.headers.get('retry-after')).toBe('2');
			expect(res.headers.get('retry-after-ms')).toBe('1500');
		});

		it('sends an empty 200 for a reply with no body', async () => {
			standIn.task('empty', {});
			const res = await status('empty');
			expect(res.status).toBe(200);
			expect(await res.text()).toBe('');
		});
	});

	describe('defaults', () => {
		it('answers an unscripted task with 404 Task not found', async () => {
			const res = await status('nobody-scripted-me');
			expect(res.status).toBe(404);
			expect(await res.json()).toEqual({ detail: 'Task not found' });
		});

		it('answers GET /list-voices with a voice list', async () => {
			const res = await fetch(`${standIn.baseUrl}/list-voices`);
			expect(res.status).toBe(200);
			expect(await res.json()).toEqual([{ id: 1, voice_name: 'stand-in' }]);
		});

		it('answers anything else with 404 Not Found', async () => {
			for (const [method, path] of [
				['GET', '/nothing-here'],
				['POST', '/list-voices'],
				['POST', '/audio-separation/abc'],
				['GET', '/audio-separation/'],
			]) {
				const res = await fetch(standIn.baseUrl + path, { method });
				expect({ method, path, status: res.status, body: await res.json() }).toEqual({
					method,
					path,
					status: 404,
					body: { detail: 'Not Found' },
				});
			}
		});

		it('lets a script replace a default', async () => {
			standIn.on('GET', '/list-voices', { status: 500, json: { detail: 'boom' } });
			expect((await fetch(`${standIn.baseUrl}/list-voices`)).status).toBe(500);
		});
	});

	describe('raw path matching', () => {
		it('matches an encoded task id as that id, not as the path it decodes to', async () => {
			standIn.task('../list-voices', { json: 'PENDING' });
			const res = await fetch(`${standIn.baseUrl}/audio-separation/..%2Flist-voices`);
			expect(await res.json()).toBe('PENDING');
			expect(standIn.requests[0].path).toBe('/audio-separation/..%2Flist-voices');
			expect(standIn.requestsForTask('../list-voices')).toHaveLength(1);
			// The real /list-voices is still its own route.
			expect(await (await fetch(`${standIn.baseUrl}/list-voices`)).json()).toEqual([
				{ id: 1, voice_name: 'stand-in' },
			]);
		});

		it('does not normalise dot segments a client sends unencoded', async () => {
			// fetch would resolve the "..", so send it raw: it is no task id and not /list-voices.
			const outcome = await rawGet(standIn, '/audio-separation/../list-voices', 2000);
			expect(outcome.status).toBe(404);
			expect(JSON.parse(outcome.received)).toEqual({ detail: 'Not Found' });
			expect(standIn.requests[0].path).toBe('/audio-separation/../list-voices');
		});
	});

	describe('recording', () => {
		it('records method, raw path with query, headers, body and arrival time', async () => {
			const before = Date.now();
			await fetch(`${standIn.baseUrl}${taskStatusPath('rec')}?traceId=9`, {
				headers: { 'x-api-key': 'secret', 'X-Custom': 'yes' },
			});
			await fetch(`${standIn.baseUrl}/audio-separation-results`, {
				method: 'POST',
				body: '{"run_ids":[1,2]}',
			});
			const after = Date.now();

			expect(standIn.requests).toHaveLength(2);
			const [get, post] = standIn.requests;
			expect(get.method).toBe('GET');
			expect(get.path).toBe('/audio-separation/rec?traceId=9');
			expect(get.headers['x-api-key']).toBe('secret');
			expect(get.headers['x-custom']).toBe('yes');
			expect(get.body).toBe('');
			expect(get.at).toBeGreaterThanOrEqual(before);
			expect(get.at).toBeLessThanOrEqual(after);
			expect(post.method).toBe('POST');
			expect(post.body).toBe('{"run_ids":[1,2]}');
		});

		it("records when this process's HTTP client sent a request, however late the stand-in notices it", async () => {
			const sent = Date.now();
			const answered = new Promise<void>((resolve, reject) => {
				http
					.get(`${standIn.baseUrl}${taskStatusPath('late')}`, (res) =>
						res.resume().on('end', resolve),
					)
					.on('error', reject);
			});
			// node:http hands the request its socket (and publishes the send) on the next tick.
			await new Promise((resolve) => process.nextTick(resolve));
			const created = Date.now();
			// A busy event loop: the request is out, but the stand-in cannot look at it for 300 ms.
			const until = Date.now() + 300;
			while (Date.now() < until);
			await answered;

			const [late] = standIn.requests;
			expect(late.sentAt).toBeGreaterThanOrEqual(sent);
			expect(late.sentAt).toBeLessThanOrEqual(created);
			expect(late.at - (late.sentAt as number)).toBeGreaterThanOrEqual(300);
			// fetch is undici, not node:http: no send time, the field stays absent rather than wrong.
			await fetch(`${standIn.baseUrl}${taskStatusPath('late')}`);
			expect(standIn.requests[1].sentAt).toBeUndefined();
		});

		it('reads a large body completely before answering', async () => {
			const big = JSON.stringify({ run_ids: Array.from({ length: 50_000 }, (_, i) => i) });
			standIn.on('POST', '/audio-separation-results', { json: {} });
			const res = await fetch(`${standIn.baseUrl}/audio-separation-results`, {
				method: 'POST',
				body: big,
			});
			expect(res.status).toBe(200);
			expect(standIn.requests[0].body).toBe(big);
		});

		it('lists the requests for one task only, query or not', async () => {
			await status('one');
			await status('two');
			await fetch(`${standIn.baseUrl}${taskStatusPath('one')}?again=1`);
			await fetch(`${standIn.baseUrl}${taskStatusPath('one')}`, { method: 'DELETE' });
			expect(standIn.requestsForTask('one').map((r) => r.path)).toEqual([
				'/audio-separation/one',
				'/audio-separation/one?again=1',
			]);
			expect(standIn.requestsForTask('two')).toHaveLength(1);
			expect(standIn.requestsForTask('three')).toEqual([]);
		});
	});

	describe('reset()', () => {
		it('forgets scripts and recorded requests, keeping the same requests array', async () => {
			const requests = standIn.requests;
			standIn.task('r', { json: 'SUCCESS' });
			await status('r');
			expect(requests).toHaveLength(1);
			standIn.reset();
			expect(requests).toHaveLength(0);
			expect(standIn.requests).toBe(requests);
			expect((await status('r')).status).toBe(404);
		});
	});

	describe('faults', () => {
		it('reset: drops the connection without an answer', async () => {
			standIn.task('drop', { fault: 'reset' });
			const outcome = await rawGet(standIn, taskStatusPath('drop'), 2000);
			expect(outcome.kind).toBe('error');
			expect(outcome.error?.code).toBe('ECONNRESET');
			await expect(status('drop')).rejects.toThrow(/fetch failed/);
			expect(standIn.requestsForTask('drop')).toHaveLength(2);
		});

		it('reset in a sequence: the next request gets the next reply', async () => {
			standIn.task('flaky', { fault: 'reset' }, { json: 'SUCCESS' });
			await expect(status('flaky')).rejects.toThrow();
			expect(await (await status('flaky')).json()).toBe('SUCCESS');
		});

		it('hang: never answers, so a client timeout fires', async () => {
			standIn.task('hang', { fault: 'hang' });
			const outcome = await rawGet(standIn, taskStatusPath('hang'), 300);
			expect(outcome.kind).toBe('timeout');
			expect(outcome.received.length).toBe(0);
			// fetch with an abort signal times out the same way.
			await expect(status('hang', { signal: AbortSignal.timeout(200) })).rejects.toThrow(
				/aborted|timeout/i,
			);
			expect(standIn.requestsForTask('hang')).toHaveLength(2);
		});

		it('stall: status, headers and half the body arrive, the rest never does', async () => {
			const answer = { status: 'SUCCESS', run_id: 123, exception_reason: null, message: null };
			const full = JSON.stringify(answer);
			standIn.task('stall', { json: answer, fault: 'stall', headers: { 'x-extra': '1' } });
			const outcome = await rawGet(standIn, taskStatusPath('stall'), 400);
			expect(outcome.kind).toBe('response');
			expect(outcome.status).toBe(200);
			expect(outcome.headers?.['content-type']).toBe('application/json');
			expect(outcome.headers?.['content-length']).toBe(String(full.length));
			expect(outcome.headers?.['x-extra']).toBe('1');
			expect(outcome.ended).toBe(false);
			expect(outcome.received).toBe(full.slice(0, Math.floor(full.length / 2)));
		});

		it('stall through fetch: the headers resolve but reading the body does not', async () => {
			standIn.task('stall2', { json: { status: 'PENDING' }, fault: 'stall' });
			const controller = new AbortController();
			const res = await status('stall2', { signal: controller.signal });
			expect(res.status).toBe(200);
			const read = res.text().then(
				() => 'completed',
				() => 'failed',
			);
			const winner = await Promise.race([
				read,
				new Promise((r) => setTimeout(() => r('still waiting'), 300)),
			]);
			expect(winner).toBe('still waiting');
			controller.abort();
			expect(await read).toBe('failed');
		});
	});

	describe('streamed bodies', () => {
		const MB = 1024 * 1024;

		it('streams 50 MB of the pattern with content-length and a binary content-type, every byte in order', async () => {
			standIn.on('GET', '/stems/fg_audio.flac', { stream: { bytes: 50 * MB } });
			const outcome = await streamGet(standIn, '/stems/fg_audio.flac?X-Amz-Signature=abc', {
				timeoutMs: 20_000,
			});
			expect(outcome.status).toBe(200);
			expect(outcome.headers?.['content-type']).toBe('application/octet-stream');
			expect(outcome.headers?.['content-length']).toBe(String(50 * MB));
			expect(outcome.ended).toBe(true);
			expect(outcome.bytes).toBe(50 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
		});

		it('holds no body in memory: the process barely grows and at most about a chunk waits in the queue', async () => {
			standIn.on('GET', '/big', { stream: { bytes: 10 * MB } });
			// Warm up the code paths (and the shared pattern) so the measured run starts from a steady state.
			await streamGet(standIn, '/big', { timeoutMs: 20_000 });
			standIn.reset();
			standIn.on('GET', '/big', { stream: { bytes: 200 * MB } });

			const outcome = await streamGet(standIn, '/big', { timeoutMs: 20_000 });
			expect(outcome.bytes).toBe(200 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
			// Client and stand-in share this process; holding the body anywhere would add 200 MB. What
			// does grow (10-30 MB here) is the client's read buffers waiting for a GC, whatever the size.
			expect(outcome.rssGrowth).toBeLessThan(50 * MB);
			expect(outcome.arrayBuffersGrowth).toBeLessThan(50 * MB);
			expect(standIn.maxQueuedStreamBytes).toBeGreaterThan(0);
			expect(standIn.maxQueuedStreamBytes).toBeLessThanOrEqual(64 * 1024 + 64 * 1024);
		});

		it('waits for a client that stops reading (backpressure), then carries on where it stopped', async () => {
			standIn.on('GET', '/slow', { stream: { bytes: 64 * MB, chunkBytes: 256 * 1024 } });
			let queuedWhilePaused = -1;
			let requestsWhilePaused = -1;
			const outcome = await streamGet(standIn, '/slow', {
				timeoutMs: 20_000,
				pause: {
					afterBytes: 4 * MB,
					ms: 400,
					during: () => {
						queuedWhilePaused = standIn.maxQueuedStreamBytes;
						requestsWhilePaused = standIn.requests.length;
					},
				},
			});
			expect(requestsWhilePaused).toBe(1);
			// Without backpressure the remaining ~60 MB would have piled up in the response queue.
			expect(queuedWhilePaused).toBeGreaterThan(0);
			expect(queuedWhilePaused).toBeLessThanOrEqual(2 * 256 * 1024);
			expect(outcome.ended).toBe(true);
			expect(outcome.bytes).toBe(64 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
		});

		it('honours chunkBytes, contentType, status and headers (headers win), for a length no chunk divides', async () => {
			standIn.on('GET', '/odd', {
				status: 206,
				stream: { bytes: 1_000_003, chunkBytes: 4099, contentType: 'audio/flac' },
				headers: { 'x-amz-request-id': 'req-1', 'Cache-Control': 'no-store' },
			});
			const outcome = await streamGet(standIn, '/odd', { timeoutMs: 5000 });
			expect(outcome.status).toBe(206);
			expect(outcome.headers?.['content-type']).toBe('audio/flac');
			expect(outcome.headers?.['content-length']).toBe('1000003');
			expect(outcome.headers?.['x-amz-request-id']).toBe('req-1');
			expect(outcome.headers?.['cache-control']).toBe('no-store');
			expect(outcome.bytes).toBe(1_000_003);
			expect(outcome.ended).toBe(true);
			expect(outcome.firstMismatch).toBeUndefined();

			standIn.on('GET', '/typed', {
				stream: { bytes: 10 },
				headers: { 'content-type': 'audio/wav' },
			});
			const typed = await fetch(`${standIn.baseUrl}/typed`);
			expect(typed.headers.get('content-type')).toBe('audio/wav');
			expect(Buffer.from(await typed.arrayBuffer())).toEqual(streamPattern(0, 10));
		});

		it('sends exactly the bytes streamPattern() describes, and an empty body for 0 bytes', async () => {
			const length = 3 * STREAM_PATTERN_PERIOD + 17;
			standIn.on('GET', '/small', { stream: { bytes: length } }, { stream: { bytes: 0 } });
			const body = Buffer.from(await (await fetch(`${standIn.baseUrl}/small`)).arrayBuffer());
			expect(body.equals(streamPattern(0, length))).toBe(true);
			// It repeats with its period, and streamPattern() can start anywhere.
			expect(body.subarray(STREAM_PATTERN_PERIOD, STREAM_PATTERN_PERIOD + 100)).toEqual(
				body.subarray(0, 100),
			);
			expect(streamPattern(12_345, 1000)).toEqual(body.subarray(12_345, 13_345));

			const empty = await fetch(`${standIn.baseUrl}/small`);
			expect(empty.status).toBe(200);
			expect(empty.headers.get('content-length')).toBe('0');
			expect((await empty.arrayBuffer()).byteLength).toBe(0);
		});

		it('writePatternFile() writes the pattern to disk, and patternSha256() is its hash', async () => {
			const dir = mkdtempSync(join(tmpdir(), 'camb-pattern-'));
			try {
				const path = join(dir, 'input.wav');
				const length = 3 * MB + 17;
				await writePatternFile(path, length);
				expect(statSync(path).size).toBe(length);
				const check = checkStreamPattern();
				const hash = createHash('sha256');
				for await (const chunk of createReadStream(path)) {
					check.update(chunk as Buffer);
					hash.update(chunk as Buffer);
				}
				expect(check.firstMismatch).toBeUndefined();
				expect(hash.digest('hex')).toBe(patternSha256(length));
				expect(patternSha256(length)).not.toBe(patternSha256(length - 1));
			} finally {
				rmSync(dir, { recursive: true, force: true });
			}
		});

		it('checkStreamPattern() finds a changed byte, a lost chunk and a repeated chunk', () => {
			const body = streamPattern(0, 300_000);
			const feed = (...chunks: Buffer[]) => {
				const check = checkStreamPattern();
				for (const chunk of chunks) check.update(chunk);
				return check;
			};
			const whole = feed(body.subarray(0, 70_000), body.subarray(70_000));
			expect(whole.bytes).toBe(300_000);
			expect(whole.firstMismatch).toBeUndefined();

			const changed = Buffer.from(body);
			changed[123_456] ^= 0xff;
			expect(feed(changed).firstMismatch).toBe(123_456);

			const chunk = 64 * 1024;
			const lost = feed(body.subarray(0, chunk), body.subarray(2 * chunk, 3 * chunk));
			expect(lost.firstMismatch).toBeGreaterThanOrEqual(chunk);
			expect(lost.firstMismatch).toBeLessThan(chunk + 100);
			const repeated = feed(body.subarray(0, chunk), body.subarray(0, chunk));
			expect(repeated.firstMismatch).toBeGreaterThanOrEqual(chunk);
			expect(repeated.firstMismatch).toBeLessThan(chunk + 100);
		});

		it('stall: the full content-length and the reply headers, then half the body, then nothing', async () => {
			standIn.on('GET', '/stalled', {
				stream: { bytes: 10 * MB + 1 },
				fault: 'stall',
				headers: { 'x-extra': '1' },
			});
			const outcome = await streamGet(standIn, '/stalled', { timeoutMs: 600 });
			expect(outcome.status).toBe(200);
			expect(outcome.headers?.['content-length']).toBe(String(10 * MB + 1));
			expect(outcome.headers?.['x-extra']).toBe('1');
			expect(outcome.ended).toBe(false);
			expect(outcome.bytes).toBe(5 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
		});

		it('works with delayMs and in a sequence', async () => {
			standIn.on(
				'GET',
				'/seq',
				{ stream: { bytes: 1000 }, delayMs: 100 },
				{ status: 404, json: { detail: 'Not Found' } },
			);
			const started = Date.now();
			const first = await streamGet(standIn, '/seq', { timeoutMs: 2000 });
			expect(Date.now() - started).toBeGreaterThanOrEqual(90);
			expect(first.bytes).toBe(1000);
			expect(first.firstMismatch).toBeUndefined();
			expect((await fetch(`${standIn.baseUrl}/seq`)).status).toBe(404);
		});

		it('rejects stream scripting mistakes at once', () => {
			expect(() => standIn.on('GET', '/x', { stream: { bytes: 1 }, json: {} })).toThrow(
				/both json and stream/,
			);
			expect(() => standIn.on('GET', '/x', { stream: { bytes: 1 }, text: '' })).toThrow(
				/both text and stream/,
			);
			expect(() => standIn.on('GET', '/x', { stream: { bytes: -1 } })).toThrow(
				/invalid stream bytes/,
			);
			expect(() => standIn.on('GET', '/x', { stream: { bytes: 1.5 } })).toThrow(
				/invalid stream bytes/,
			);
			expect(() => standIn.on('GET', '/x', { stream: { bytes: 1, chunkBytes: 0 } })).toThrow(
				/invalid stream chunkBytes/,
			);
			expect(() => standIn.on('GET', '/x', { stream: { bytes: 1, chunkBytes: 2 * MB } })).toThrow(
				/invalid stream chunkBytes/,
			);
			for (const bytesPerSecond of [0, -1, NaN, Infinity])
				expect(() => standIn.on('GET', '/x', { stream: { bytes: 1, bytesPerSecond } })).toThrow(
					/invalid stream bytesPerSecond/,
				);
		});
	});

	describe('uploads (POST /audio-separation)', () => {
		const MB = 1024 * 1024;
		const uploadUrl = () => `${standIn.baseUrl}/audio-separation`;

		it('accepts a well-formed upload: one task each, its id answered, fields and file on record', async () => {
			const file = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
			const form = new FormData();
			form.append('project_name', 'Mix été');
			form.append('project_description', 'two\r\nlines');
			form.append('folder_id', '12');
			form.append(
				'media_file',
				new Blob([new Uint8Array(file)], { type: 'audio/wav' }),
				'song.wav',
			);
			const first = await fetch(uploadUrl(), { method: 'POST', body: form });
			expect(first.status).toBe(200);
			expect(await first.json()).toEqual({ task_id: 'standin-task-1' });
			const second = await fetch(uploadUrl(), { method: 'POST', body: form });
			expect(await second.json()).toEqual({ task_id: 'standin-task-2' });

			expect(standIn.tasksCreated).toEqual([
				{ taskId: 'standin-task-1', requestIndex: 0, fileSha256: sha256(file), bytes: 256 },
				{ taskId: 'standin-task-2', requestIndex: 1, fileSha256: sha256(file), bytes: 256 },
			]);
			const [upload] = standIn.requests;
			expect(upload.body).toBe('');
			expect(upload.bodyComplete).toBe(true);
			expect(upload.bodyBytes).toBeGreaterThan(256);
			expect(
				uploadProblems(upload, {
					fields: { project_name: 'Mix été', project_description: 'two\r\nlines', folder_id: '12' },
					file: { fileName: 'song.wav', contentType: 'audio/wav', data: file },
				}),
			).toEqual([]);

			// reset() forgets the tasks and numbers them from 1 again, keeping the same array.
			const tasks = standIn.tasksCreated;
			standIn.reset();
			expect(tasks).toEqual([]);
			expect(standIn.tasksCreated).toBe(tasks);
			const third = await fetch(uploadUrl(), { method: 'POST', body: form });
			expect(await third.json()).toEqual({ task_id: 'standin-task-1' });
		});

		it('hashes every byte however TCP cuts the body: one byte per write, and random sizes', async () => {
			const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
			const file = Buffer.concat([all, Buffer.from('\r\n--XyX-\r\n--Xy'), all.reverse()]);
			// A short boundary, so the data runs into partial delimiters often.
			const body = multipartBody(
				[
					{ name: 'project_name', value: 'é' },
					{ name: 'media_file', fileName: 'b.bin', data: file },
				],
				{ boundary: 'XyZ' },
			);
			const whole = body.toBuffer();
			const oneByOne = Array.from(whole, (_, i) => whole.subarray(i, i + 1));
			const random: Buffer[] = [];
			for (let at = 0, state = 99; at < whole.length; ) {
				state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
				const size = 1 + (state % 97);
				random.push(whole.subarray(at, at + size));
				at += size;
			}
			for (const chunks of [oneByOne, random]) {
				const outcome = await post(standIn, '/audio-separation', {
					body: chunks,
					headers: { 'content-type': body.contentType, 'content-length': whole.length },
					gapBetweenWrites: true,
					timeoutMs: 20_000,
				});
				expect(outcome.status).toBe(200);
			}
			expect(standIn.requests).toHaveLength(2);
			for (const request of standIn.requests)
				expect(
					uploadProblems(request, {
						fields: { project_name: 'é' },
						file: { fileName: 'b.bin', contentType: 'application/octet-stream', data: file },
					}),
				).toEqual([]);
			expect(standIn.tasksCreated).toHaveLength(2);
		});

		it("refuses a form it cannot use with FastAPI's 422 and creates no task", async () => {
			const refused = async (body: Buffer | MultipartBody, contentType?: string) => {
				const outcome = await post(standIn, '/audio-separation', {
					body: Buffer.isBuffer(body) ? [body] : body,
					headers:
						Buffer.isBuffer(body) && contentType
							? { 'content-type': contentType, 'content-length': body.length }
							: {},
					timeoutMs: 5000,
				});
				return { status: outcome.status, body: JSON.parse(outcome.text) as unknown };
			};
			const missing = {
				status: 422,
				body: { detail: [{ loc: ['body', 'media_file'], msg: 'Field required', type: 'missing' }] },
			};
			const other = (msg: RegExp) => ({
				status: 422,
				body: {
					detail: [
						{ loc: ['body', 'media_file'], msg: expect.stringMatching(msg), type: 'value_error' },
					],
				},
			});
			expect(await refused(multipartBody([{ name: 'project_name', value: 'p' }]))).toEqual(missing);
			expect(await refused(multipartBody([{ name: 'media_file', value: 'not a file' }]))).toEqual(
				other(/Expected UploadFile/),
			);
			expect(
				await refused(
					smallUpload([{ name: 'media_file', fileName: 'b.wav', data: Buffer.from('x') }]),
				),
			).toEqual(other(/Expected one file, got 2/));
			expect(
				await refused(
					Buffer.from(
						'--b\r\nContent-Disposition: form-data; name="media_file"; filename="a"\r\n\r\nab',
					),
					'multipart/form-data; boundary=b',
				),
			).toEqual(other(/error parsing the body: the body ended before the closing boundary/));
			expect(await refused(Buffer.from('x'), 'multipart/form-data')).toEqual(
				other(/without a boundary/),
			);
			expect(await refused(Buffer.from('{"media_file":"a"}'), 'application/json')).toEqual(missing);
			const bare = await fetch(uploadUrl(), { method: 'POST' });
			expect({ status: bare.status, body: await bare.json() }).toEqual(missing);
			expect(standIn.requests).toHaveLength(7);
			expect(standIn.tasksCreated).toEqual([]);
			// A file in another field is not the media file either.
			expect(
				await refused(multipartBody([{ name: 'file', fileName: 'a.wav', data: Buffer.from('x') }])),
			).toEqual(missing);
			expect(standIn.tasksCreated).toEqual([]);
		});

		it('reset-mid-body: the client sees the upload fail, the stand-in records it broken off, no task', async () => {
			standIn.on(
				'POST',
				'/audio-separation',
				{ fault: 'reset-mid-body', afterBodyBytes: 1 * MB },
				{ fault: 'reset-mid-body' },
				{},
			);
			const body = multipartBody([
				{ name: 'media_file', fileName: 'big.wav', patternBytes: 8 * MB },
			]);
			for (const expectedAtLeast of [1 * MB, Math.floor(body.contentLength / 2)]) {
				const outcome = await post(standIn, '/audio-separation', { body, timeoutMs: 10_000 });
				expect(outcome.kind).toBe('error');
				expect(['ECONNRESET', 'EPIPE']).toContain(outcome.error?.code);
				const broken = standIn.requests[standIn.requests.length - 1];
				expect(broken.bodyComplete).toBe(false);
				expect(broken.bodyError).toMatch(
					/^the stand-in reset the connection after \d+ body bytes \(reset-mid-body\)$/,
				);
				expect(broken.bodyBytes).toBeGreaterThanOrEqual(expectedAtLeast);
				expect(broken.bodyBytes).toBeLessThan(body.contentLength);
				expect(broken.multipart?.complete).toBe(false);
				expect(broken.multipart?.error).toBe(broken.bodyError);
				expect(broken.multipart?.files[0].bytes).toBeLessThan(8 * MB);
			}
			expect(standIn.tasksCreated).toEqual([]);

			// The route's next reply (unscripted-like {}) takes the retry whole.
			const retry = await post(standIn, '/audio-separation', { body, timeoutMs: 20_000 });
			expect([retry.status, JSON.parse(retry.text)]).toEqual([200, { task_id: 'standin-task-1' }]);
			expect(standIn.tasksCreated).toEqual([
				expect.objectContaining({ taskId: 'standin-task-1', requestIndex: 2, bytes: 8 * MB }),
			]);
			expect(
				uploadProblems(standIn.requests[2], {
					file: { fileName: 'big.wav', patternBytes: 8 * MB },
				}),
			).toEqual([]);
		});

		it('reset-mid-body on another route, and at 0 bytes: right after the headers', async () => {
			standIn.on('POST', '/audio-separation-results', { fault: 'reset-mid-body' });
			const json = Buffer.alloc(2 * MB, 0x20);
			const outcome = await post(standIn, '/audio-separation-results', {
				body: [json],
				headers: { 'content-type': 'application/json', 'content-length': json.length },
				timeoutMs: 10_000,
			});
			expect(outcome.kind).toBe('error');
			expect(standIn.requests[0].bodyBytes).toBeGreaterThanOrEqual(1 * MB);
			expect(standIn.requests[0].bodyBytes).toBeLessThan(2 * MB);
			expect(standIn.requests[0].multipart).toBeUndefined();

			standIn.on('POST', '/audio-separation', { fault: 'reset-mid-body', afterBodyBytes: 0 });
			const early = await post(standIn, '/audio-separation', {
				body: smallUpload(),
				timeoutMs: 5000,
			});
			expect(early.kind).toBe('error');
			expect(standIn.requests[1].bodyBytes).toBe(0);
			expect(standIn.requests[1].bodyComplete).toBe(false);
			expect(standIn.tasksCreated).toEqual([]);
		});

		it("hang-mid-body: stops reading, the client's writes block, only its time-out ends it; no task", async () => {
			standIn.on('POST', '/audio-separation', {
				fault: 'hang-mid-body',
				afterBodyBytes: 256 * 1024,
			});
			const body = multipartBody([
				{ name: 'media_file', fileName: 'big.wav', patternBytes: 64 * MB },
			]);
			const progress = { sent: 0 };
			let sentBefore = -1;
			setTimeout(() => (sentBefore = progress.sent), 800);
			const outcome = await post(standIn, '/audio-separation', {
				body,
				timeoutMs: 1600,
				progress,
			});
			expect(outcome.kind).toBe('timeout');
			// Blocked: far from all of it left the client, and hardly anything in the last 800 ms (the
			// kernel may still grow a socket buffer a little); reading on, loopback moves tens of MB.
			expect(outcome.sent).toBeLessThan(16 * MB);
			expect(outcome.sent - sentBefore).toBeLessThan(1 * MB);
			expect(standIn.requests).toHaveLength(1);
			const [hung] = standIn.requests;
			expect(hung.bodyComplete).toBe(false);
			expect(hung.bodyError).toMatch(
				/^the stand-in stopped reading after \d+ body bytes \(hang-mid-body\)$/,
			);
			expect(hung.bodyBytes).toBeGreaterThanOrEqual(256 * 1024);
			expect(hung.bodyBytes).toBeLessThan(1 * MB);
			expect(standIn.tasksCreated).toEqual([]);
		});

		it('records an upload the client abandoned mid-body, with how far it got; no task', async () => {
			const body = multipartBody([
				{ name: 'media_file', fileName: 'big.wav', patternBytes: 16 * MB },
			]);
			const outcome = await post(standIn, '/audio-separation', {
				body,
				timeoutMs: 10_000,
				abortAfterBytes: 2 * MB,
			});
			expect(outcome.kind).toBe('error');
			await untilRecorded(standIn, 1);
			const [gone] = standIn.requests;
			expect(gone.bodyComplete).toBe(false);
			expect(gone.bodyError).toMatch(
				new RegExp(`^the client went away after \\d+ of ${body.contentLength} body bytes$`),
			);
			expect(gone.bodyBytes).toBeLessThan(body.contentLength);
			expect(gone.multipart?.complete).toBe(false);
			// What came of the file: the body bytes after the part's headers (less a few the parser may
			// still hold as a possible delimiter start).
			const headLength = body.contentLength - 16 * MB - `\r\n--${body.boundary}--\r\n`.length;
			expect(gone.multipart?.files[0].bytes).toBeGreaterThan(gone.bodyBytes - headLength - 100);
			expect(gone.multipart?.files[0].bytes).toBeLessThanOrEqual(gone.bodyBytes - headLength);
			expect(standIn.tasksCreated).toEqual([]);
		});

		it('createsTask: each scripted reply says whether CAMB took the file', async () => {
			standIn.on(
				'POST',
				'/audio-separation',
				{ fault: 'reset', createsTask: true }, // took the file, then the connection dropped
				{ fault: 'hang', createsTask: true }, // took it, then never answered
				{ status: 429, json: { detail: 'Too Many Requests' } }, // refused
				{ status: 503, text: 'busy' }, // refused: non-2xx default
				{ fault: 'stall', json: { task_id: 'never' } }, // a fault: default false
				{ status: 200, json: { detail: 'odd' }, createsTask: false },
				{ json: { task_id: 'scripted-id' } }, // 2xx without fault: default true, its id
				{ status: 202, delayMs: 50 }, // no body given: {"task_id": id}
				{ status: 500, createsTask: true }, // took it, answered 500 anyway
			);
			const outcomes: Array<[string, number | undefined, string]> = [];
			for (let i = 0; i < 9; i++) {
				const outcome = await post(standIn, '/audio-separation', {
					body: smallUpload(),
					timeoutMs: 600,
				});
				outcomes.push([
					outcome.kind,
					outcome.status,
					outcome.kind === 'response' ? outcome.text : '',
				]);
			}
			expect(outcomes).toEqual([
				['error', undefined, ''],
				['timeout', undefined, ''],
				['response', 429, '{"detail":"Too Many Requests"}'],
				['response', 503, 'busy'],
				['timeout', 200, ''],
				['response', 200, '{"detail":"odd"}'],
				['response', 200, '{"task_id":"scripted-id"}'],
				['response', 202, '{"task_id":"standin-task-3"}'],
				['response', 500, '{"task_id":"standin-task-4"}'],
			]);
			expect(standIn.tasksCreated.map((task) => [task.taskId, task.requestIndex])).toEqual([
				['standin-task-1', 0],
				['standin-task-2', 1],
				['scripted-id', 6],
				['standin-task-3', 7],
				['standin-task-4', 8],
			]);
			expect(standIn.tasksCreated[0]).toEqual({
				taskId: 'standin-task-1',
				requestIndex: 0,
				fileSha256: sha256(Buffer.from('RIFF')),
				bytes: 4,
			});
		});

		it('a script may accept a form without exactly one media file (no file on record then)', async () => {
			standIn.on('POST', '/audio-separation', { createsTask: true });
			const outcome = await post(standIn, '/audio-separation', {
				body: multipartBody([{ name: 'project_name', value: 'p' }]),
				timeoutMs: 5000,
			});
			expect(JSON.parse(outcome.text)).toEqual({ task_id: 'standin-task-1' });
			expect(standIn.tasksCreated).toEqual([
				{ taskId: 'standin-task-1', requestIndex: 0, fileSha256: undefined, bytes: undefined },
			]);
		});

		it('rejects upload scripting mistakes at once', () => {
			expect(() => standIn.on('GET', '/list-voices', { createsTask: true })).toThrow(
				/createsTask is for POST \/audio-separation only/,
			);
			expect(() => standIn.task('t', { createsTask: false })).toThrow(/createsTask is for/);
			expect(() =>
				standIn.on('post', '/audio-separation', { fault: 'reset-mid-body', createsTask: true }),
			).toThrow(/cannot create a task/);
			expect(() =>
				standIn.on('POST', '/audio-separation', { fault: 'reset', afterBodyBytes: 1 }),
			).toThrow(/afterBodyBytes without a mid-body fault/);
			expect(() =>
				standIn.on('POST', '/audio-separation', { fault: 'hang-mid-body', afterBodyBytes: -1 }),
			).toThrow(/invalid afterBodyBytes/);
			expect(() =>
				standIn.on('POST', '/audio-separation', { fault: 'explode' as unknown as 'reset' }),
			).toThrow(/unknown fault/);
			// And a correct one is taken.
			standIn.on('POST', '/audio-separation', { fault: 'hang-mid-body', afterBodyBytes: 0 });
		});

		it('keeps the first MiB of a long non-multipart body as text, and counts the rest', async () => {
			// 'x' then two-byte characters: the cut at 1 MiB falls inside one, which is left out.
			const long = Buffer.concat([Buffer.from('x'), Buffer.alloc(3 * MB, 'é')]);
			standIn.on('POST', '/audio-separation-results', { json: {} });
			const outcome = await post(standIn, '/audio-separation-results', {
				body: [long],
				headers: { 'content-type': 'application/json', 'content-length': long.length },
				timeoutMs: 10_000,
			});
			expect(outcome.status).toBe(200);
			const [recorded] = standIn.requests;
			expect(recorded.bodyBytes).toBe(long.length);
			expect(recorded.bodyComplete).toBe(true);
			expect(recorded.bodyTruncated).toBe(true);
			expect(recorded.body).toBe('x' + 'é'.repeat((MAX_RECORDED_BODY_BYTES - 1 - 1) / 2));
			expect(recorded.multipart).toBeUndefined();
		});
	});

	describe('timing', () => {
		it('delayMs: waits before answering', async () => {
			standIn.task('slow', { json: 'SUCCESS', delayMs: 300 });
			const started = Date.now();
			const res = await status('slow');
			const elapsed = Date.now() - started;
			expect(await res.json()).toBe('SUCCESS');
			expect(elapsed).toBeGreaterThanOrEqual(290);
		});

		it('delayMs then reset: waits, then drops', async () => {
			standIn.task('slow-drop', { fault: 'reset', delayMs: 200 });
			const started = Date.now();
			await expect(status('slow-drop')).rejects.toThrow();
			expect(Date.now() - started).toBeGreaterThanOrEqual(190);
		});

		it('without delay or latency, answers quickly', async () => {
			standIn.task('fast', { json: 'SUCCESS' });
			const started = Date.now();
			await (await status('fast')).json();
			expect(Date.now() - started).toBeLessThan(200);
		});
	});
});

describe('CAMB stand-in with an api key', () => {
	let standIn: StandIn;

	beforeAll(async () => {
		standIn = await startStandIn({ apiKey: 'good-key' });
	});
	afterAll(() => standIn.close());

	it('refuses a missing or wrong key with a FastAPI-style 401, records it, and does not use up the script', async () => {
		standIn.task('t', { json: 'PENDING' }, { json: 'SUCCESS' });
		const url = standIn.baseUrl + taskStatusPath('t');

		const missing = await fetch(url);
		expect(missing.status).toBe(401);
		expect(await missing.json()).toEqual({ detail: 'Invalid API key' });

		const wrong = await fetch(url, { headers: { 'x-api-key': 'bad-key' } });
		expect(wrong.status).toBe(401);

		const right = await fetch(url, { headers: { 'x-api-key': 'good-key' } });
		expect(right.status).toBe(200);
		expect(await right.json()).toBe('PENDING');

		expect(standIn.requestsForTask('t').map((r) => r.headers['x-api-key'])).toEqual([
			undefined,
			'bad-key',
			'good-key',
		]);
	});

	it('guards the defaults too (the credential test relies on it)', async () => {
		expect((await fetch(`${standIn.baseUrl}/list-voices`)).status).toBe(401);
		expect(
			(await fetch(`${standIn.baseUrl}/list-voices`, { headers: { 'x-api-key': 'good-key' } }))
				.status,
		).toBe(200);
	});

	it('keeps the key after reset()', async () => {
		standIn.reset();
		expect((await fetch(`${standIn.baseUrl}/list-voices`)).status).toBe(401);
	});
});

describe('CAMB stand-in uploads behind the api key and the rate limit', () => {
	const MB = 1024 * 1024;
	const big = () =>
		multipartBody([{ name: 'media_file', fileName: 'big.wav', patternBytes: 32 * MB }]);

	it('answers an upload the bucket refuses with a 429 the client reads as one (not a reset); no task', async () => {
		const standIn = await startStandIn({
			apiKey: 'k',
			rateLimit: { perSecond: 0.001, burst: 1, retryAfterSeconds: 30 },
		});
		try {
			const body = big();
			const headers = { 'x-api-key': 'k' };
			const first = await post(standIn, '/audio-separation', { body, headers, timeoutMs: 60_000 });
			const second = await post(standIn, '/audio-separation', { body, headers, timeoutMs: 60_000 });
			expect([first.kind, first.status]).toEqual(['response', 200]);
			// Answering while the client still writes, then closing, would end here as ECONNRESET/EPIPE.
			expect(second.kind).toBe('response');
			expect(second.status).toBe(429);
			expect(second.headers?.['retry-after']).toBe('30');
			expect(JSON.parse(second.text)).toEqual({ detail: 'Too many requests' });
			// The stand-in read it all before answering.
			expect(second.sent).toBe(body.contentLength);
			expect(standIn.requests[1].bodyComplete).toBe(true);
			expect(standIn.limited).toBe(1);
			expect(standIn.tasksCreated).toEqual([
				{
					taskId: 'standin-task-1',
					requestIndex: 0,
					fileSha256: patternSha256(32 * MB),
					bytes: 32 * MB,
				},
			]);
		} finally {
			await standIn.close();
		}
	});

	it('answers an upload with a missing or wrong key 401 after reading it, records it, no task', async () => {
		const standIn = await startStandIn({ apiKey: 'k' });
		try {
			const body = big();
			const missing = await post(standIn, '/audio-separation', { body, timeoutMs: 60_000 });
			const wrong = await post(standIn, '/audio-separation', {
				body,
				headers: { 'x-api-key': 'nope' },
				timeoutMs: 60_000,
			});
			for (const refused of [missing, wrong]) {
				expect([refused.kind, refused.status]).toEqual(['response', 401]);
				expect(JSON.parse(refused.text)).toEqual({ detail: 'Invalid API key' });
			}
			expect(standIn.requests.map((r) => [r.headers['x-api-key'], r.bodyComplete])).toEqual([
				[undefined, true],
				['nope', true],
			]);
			expect(
				uploadProblems(standIn.requests[1], { file: { fileName: 'big.wav', bytes: 32 * MB } }),
			).toEqual([]);
			expect(standIn.tasksCreated).toEqual([]);
			const right = await post(standIn, '/audio-separation', {
				body: smallUpload(),
				headers: { 'x-api-key': 'k' },
				timeoutMs: 5000,
			});
			expect(right.status).toBe(200);
			expect(standIn.tasksCreated).toHaveLength(1);
		} finally {
			await standIn.close();
		}
	});
});

describe('CAMB stand-in refuseEarly', () => {
	const MB = 1024 * 1024;

	it('sends 401 and 429 while the client is still uploading, read as responses; the body is still read; no task', async () => {
		const standIn = await startStandIn({
			apiKey: 'k',
			refuseEarly: true,
			rateLimit: { perSecond: 0.001, burst: 0, retryAfterSeconds: 5 },
		});
		try {
			const body = multipartBody([
				{ name: 'media_file', fileName: 'big.wav', patternBytes: 256 * MB },
			]);
			const limited = await post(standIn, '/audio-separation', {
				body,
				headers: { 'x-api-key': 'k' },
				timeoutMs: 60_000,
			});
			const unauthorised = await post(standIn, '/audio-separation', { body, timeoutMs: 60_000 });
			expect([limited.kind, limited.status, limited.headers?.['retry-after']]).toEqual([
				'response',
				429,
				'5',
			]);
			expect([unauthorised.kind, unauthorised.status]).toEqual(['response', 401]);
			// The answers came while the uploads were still going (post() stops at the answer's end).
			expect(limited.sent).toBeLessThan(body.contentLength);
			expect(unauthorised.sent).toBeLessThan(body.contentLength);
			await untilRecorded(standIn, 2);
			// The stand-in kept reading until the client stopped sending: no reset from its side.
			for (const request of standIn.requests) {
				expect(request.bodyComplete).toBe(false);
				expect(request.bodyError).toMatch(/^the client went away after \d+ of \d+ body bytes$/);
				expect(request.bodyBytes).toBeGreaterThan(0);
			}
			expect(standIn.tasksCreated).toEqual([]);
			expect(standIn.limited).toBe(1);
		} finally {
			await standIn.close();
		}
	});
});

describe('CAMB stand-in on a slow link', () => {
	const MB = 1024 * 1024;
	/** Slack for the bound "at most pace x time": a timer may fire up to a millisecond early. */
	const SLACK = 16 * 1024;

	it('readBytesPerSecond: reads a 3 MiB upload at 1 MiB/s, whole and hashed right; one task', async () => {
		const standIn = await startStandIn({ readBytesPerSecond: 1 * MB });
		try {
			const body = multipartBody([
				{ name: 'project_name', value: 'slow' },
				{ name: 'media_file', fileName: 'slow.wav', patternBytes: 3 * MB },
			]);
			const started = Date.now();
			const outcome = await post(standIn, '/audio-separation', { body, timeoutMs: 20_000 });
			const elapsed = Date.now() - started;
			expect([outcome.kind, outcome.status]).toEqual(['response', 200]);
			// The kernel's buffers took the client's writes long before: it waited for the answer.
			// Unthrottled, loopback takes a few ms; the pace makes it about 3 s (generous: a busy machine).
			expect(elapsed).toBeGreaterThanOrEqual(2500);
			expect(elapsed).toBeLessThan(15_000);
			const [upload] = standIn.requests;
			expect(upload.bodyComplete).toBe(true);
			expect(upload.bodyBytes).toBe(body.contentLength);
			expect(
				uploadProblems(upload, {
					fields: { project_name: 'slow' },
					file: { fileName: 'slow.wav', patternBytes: 3 * MB },
				}),
			).toEqual([]);
			expect(standIn.tasksCreated).toEqual([
				{
					taskId: 'standin-task-1',
					requestIndex: 0,
					fileSha256: patternSha256(3 * MB),
					bytes: 3 * MB,
				},
			]);
		} finally {
			await standIn.close();
		}
	});

	it('readBytesPerSecond with hang-mid-body: reads at the pace up to the fault, then never again; no task', async () => {
		const standIn = await startStandIn({ readBytesPerSecond: 1 * MB });
		try {
			standIn.on('POST', '/audio-separation', {
				fault: 'hang-mid-body',
				afterBodyBytes: 512 * 1024,
			});
			const body = multipartBody([
				{ name: 'media_file', fileName: 'big.wav', patternBytes: 64 * MB },
			]);
			const progress = { sent: 0 };
			let sentBefore = -1;
			setTimeout(() => (sentBefore = progress.sent), 1500);
			const started = Date.now();
			const posting = post(standIn, '/audio-separation', { body, timeoutMs: 2500, progress });
			await untilRecorded(standIn, 1);
			// 512 KiB at 1 MiB/s: about half a second to the fault.
			expect(Date.now() - started).toBeGreaterThanOrEqual(400);
			const outcome = await posting;
			expect(outcome.kind).toBe('timeout');
			// Never resumed: the client's writes stay blocked. Reading on would move the whole 64 MiB
			// (the fault's request no longer paces what it reads).
			expect(outcome.sent).toBeLessThan(16 * MB);
			expect(outcome.sent - sentBefore).toBeLessThan(1 * MB);
			expect(standIn.requests).toHaveLength(1);
			const [hung] = standIn.requests;
			expect(hung.bodyComplete).toBe(false);
			expect(hung.bodyError).toMatch(
				/^the stand-in stopped reading after \d+ body bytes \(hang-mid-body\)$/,
			);
			expect(hung.bodyBytes).toBeGreaterThanOrEqual(512 * 1024);
			expect(hung.bodyBytes).toBeLessThan(1 * MB);
			expect(standIn.tasksCreated).toEqual([]);
		} finally {
			await standIn.close();
		}
	});

	it('close() returns promptly mid-way through a paced read and a paced stream', async () => {
		const standIn = await startStandIn({ readBytesPerSecond: 64 * 1024 });
		standIn.on('GET', '/stems/slow.flac', {
			stream: { bytes: 64 * MB, bytesPerSecond: 64 * 1024 },
		});
		// The pacers wait on the stand-in's after() timers: unref'd and cleared by close() (the close()
		// tests check that for a delay). Here: close() ends paced work mid-way.
		const started = Date.now();
		/** The most a 64 KiB/s link can have carried by now. */
		const carried = () => ((Date.now() - started) / 1000) * 64 * 1024 + SLACK;
		const body = multipartBody([{ name: 'media_file', fileName: 'big.wav', patternBytes: 8 * MB }]);
		let received = 0;
		const ends: Array<Promise<string>> = [];
		const upload = http.request({
			host: '127.0.0.1',
			port: standIn.port,
			path: '/audio-separation',
			method: 'POST',
			headers: { 'content-type': body.contentType, 'content-length': body.contentLength },
			agent: false,
		});
		ends.push(new Promise((resolve) => upload.on('close', () => resolve('upload closed'))));
		upload.on('error', () => undefined);
		Readable.from(body.chunks(), { objectMode: false }).pipe(upload);
		const download = http.get(
			{ host: '127.0.0.1', port: standIn.port, path: '/stems/slow.flac', agent: false },
			(res) => {
				res.on('data', (chunk: Buffer) => (received += chunk.length));
				res.on('error', () => undefined);
			},
		);
		ends.push(new Promise((resolve) => download.on('close', () => resolve('download closed'))));
		download.on('error', () => undefined);
		try {
			await new Promise((r) => setTimeout(r, 300));
			// Both pacers are mid-way, each waiting on a timer.
			expect(received).toBeGreaterThan(0);
			expect(received).toBeLessThanOrEqual(carried());
			// The GET (no body) is on record; the upload is still being read.
			expect(standIn.requests.map((r) => r.method)).toEqual(['GET']);
			const closing = Date.now();
			await standIn.close();
			expect(await Promise.all(ends)).toEqual(['upload closed', 'download closed']);
			expect(Date.now() - closing).toBeLessThan(1000);
			await untilRecorded(standIn, 2);
			expect(standIn.requests.map((r) => r.method)).toEqual(['GET', 'POST']);
			expect(standIn.requests[1].bodyComplete).toBe(false);
			expect(standIn.requests[1].bodyBytes).toBeLessThanOrEqual(carried());
		} finally {
			upload.destroy();
			download.destroy();
			await standIn.close();
		}
	});

	it('rejects a readBytesPerSecond that is no pace', async () => {
		for (const readBytesPerSecond of [-1, NaN, Infinity])
			await expect(startStandIn({ readBytesPerSecond })).rejects.toThrow(
				/invalid readBytesPerSecond/,
			);
		// 0 is no limit, as undefined.
		await (await startStandIn({ readBytesPerSecond: 0 })).close();
	});

	describe('streamed bodies', () => {
		let standIn: StandIn;

		beforeAll(async () => {
			standIn = await startStandIn();
		});
		afterEach(() => standIn.reset());
		afterAll(() => standIn.close());

		it('bytesPerSecond: sends 3 MiB at 1 MiB/s, every byte in order, never ahead of the pace', async () => {
			standIn.on('GET', '/stems/slow.flac', { stream: { bytes: 3 * MB, bytesPerSecond: 1 * MB } });
			const progress = { bytes: 0, lastAt: 0 };
			const samples: Array<{ bytes: number; elapsed: number }> = [];
			const started = Date.now();
			const sampler = setInterval(
				() => samples.push({ bytes: progress.bytes, elapsed: Date.now() - started }),
				250,
			);
			const outcome = await streamGet(standIn, '/stems/slow.flac', {
				timeoutMs: 20_000,
				progress,
			}).finally(() => clearInterval(sampler));
			const elapsed = Date.now() - started;
			expect(outcome.status).toBe(200);
			expect(outcome.headers?.['content-length']).toBe(String(3 * MB));
			expect(outcome.ended).toBe(true);
			expect(outcome.bytes).toBe(3 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
			expect(elapsed).toBeGreaterThanOrEqual(2500);
			expect(elapsed).toBeLessThan(15_000);
			expect(samples.length).toBeGreaterThan(4);
			for (const sample of samples)
				expect(sample.bytes).toBeLessThanOrEqual((sample.elapsed / 1000) * MB + SLACK);
		});

		it('bytesPerSecond with stall: the first half at the pace, then nothing, so the client times out', async () => {
			standIn.on('GET', '/stems/stalled.flac', {
				stream: { bytes: 2 * MB, bytesPerSecond: 1 * MB },
				fault: 'stall',
			});
			const progress = { bytes: 0, lastAt: 0 };
			let early: { bytes: number; elapsed: number } | undefined;
			const started = Date.now();
			setTimeout(() => (early = { bytes: progress.bytes, elapsed: Date.now() - started }), 500);
			const outcome = await streamGet(standIn, '/stems/stalled.flac', {
				timeoutMs: 3000,
				progress,
			});
			expect(outcome.status).toBe(200);
			expect(outcome.headers?.['content-length']).toBe(String(2 * MB));
			expect(outcome.ended).toBe(false);
			expect(outcome.bytes).toBe(1 * MB);
			expect(outcome.firstMismatch).toBeUndefined();
			// At the pace: half a second in, no more than half a MiB; the last byte after about 1 s.
			expect(early?.bytes).toBeLessThanOrEqual(((early?.elapsed ?? 0) / 1000) * MB + SLACK);
			expect(progress.lastAt - started).toBeGreaterThanOrEqual(900);
		});
	});
});

describe('CAMB stand-in upload memory', () => {
	const MB = 1024 * 1024;

	it('takes a 256 MiB upload with flat memory, and hashes it right', async () => {
		const standIn = await startStandIn();
		const upload = (bytes: number) =>
			post(standIn, '/audio-separation', {
				body: multipartBody([
					{ name: 'project_name', value: 'big' },
					{
						name: 'media_file',
						fileName: 'huge.flac',
						contentType: 'audio/flac',
						patternBytes: bytes,
					},
				]),
				timeoutMs: 150_000,
			});
		try {
			// Warm up the code paths so the measured run starts from a steady state.
			expect((await upload(8 * MB)).status).toBe(200);
			standIn.reset();
			const start = process.memoryUsage();
			let peakRss = start.rss;
			let peakArrayBuffers = start.arrayBuffers;
			const sampler = setInterval(() => {
				const now = process.memoryUsage();
				peakRss = Math.max(peakRss, now.rss);
				peakArrayBuffers = Math.max(peakArrayBuffers, now.arrayBuffers);
			}, 5);
			const outcome = await upload(256 * MB).finally(() => clearInterval(sampler));
			expect(outcome.status).toBe(200);
			// Client and stand-in share this process; holding the upload anywhere would add 256 MB.
			// What grows is read buffers waiting for a GC, whatever the size.
			expect(peakRss - start.rss).toBeLessThan(64 * MB);
			expect(peakArrayBuffers - start.arrayBuffers).toBeLessThan(64 * MB);
			expect(
				uploadProblems(standIn.requests[0], {
					fields: { project_name: 'big' },
					file: { fileName: 'huge.flac', contentType: 'audio/flac', patternBytes: 256 * MB },
				}),
			).toEqual([]);
			expect(standIn.tasksCreated).toHaveLength(1);
		} finally {
			await standIn.close();
		}
	}, 200_000);
});

describe('CAMB stand-in latency', () => {
	it('adds latencyMs to every answer, including defaults, 401s and delayed replies', async () => {
		const standIn = await startStandIn({ latencyMs: 150, apiKey: 'k' });
		try {
			standIn.task('t', { json: 'SUCCESS', delayMs: 100 });
			const timed = async (url: string, key?: string) => {
				const started = Date.now();
				const res = await fetch(url, { headers: key ? { 'x-api-key': key } : {} });
				await res.text();
				return { status: res.status, elapsed: Date.now() - started };
			};
			const def = await timed(`${standIn.baseUrl}/list-voices`, 'k');
			const refused = await timed(`${standIn.baseUrl}/list-voices`);
			const delayed = await timed(standIn.baseUrl + taskStatusPath('t'), 'k');
			expect(def.status).toBe(200);
			expect(def.elapsed).toBeGreaterThanOrEqual(140);
			expect(refused.status).toBe(401);
			expect(refused.elapsed).toBeGreaterThanOrEqual(140);
			expect(delayed.status).toBe(200);
			expect(delayed.elapsed).toBeGreaterThanOrEqual(240);

			// reset() keeps the latency.
			standIn.reset();
			expect((await timed(`${standIn.baseUrl}/list-voices`, 'k')).elapsed).toBeGreaterThanOrEqual(
				140,
			);
		} finally {
			await standIn.close();
		}
	});
});

describe('CAMB stand-in close()', () => {
	/** close() must not wait on the open sockets: fail clearly instead of hitting jest's timeout. */
	async function closeWithin(standIn: StandIn, ms: number): Promise<number> {
		const started = Date.now();
		const result = await Promise.race([
			standIn.close().then(() => 'closed'),
			new Promise((r) => setTimeout(() => r('still open'), ms).unref()),
		]);
		expect(result).toBe('closed');
		return Date.now() - started;
	}

	it('returns promptly with a hung and a stalled request open, and their clients see the socket end', async () => {
		const standIn = await startStandIn();
		standIn.task('hang', { fault: 'hang' });
		standIn.task('stall', { json: { status: 'PENDING' }, fault: 'stall' });
		const hung = rawGet(standIn, taskStatusPath('hang'), 10_000);
		const stalled = rawGet(standIn, taskStatusPath('stall'), 10_000);
		await untilRecorded(standIn, 2);

		const closing = Date.now();
		await closeWithin(standIn, 1000);
		const [hungOutcome, stalledOutcome] = await Promise.all([hung, stalled]);
		// Well before rawGet's own 10 s watch: the stand-in ended both sockets.
		expect(Date.now() - closing).toBeLessThan(1000);
		expect(hungOutcome.kind).toBe('error');
		expect(stalledOutcome.kind).toBe('response');
		expect(stalledOutcome.ended).toBe(false);
	});

	it('returns promptly while a large streamed body waits on a client that stopped reading', async () => {
		const standIn = await startStandIn();
		standIn.on('GET', '/huge', { stream: { bytes: 4 * 1024 * 1024 * 1024 } });
		let received = 0;
		const req = http.get(
			{ host: '127.0.0.1', port: standIn.port, path: '/huge', agent: false },
			(res) => {
				res.on('data', (chunk: Buffer) => {
					received += chunk.length;
					if (received >= 1024 * 1024) res.pause(); // and never resume
				});
				res.on('error', () => undefined);
			},
		);
		req.on('error', () => undefined);
		try {
			await untilRecorded(standIn, 1);
			await new Promise((r) => setTimeout(r, 100));
			// The stand-in is parked on 'drain' that will never come; close() must not wait for it.
			await closeWithin(standIn, 1000);
			expect(received).toBeGreaterThanOrEqual(1024 * 1024);
			expect(received).toBeLessThan(64 * 1024 * 1024);
		} finally {
			req.destroy();
		}
	});

	it('returns promptly with an idle keep-alive connection from fetch', async () => {
		const standIn = await startStandIn();
		await (await fetch(`${standIn.baseUrl}/list-voices`)).text();
		await closeWithin(standIn, 1000);
	});

	it('leaves no pending delay timer keeping the process alive', async () => {
		const standIn = await startStandIn();
		standIn.task('slow', { json: 'SUCCESS', delayMs: 60_000 });
		const baseline = refdTimerCount();
		const pending = new Promise<string>((resolve) => {
			const req = http.get(
				{ host: '127.0.0.1', port: standIn.port, path: taskStatusPath('slow'), agent: false },
				() => resolve('answered'),
			);
			req.on('error', () => resolve('dropped'));
		});
		await untilRecorded(standIn, 1);
		expect(refdTimerCount()).toBeLessThanOrEqual(baseline);
		await closeWithin(standIn, 1000);
		expect(await pending).toBe('dropped');
		expect(refdTimerCount()).toBeLessThanOrEqual(baseline);
	});

	it('can be called twice and refuses new connections afterwards', async () => {
		const standIn = await startStandIn();
		const { baseUrl } = standIn;
		await standIn.close();
		await standIn.close();
		await expect(fetch(`${baseUrl}/list-voices`)).rejects.toThrow(/fetch failed/);
	});
});

describe('maxClientInFlight', () => {
	/** A GET through node:http, whose requests this process's diagnostics channel sees (fetch's do not). */
	const get = (url: string) =>
		new Promise<void>((resolve, reject) =>
			http.get(url, (res) => res.resume().on('end', resolve)).on('error', reject),
		);

	it("counts the most requests this process's clients had open at once, and reset() starts again", async () => {
		const standIn = await startStandIn();
		try {
			standIn.task('slow', { json: 'PENDING', delayMs: 100 });
			await Promise.all([1, 2, 3].map(() => get(`${standIn.baseUrl}/audio-separation/slow`)));
			expect(standIn.maxClientInFlight).toBe(3);
			standIn.reset();
			expect(standIn.maxClientInFlight).toBe(0);
			for (let i = 0; i < 2; i++) await get(`${standIn.baseUrl}/audio-separation/slow`);
			expect(standIn.maxClientInFlight).toBe(1);
		} finally {
			await standIn.close();
		}
	});
});

describe('maxConcurrent', () => {
	it('counts the most requests open at one time, and reset() starts the count again', async () => {
		const standIn = await startStandIn();
		try {
			standIn.task('slow', { json: 'PENDING', delayMs: 100 });
			await Promise.all(
				[1, 2, 3].map(() =>
					fetch(`${standIn.baseUrl}/audio-separation/slow`).then((r) => r.text()),
				),
			);
			expect(standIn.maxConcurrent).toBe(3);
			standIn.reset();
			expect(standIn.maxConcurrent).toBe(0);
			standIn.task('slow', { json: 'PENDING', delayMs: 50 });
			for (let i = 0; i < 2; i++)
				await fetch(`${standIn.baseUrl}/audio-separation/slow`).then((r) => r.text());
			expect(standIn.maxConcurrent).toBe(1);
		} finally {
			await standIn.close();
		}
	});
});
