/** classifyAnswer: how every answer CAMB.AI can give becomes a verdict, a route and a reason. */
import {
	checkFailed,
	classifyAnswer,
	type ClassifyOptions,
} from '../../nodes/CambSeparationStatus/classifyStatus';
import { excerpt } from '../../nodes/shared/json';

const strict: ClassifyOptions = { notFoundAsPending: false, unknownStatusAsPending: false };
const ok = (body: unknown, options = strict) =>
	classifyAnswer({ statusCode: 200, body: JSON.stringify(body) }, options);

describe('classifyAnswer: every documented status, in both answer shapes and any case', () => {
	const table: Array<[string, 'success' | 'pending' | 'failure', string | undefined]> = [
		['SUCCESS', 'success', undefined],
		['PENDING', 'pending', undefined],
		['ERROR', 'failure', 'ERROR'],
		['TIMEOUT', 'failure', 'TIMEOUT'],
		['PAYMENT_REQUIRED', 'failure', 'PAYMENT_REQUIRED'],
		['FAILED', 'failure', 'ERROR'],
	];
	for (const [status, route, reason] of table) {
		for (const spelled of [
			status,
			status.toLowerCase(),
			status[0] + status.slice(1).toLowerCase(),
		]) {
			it(`bare string "${spelled}" -> ${route}`, () => {
				const verdict = ok(spelled);
				expect(verdict).toMatchObject({ route, status });
				if (route === 'failure')
					expect(verdict).toMatchObject({ reason, retryable: expect.any(Boolean) });
				else expect(verdict).not.toHaveProperty('reason');
			});
			it(`object {status: "${spelled}"} -> ${route}`, () => {
				const verdict = ok({
					status: spelled,
					run_id: null,
					exception_reason: null,
					message: null,
				});
				expect(verdict).toMatchObject({ route, status });
				expect(verdict).toHaveProperty('runId', undefined);
			});
		}
	}

	it('keeps run_id from the object shape', () => {
		expect(ok({ status: 'SUCCESS', run_id: 123 })).toEqual({
			route: 'success',
			status: 'SUCCESS',
			runId: 123,
		});
		expect(ok({ status: 'SUCCESS', run_id: '456' })).toMatchObject({ runId: 456 });
	});

	it('drops a run_id of the wrong type instead of passing it on', () => {
		for (const runId of [-1, 1.5, 'abc', { id: 1 }, [1], true]) {
			expect(ok({ status: 'SUCCESS', run_id: runId })).toHaveProperty('runId', undefined);
		}
	});
});

describe('classifyAnswer: failure reasons, messages and retryable', () => {
	it('uses exception_reason as the reason and says whether resubmitting helps', () => {
		expect(ok({ status: 'ERROR', exception_reason: 'PROCESSING_ERROR' })).toMatchObject({
			route: 'failure',
			reason: 'PROCESSING_ERROR',
			retryable: true,
			message: expect.stringMatching(/submitting the file again may help/),
		});
		expect(ok({ status: 'ERROR', exception_reason: 'SOURCE_TOO_LARGE' })).toMatchObject({
			reason: 'SOURCE_TOO_LARGE',
			retryable: false,
			message: expect.stringMatching(/fix the file first/),
		});
	});

	it('treats exception_reason NONE, empty or null as no reason', () => {
		for (const exceptionReason of ['NONE', '', null, undefined]) {
			expect(ok({ status: 'ERROR', exception_reason: exceptionReason })).toMatchObject({
				reason: 'ERROR',
				retryable: true,
			});
		}
	});

	it("gives TIMEOUT and PAYMENT_REQUIRED CAMB's own advice and marks them not retryable", () => {
		expect(ok('TIMEOUT')).toMatchObject({
			retryable: false,
			message: expect.stringMatching(/split the audio/),
		});
		expect(ok('PAYMENT_REQUIRED')).toMatchObject({
			retryable: false,
			message: expect.stringMatching(/credits/),
		});
		expect(ok({ status: 'ERROR', exception_reason: 'PAYMENT_REQUIRED' })).toMatchObject({
			reason: 'PAYMENT_REQUIRED',
			retryable: false,
			message: expect.stringMatching(/credits/),
		});
	});

	it("quotes CAMB's message, whether a string or an object", () => {
		expect(ok({ status: 'ERROR', message: 'codec broke' })).toMatchObject({
			message: expect.stringMatching(/CAMB.AI says: codec broke/),
		});
		expect(ok({ status: 'ERROR', message: { detail: 'x' } })).toMatchObject({
			message: expect.stringMatching(/\{"detail":"x"\}/),
		});
	});
});

