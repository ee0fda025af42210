import {
	backoffDelayMs,
	isRetryableNetworkError,
	isRetryableStatus,
	retryAfterMs,
} from '../../nodes/CambSeparationStatus/retryPolicy';

describe('isRetryableStatus', () => {
	it.each([408, 429, 500, 502, 503, 504, 599])('%i is retried', (code) => expect(isRetryableStatus(code)).toBe(true));
	it.each([200, 301, 400, 401, 403, 404, 409, 422])('%i is not', (code) => expect(isRetryableStatus(code)).toBe(false));
});

describe('isRetryableNetworkError', () => {
	it.each(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'])('%s is retried', (code) =>
		expect(isRetryableNetworkError({ code, message: 'x' })).toBe(true),
	);
	it('recognises axios time-outs and dropped sockets by message', () => {
		expect(isRetryableNetworkError({ message: 'timeout of 5000ms exceeded' })).toBe(true);
		expect(isRetryableNetworkError({ message: 'socket hang up' })).toBe(true);
	});
	it('does not retry a cancelled execution or an unknown host', () => {
		expect(isRetryableNetworkError({ code: 'ERR_CANCELED', message: 'canceled' })).toBe(false);
		expect(isRetryableNetworkError({ code: 'ERR_CANCELED', message: 'aborted' })).toBe(false);
		expect(isRetryableNetworkError({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' })).toBe(false);
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
