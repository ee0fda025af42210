/** The retry policy's pure decisions: what is retried, how long to pause, what Retry-After means. */
import {
	backoffDelayMs,
	decideRetry,
	DEFAULT_BACKOFF,
	isRetryableNetworkError,
	isRetryableStatus,
	MAX_FREE_SHEDS,
	MAX_RETRY_AFTER_MS,
	RATE_LIMIT_PATIENCE_MS,
	retryAfterMs,
	mayHaveCreatedTask,
	type RetryState,
} from '../../nodes/shared/transport/retryPolicy';

describe('isRetryableStatus', () => {
	it.each([408, 429, 500, 502, 503, 504, 599])('%i is retried', (code) =>
		expect(isRetryableStatus(code)).toBe(true),
	);
	it.each([200, 301, 400, 401, 403, 404, 409, 422])('%i is not', (code) =>
		expect(isRetryableStatus(code)).toBe(false),
	);
});

describe('isRetryableNetworkError', () => {
	it.each(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'])(
		'%s is retried',
		(code) => expect(isRetryableNetworkError({ code, message: 'x' })).toBe(true),
	);
	it('recognises axios time-outs and dropped sockets by message', () => {
		expect(isRetryableNetworkError({ message: 'timeout of 5000ms exceeded' })).toBe(true);
		expect(isRetryableNetworkError({ message: 'socket hang up' })).toBe(true);
	});
	it('does not retry a cancelled execution or an unknown host', () => {
		expect(isRetryableNetworkError({ code: 'ERR_CANCELED', message: 'canceled' })).toBe(false);
		expect(isRetryableNetworkError({ code: 'ERR_CANCELED', message: 'aborted' })).toBe(false);
		expect(isRetryableNetworkError({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' })).toBe(
			false,
		);
	});
});

describe('backoffDelayMs', () => {
	const settings = { baseDelayMs: 1000, maxDelayMs: 30_000 };
	it('doubles per attempt, between half and all of the step', () => {
		expect(backoffDelayMs(1, settings, () => 0)).toBe(500);
		expect(backoffDelayMs(1, settings, () => 1)).toBe(1000);
		expect(backoffDelayMs(2, settings, () => 0)).toBe(1000);
		expect(backoffDelayMs(3, settings, () => 1)).toBe(4000);
	});
	it('never exceeds the cap', () => {
		expect(backoffDelayMs(30, settings, () => 1)).toBe(30_000);
	});
	it('spreads out with jitter', () => {
		const delays = new Set(Array.from({ length: 50 }, () => backoffDelayMs(4, settings)));
		expect(delays.size).toBeGreaterThan(10);
		for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(4000);
	});
});

describe('retryAfterMs', () => {
	const now = Date.parse('2026-11-28T12:00:00Z');
	it('reads seconds', () => {
		expect(retryAfterMs({ 'retry-after': '2' }, now)).toBe(2000);
		expect(retryAfterMs({ 'Retry-After': '0' }, now)).toBe(0);
		expect(retryAfterMs({ 'retry-after': '1.5' }, now)).toBe(1500);
	});
	it('reads an HTTP date, and a date in the past means now', () => {
		expect(retryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 12:00:05 GMT' }, now)).toBe(5000);
		expect(retryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 11:00:00 GMT' }, now)).toBe(0);
	});
	it('prefers retry-after-ms', () => {
		expect(retryAfterMs({ 'retry-after-ms': '250', 'retry-after': '9' }, now)).toBe(250);
	});
	it('ignores absent, empty and unreadable values', () => {
		expect(retryAfterMs({}, now)).toBeUndefined();
		expect(retryAfterMs({ 'retry-after': '' }, now)).toBeUndefined();
		expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
		expect(retryAfterMs({ 'retry-after': '-3' }, now)).toBeUndefined();
	});
	it('takes the first of repeated headers', () => {
		expect(retryAfterMs({ 'retry-after': ['3', '9'] }, now)).toBe(3000);
	});
});

describe('decideRetry', () => {
	const rateLimited = { retryable: true, rateLimited: true };
	const failedHard = { retryable: true, rateLimited: false };

	it('uses up no attempt on a 429, and retries it at once (the shared cool-down holds it back)', () => {
		let state: RetryState = { failures: 0 };
		for (let now = 0; now < 30_000; now += 1000) {
			const decision = decideRetry(rateLimited, state, now, 3);
			expect(decision).toMatchObject({ retryInMs: 0, state: { failures: 0, rateLimitedSince: 0 } });
			state = decision.state;
		}
	});

	it('gives up after a minute of nothing but 429s, and starts the minute again after any other answer', () => {
		const state: RetryState = { failures: 0, rateLimitedSince: 1000 };
		expect(decideRetry(rateLimited, state, 1000 + RATE_LIMIT_PATIENCE_MS - 1, 3)).toHaveProperty(
			'retryInMs',
			0,
		);
		expect(decideRetry(rateLimited, state, 1000 + RATE_LIMIT_PATIENCE_MS, 3)).toHaveProperty(
			'giveUp',
			'rate-limited-too-long',
		);
		const after503 = decideRetry(
			failedHard,
			state,
			50_000,
			3,
			{ baseDelayMs: 1000, maxDelayMs: 30_000 },
			() => 0,
		);
		expect(after503.state).toEqual({ failures: 1 });
		expect(decideRetry(rateLimited, after503.state, 70_000, 3).state).toEqual({
			failures: 1,
			rateLimitedSince: 70_000,
		});
	});

	it('counts only refusal: time queued while the host lets other requests through is not', () => {
		// This request met a 429 at 1 s and waited behind others for a minute; the host let another
		// request through at 30 s, so it has been refused for 31 s, not 60.
		const state: RetryState = { failures: 0, rateLimitedSince: 1000 };
		const meanwhile = { ...rateLimited, hostAcceptedAt: 30_000 };
		expect(decideRetry(meanwhile, state, 61_000, 3)).toHaveProperty('retryInMs', 0);
		expect(decideRetry(meanwhile, state, 30_000 + RATE_LIMIT_PATIENCE_MS, 3)).toHaveProperty(
			'giveUp',
			'rate-limited-too-long',
		);
		// The host let something through before this request's 429s began: a minute counts from them.
		const before = { ...rateLimited, hostAcceptedAt: 500 };
		expect(decideRetry(before, state, 1000 + RATE_LIMIT_PATIENCE_MS, 3)).toHaveProperty(
			'giveUp',
			'rate-limited-too-long',
		);
	});

	it('counts other failures against the attempts, 429s in between or not', () => {
		let state: RetryState = { failures: 0 };
		const steps = [failedHard, rateLimited, failedHard, rateLimited, rateLimited, failedHard].map(
			(failed) => {
				const decision = decideRetry(
					failed,
					state,
					0,
					3,
					{ baseDelayMs: 1000, maxDelayMs: 30_000 },
					() => 0,
				);
				state = decision.state;
				return 'giveUp' in decision ? decision.giveUp : decision.retryInMs;
			},
		);
		expect(steps).toEqual([500, 0, 1000, 0, 0, 'out-of-attempts']);
	});

	it('gives up at once on what no retry changes, and on a Retry-After longer than it waits', () => {
		expect(
			decideRetry({ retryable: false, rateLimited: false }, { failures: 0 }, 0, 3),
		).toHaveProperty('giveUp', 'not-retryable');
		expect(
			decideRetry({ ...rateLimited, serverAskedMs: MAX_RETRY_AFTER_MS + 1 }, { failures: 0 }, 0, 3),
		).toHaveProperty('giveUp', 'asked-too-long');
		expect(
			decideRetry({ ...failedHard, serverAskedMs: 2500 }, { failures: 0 }, 0, 3),
		).toHaveProperty('retryInMs', 2500);
	});
});

describe('mayHaveCreatedTask', () => {
	const status = (statusCode: number) => ({ kind: 'error status' as const, statusCode });
	const network = (code: string, beforeLastByte?: boolean) => ({
		kind: 'network' as const,
		code,
		beforeLastByte,
	});
	it.each([408, 429, 503])('HTTP %i: CAMB.AI did not take the upload', (statusCode) => {
		expect(mayHaveCreatedTask(status(statusCode))).toBe(false);
	});
	it.each([400, 401, 403, 413, 422])(
		'HTTP %i: CAMB.AI refused it before creating a task',
		(code) => {
			expect(mayHaveCreatedTask(status(code))).toBe(false);
		},
	);
	it.each([500, 502, 504])('HTTP %i: the task may exist', (statusCode) => {
		expect(mayHaveCreatedTask(status(statusCode))).toBe(true);
	});
	it('an answer too large to read is no CAMB answer', () => {
		expect(mayHaveCreatedTask({ kind: 'oversized' })).toBe(false);
	});
	it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])(
		'%s: the connection was never made',
		(code) => expect(mayHaveCreatedTask(network(code))).toBe(false),
	);
	it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE', 'UNKNOWN'])(
		'%s before the last byte: CAMB.AI cannot have the whole file',
		(code) => expect(mayHaveCreatedTask(network(code, true))).toBe(false),
	);
	it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE', 'UNKNOWN'])(
		'%s once the last byte was out: the task may exist',
		(code) => expect(mayHaveCreatedTask(network(code))).toBe(true),
	);
	it('a body cut before its last byte is retried within the attempts, with the usual pause', () => {
		// What the retry loop asks next (retrying.ts): retryable by its code, then decideRetry.
		const cut = network('ETIMEDOUT', true);
		expect(isRetryableNetworkError(cut)).toBe(true);
		const failed = { retryable: true, rateLimited: false };
		const first = decideRetry(failed, { failures: 0 }, 0, 3, DEFAULT_BACKOFF, () => 0);
		expect(first).toEqual({ retryInMs: 500, state: { failures: 1 } });
		const second = decideRetry(failed, { failures: 1 }, 0, 3, DEFAULT_BACKOFF, () => 0);
		expect(second).toEqual({ retryInMs: 1000, state: { failures: 2 } });
		expect(decideRetry(failed, { failures: 2 }, 0, 3)).toHaveProperty('giveUp', 'out-of-attempts');
	});
});

