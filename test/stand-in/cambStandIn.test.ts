/**
 * Proves the CAMB stand-in does what the node's tests will rely on. Every feature is checked
 * from the client side (global fetch, or node:http where fetch hides the failure mode), so a
 * broken feature shows up as a failing expectation, not just as missing coverage.
 *
 * This file: listening, scripted sequences, bodies and headers, the defaults, raw paths, what is
 * recorded, reset(), faults, timing, the api key, latency, close() and the in-flight counts.
 * Streamed answers and slow links are in cambStandInStreams.test.ts, uploads in
 * cambStandInUploads.test.ts.
 */
import * as http from 'node:http';
import { startStandIn, taskStatusPath, type StandIn } from './cambStandIn';
import { rawGet, refdTimerCount, untilRecorded } from './standInTestClient';

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

describe('CAMB stand-in shedding load and failing at random (the servers benchmark)', () => {
	it('shedBeyond: serves that many at once and answers one more 503 at once, without Retry-After', async () => {
		const standIn = await startStandIn({ latencyMs: 300, shedBeyond: 2 });
		try {
			const get = async () => {
				const started = Date.now();
				const res = await fetch(`${standIn.baseUrl}/list-voices`);
				await res.text();
				return {
					status: res.status,
					ms: Date.now() - started,
					retryAfter: res.headers.get('retry-after'),
				};
			};
			const served = [get(), get()];
			await new Promise((resolve) => setTimeout(resolve, 100));
			const shed = await get();
			expect(shed).toMatchObject({ status: 503, retryAfter: null });
			expect(shed.ms).toBeLessThan(250);
			expect((await Promise.all(served)).map((answer) => answer.status)).toEqual([200, 200]);
			// Room again once they are answered.
			expect((await get()).status).toBe(200);
			expect(standIn.unavailable).toBe(1);
		} finally {
			await standIn.close();
		}
	});

	it('noise: turns back about that share with 503, the same requests for the same seed', async () => {
		const standIn = await startStandIn({ noise: { share: 0.3, seed: 7 } });
		try {
			const statuses = async () => {
				const seen: number[] = [];
				for (let i = 0; i < 40; i++) {
					const res = await fetch(`${standIn.baseUrl}/list-voices`);
					await res.text();
					seen.push(res.status);
				}
				return seen;
			};
			const first = await statuses();
			const refused = first.filter((status) => status === 503).length;
			expect(refused).toBeGreaterThan(4);
			expect(refused).toBeLessThan(24);
			expect(standIn.unavailable).toBe(refused);
			standIn.reset();
			expect(await statuses()).toEqual(first);
		} finally {
			await standIn.close();
		}
	});
});