describe('classifyAnswer: what CAMB sends is kept short and on one line', () => {
	it('lets TIMEOUT and PAYMENT_REQUIRED name themselves, whatever exception_reason says', () => {
		expect(ok({ status: 'TIMEOUT', exception_reason: 'PROCESSING_ERROR' })).toMatchObject({
			reason: 'TIMEOUT',
		});
		expect(ok({ status: 'PAYMENT_REQUIRED', exception_reason: 'INTERNAL_ERROR' })).toMatchObject({
			reason: 'PAYMENT_REQUIRED',
		});
	});

	it('only takes an exception_reason that is a code, quoting any other in the message', () => {
		const verdict = ok({
			status: 'ERROR',
			exception_reason: 'PROCESSING_ERROR\r\nX-Injected: 1',
		}) as { reason: string; message: string };
		expect(verdict.reason).toBe('ERROR');
		expect(verdict.message).toContain("CAMB.AI's reason: PROCESSING_ERROR X-Injected: 1");
		// eslint-disable-next-line no-control-regex
		expect(verdict.message).not.toMatch(/[\u0000-\u001f]/);
		expect(ok({ status: 'ERROR', exception_reason: 'Q'.repeat(1_000_000) })).toMatchObject({
			reason: 'ERROR',
		});
	});

	it('caps a huge status and strips its control characters', () => {
		const verdict = ok('Q'.repeat(1_000_000)) as { status: string; message: string };
		expect(verdict.status.length).toBeLessThanOrEqual(65);
		expect(verdict.message.length).toBeLessThan(400);
		expect(ok('DONE\nX: 1')).toMatchObject({ status: 'DONE X: 1', reason: 'UNKNOWN_STATUS' });
		expect(ok('SUCCESS\u0000')).toMatchObject({ route: 'success', status: 'SUCCESS' });
	});

	it('changes the case of ASCII letters only, so look-alikes stay unknown', () => {
		expect(ok('ſuccess')).toMatchObject({ route: 'failure', reason: 'UNKNOWN_STATUS' });
		expect(ok('pendıng')).toMatchObject({ route: 'failure', reason: 'UNKNOWN_STATUS' });
	});
});

describe('classifyAnswer: unknown statuses', () => {
	it('go to Failure as UNKNOWN_STATUS, quoting the raw value', () => {
		expect(ok({ status: 'in_progress' })).toMatchObject({
			route: 'failure',
			status: 'IN_PROGRESS',
			reason: 'UNKNOWN_STATUS',
			retryable: false,
			message: expect.stringContaining('"in_progress"'),
		});
	});
	it('go to Pending when the option says so', () => {
		expect(ok('queued', { ...strict, unknownStatusAsPending: true })).toEqual({
			route: 'pending',
			status: 'QUEUED',
			runId: undefined,
		});
	});
});

describe('classifyAnswer: 404 and 422', () => {
	it("404 is TASK_NOT_FOUND on Failure, with CAMB's detail", () => {
		const verdict = classifyAnswer(
			{ statusCode: 404, body: '{"detail":"Task not found"}' },
			strict,
		);
		expect(verdict).toMatchObject({ route: 'failure', reason: 'TASK_NOT_FOUND', retryable: false });
		expect(verdict).toHaveProperty('message', expect.stringContaining('"Task not found"'));
	});
	it('404 is Pending when the option says so', () => {
		expect(
			classifyAnswer({ statusCode: 404, body: '' }, { ...strict, notFoundAsPending: true }),
		).toMatchObject({ route: 'pending' });
	});
	it("422 is INVALID_TASK_ID, quoting FastAPI's validation messages", () => {
		const body = JSON.stringify({
			detail: [{ loc: ['path', 'task_id'], msg: 'value is not a valid uuid', type: 'type_error' }],
		});
		expect(classifyAnswer({ statusCode: 422, body }, strict)).toMatchObject({
			route: 'failure',
			reason: 'INVALID_TASK_ID',
			message: expect.stringContaining('value is not a valid uuid'),
		});
	});
});

describe('classifyAnswer: answers that are no status', () => {
	const cases: Array<[string, string]> = [
		['HTML', '<html><body>502 Bad Gateway</body></html>'],
		['broken JSON', '{"status": "SUCC'],
		['empty body', ''],
		['an object without status', '{"task": 1}'],
		['a status that is a number', '{"status": 3}'],
		['a status that is null', '{"status": null}'],
		['an empty string', '""'],
		['a list', '["SUCCESS"]'],
		['null', 'null'],
	];
	for (const [name, body] of cases) {
		it(`${name} is invalid, with a short excerpt`, () => {
			const verdict = classifyAnswer({ statusCode: 200, body }, strict);
			expect(verdict.route).toBe('invalid');
			expect((verdict as { problem: string }).problem.length).toBeLessThan(200);
		});
	}
	it('handles a deeply nested body without crashing', () => {
		const deep = '['.repeat(100_000) + ']'.repeat(100_000);
		expect(classifyAnswer({ statusCode: 200, body: deep }, strict).route).toBe('invalid');
	});
});

describe('excerpt', () => {
	it('keeps one short line', () => {
		expect(excerpt('a\r\nb\u0000c')).toBe('a b c');
		expect(excerpt('x'.repeat(500))).toHaveLength(121);
		expect(excerpt('   ')).toBe('(empty body)');
	});
});

describe("checkFailed: why a tool call's check failed, said once", () => {
	const failed = (keyRejectedWith?: number, taskIdKnown = true, requestFailed = true) =>
		checkFailed({ keyRejectedWith, taskIdKnown, requestFailed });
	it('a 401: the key is wrong, the owner must update the credential', () => {
		expect(failed(401)).toMatchObject({ reason: 'API_KEY_REJECTED', retryable: false });
		expect(failed(401).advice).toMatch(/must update the credential/);
	});
	it('a 403: the key works but the account may not separate, and nothing says to change the key', () => {
		expect(failed(403)).toMatchObject({ reason: 'API_KEY_REJECTED', retryable: false });
		expect(failed(403).advice).toMatch(/may not use audio separation.*plan and permissions/);
		expect(failed(403).advice).not.toMatch(/credential/);
	});
	it('no task id, CAMB.AI unreachable, the node itself', () => {
		expect(failed(undefined, false)).toMatchObject({ reason: 'INVALID_TASK_ID', retryable: false });
		expect(failed(undefined, true, true)).toMatchObject({
			reason: 'CAMB_UNAVAILABLE',
			retryable: true,
		});
		expect(failed(undefined, true, false)).toMatchObject({
			reason: 'NODE_ERROR',
			retryable: false,
		});
	});
});