describe('decideRetry after a 503 without Retry-After (shed load)', () => {
	const shed = { retryable: true, rateLimited: false, shed: true };

	it('retries it at once and uses up no attempt while the host served another request since it went out, five times at most', () => {
		let state: RetryState = { failures: 0 };
		const steps: Array<number | string> = [];
		for (let i = 0; i < MAX_FREE_SHEDS + 3; i++) {
			const decision = decideRetry(
				{ ...shed, sentAt: 1000, hostAcceptedAt: 1040 },
				state,
				1050,
				3,
				DEFAULT_BACKOFF,
				() => 0,
			);
			state = decision.state;
			steps.push('giveUp' in decision ? decision.giveUp : decision.retryInMs);
		}
		// Five free, then the attempts as usual: the first retry at once, the second after 1 s.
		expect(steps).toEqual([0, 0, 0, 0, 0, 0, 1000, 'out-of-attempts']);
	});

	it('uses up an attempt when the host served nothing since (a server down), but still retries the first at once', () => {
		const decisions = [undefined, 900].map((hostAcceptedAt) =>
			decideRetry(
				{ ...shed, sentAt: 1000, hostAcceptedAt },
				{ failures: 0 },
				1050,
				3,
				DEFAULT_BACKOFF,
				() => 0,
			),
		);
		for (const decision of decisions)
			expect(decision).toEqual({ retryInMs: 0, state: { failures: 1 } });
		// Any other 5xx backs off as before: half a second at least.
		expect(
			decideRetry(
				{ retryable: true, rateLimited: false },
				{ failures: 0 },
				1050,
				3,
				DEFAULT_BACKOFF,
				() => 0,
			),
		).toMatchObject({ retryInMs: 500 });
	});
});
