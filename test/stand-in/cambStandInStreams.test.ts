/**
 * The CAMB stand-in's streamed answers (Reply.stream: bodies of any size from the pattern, written
 * only while the client reads) and its slow links (readBytesPerSecond, StreamedBody.bytesPerSecond),
 * checked from the client side like cambStandIn.test.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
	STREAM_PATTERN_PERIOD,
	checkStreamPattern,
	multipartBody,
	patternSha256,
	startStandIn,
	streamPattern,
	uploadProblems,
	writePatternFile,
	type StandIn,
} from './cambStandIn';
import { post, streamGet, untilRecorded } from './standInTestClient';

describe('CAMB stand-in', () => {
	let standIn: StandIn;

	beforeAll(async () => {
		standIn = await startStandIn();
	});
	afterEach(() => standIn.reset());
	afterAll(() => standIn.close());

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
