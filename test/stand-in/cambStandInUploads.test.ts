/**
 * The CAMB stand-in's uploads (POST /audio-separation): multipart parsed as it streams, tasks
 * created or refused, faults mid-body, the api key and the rate limit in front of them,
 * refuseEarly, and memory that stays flat for large uploads. Checked from the client side like
 * cambStandIn.test.ts.
 */
import {
	MAX_RECORDED_BODY_BYTES,
	multipartBody,
	patternSha256,
	startStandIn,
	uploadProblems,
	type MultipartBody,
	type StandIn,
} from './cambStandIn';
import { post, sha256, smallUpload, untilRecorded } from './standInTestClient';

describe('CAMB stand-in', () => {
	let standIn: StandIn;

	beforeAll(async () => {
		standIn = await startStandIn();
	});
	afterEach(() => standIn.reset());
	afterAll(() => standIn.close());

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
