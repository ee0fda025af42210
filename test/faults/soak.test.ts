/**
 * The randomised soak at CI size (see soak.ts; the full size is `npm run test:faults`), plus the
 * tests that keep the soak honest: its expectations follow the README, and every counter it
 * reports does go up when the thing it counts happens.
 *
 * SOAK_SEED=<n> replays a seed; the default is fixed so CI covers the same ground every time.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { API_KEY, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import { mulberry32 } from '../fixtures/random';
import {
	sendTime,
	startStandIn,
	taskStatusPath,
	type RecordedRequest,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	checkBatch,
	CI_SIZES,
	expectPlain,
	expectWait,
	figureLine,
	inputItems,
	makeBatch,
	nodeParameters,
	passed,
	plan,
	runSoak,
	summaryLines,
	verdictOf,
	type Batch,
	type BatchConfig,
	type Meaning,
	type ScriptedReply,
	type SoakReport,
} from './soak';

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

/** How late a timer may fire on a busy 2-core machine (stress-ng --cpu 2 beside the tests). */
const LOAD_SLACK_MS = 400;
const CONFIG: BatchConfig = {
	mode: 'plain',
	maxInFlight: 8,
	attempts: 3,
	notFoundAsPending: false,
	unknownStatusAsPending: false,
	maxWaitSeconds: 1,
};
const as = (meaning: Meaning): ScriptedReply => ({ reply: {}, meaning });
const ok = (status: string, extra: Partial<Extract<Meaning, { kind: 'status' }>> = {}) =>
	as({ kind: 'status', label: status, status, ...extra });
const down = as({ kind: 'transient', label: '503', slow: false, retryAfterMs: 0 });
const busy = as({ kind: 'rate-limited', label: '429', retryAfterMs: 0 });
const html = as({ kind: 'invalid', label: 'HTML 200' });

describe('the seeded scripts', () => {
	it('are the same for the same seed and differ for another', () => {
		const a = makeBatch(123, 2, 50, 'wait', 8);
		const b = makeBatch(123, 2, 50, 'wait', 8);
		const c = makeBatch(124, 2, 50, 'wait', 8);
		expect(JSON.stringify(a)).toBe(JSON.stringify(b));
		expect(JSON.stringify(a.tasks.map((t) => t.replies))).not.toBe(
			JSON.stringify(c.tasks.map((t) => t.replies)),
		);
		const rng = mulberry32(1);
		const draws = Array.from({ length: 1000 }, rng);
		expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
		expect(Math.max(...draws)).toBeLessThan(1);
		expect(new Set(draws).size).toBe(1000);
	});

	it('plan every mode and request cap at least once, and exactly the items asked for', () => {
		const entries = plan(10_000, {
			plain: { 32: 1500, 8: 400, 1: 60 },
			wait: { 32: 1000, 8: 250, 1: 25 },
		});
		expect(entries.reduce((sum, entry) => sum + entry.size, 0)).toBe(10_000);
		expect(new Set(entries.map((entry) => `${entry.mode} ${entry.maxInFlight}`)).size).toBe(6);
		expect(Math.max(...entries.map((entry) => entry.size))).toBeLessThanOrEqual(1500);
	});
});

describe('the expected outcome follows the README', () => {
	it('maps statuses in any case and shape, 404 and 422 as the status table says', () => {
		expect(verdictOf({ kind: 'status', label: '', status: 'success', runId: 5 }, CONFIG)).toEqual({
			route: 'success',
			status: 'SUCCESS',
			runId: 5,
		});
		expect(
			verdictOf(
				{ kind: 'status', label: '', status: 'Error', exceptionReason: 'source_too_long' },
				CONFIG,
			),
		).toMatchObject({ route: 'failure', reason: 'SOURCE_TOO_LONG', retryable: false });
		expect(
			verdictOf({ kind: 'status', label: '', status: 'ERROR', exceptionReason: 'NONE' }, CONFIG),
		).toMatchObject({ reason: 'ERROR', retryable: true });
		expect(verdictOf({ kind: 'status', label: '', status: 'timeout' }, CONFIG)).toMatchObject({
			route: 'failure',
			reason: 'TIMEOUT',
			retryable: false,
		});
		expect(verdictOf({ kind: 'status', label: '', status: 'RUNNING' }, CONFIG)).toMatchObject({
			route: 'failure',
			reason: 'UNKNOWN_STATUS',
		});
		expect(
			verdictOf(
				{ kind: 'status', label: '', status: 'RUNNING' },
				{ ...CONFIG, unknownStatusAsPending: true },
			),
		).toMatchObject({ route: 'pending', status: 'RUNNING' });
		expect(verdictOf({ kind: 'not-found', label: '' }, CONFIG)).toMatchObject({
			route: 'failure',
			status: 'NOT_FOUND',
			reason: 'TASK_NOT_FOUND',
		});
		expect(
			verdictOf({ kind: 'not-found', label: '' }, { ...CONFIG, notFoundAsPending: true }),
		).toMatchObject({ route: 'pending' });
		expect(verdictOf({ kind: 'rejected-id', label: '' }, CONFIG)).toMatchObject({
			route: 'failure',
			reason: 'INVALID_TASK_ID',
		});
	});

	it('without waiting: retries until the attempts run out, then it is an error', () => {
		expect(expectPlain([down, down, ok('SUCCESS')], CONFIG)).toMatchObject({
			requests: 3,
			expected: { route: 'success', checks: 1 },
		});
		expect(expectPlain([down, down, ok('SUCCESS')], { ...CONFIG, attempts: 2 })).toMatchObject({
			requests: 2,
			expected: { route: 'error', error: 'unreachable' },
		});
		// README: a 429 uses up no attempt; the last reply repeats.
		expect(expectPlain([busy, busy, down, busy, down, down], CONFIG)).toMatchObject({
			requests: 6,
			expected: { route: 'error', error: 'unreachable' },
		});
		expect(
			expectPlain([busy, busy, busy, ok('SUCCESS')], { ...CONFIG, attempts: 1 }),
		).toMatchObject({
			requests: 4,
			expected: { route: 'success', checks: 1 },
		});
		// Nothing but 429s would be retried for the whole patience (a minute): makeBatch never scripts it.
		expect(() => expectPlain([busy], CONFIG)).toThrow(/ends on a 429/);
		expect(expectPlain([down, html], CONFIG)).toMatchObject({
			requests: 2,
			expected: { route: 'error', error: 'not-a-status' },
		});
		expect(
			expectPlain([as({ kind: 'refused', label: '400', httpStatus: 400 }), ok('SUCCESS')], CONFIG),
		).toMatchObject({ requests: 1, expected: { error: 'refused' } });
	});

	it('waiting: every reply but the last must let the node go on; 429 only slows it down', () => {
		const wait = { ...CONFIG, mode: 'wait' as const };
		expect(
			expectWait([ok('PENDING'), busy, down, ok('pending'), ok('SUCCESS')], wait),
		).toMatchObject({ route: 'success', checks: 3, sawPending: true });
		expect(expectWait([busy, busy], wait)).toMatchObject({
			route: 'pending',
			status: 'RATE_LIMITED',
			checks: 0,
			sawPending: false,
		});
		expect(expectWait([ok('PENDING'), busy], wait)).toMatchObject({
			route: 'pending',
			status: 'PENDING',
			checks: 1,
		});
		expect(expectWait([down, down, down], wait)).toMatchObject({
			route: 'error',
			error: 'unreachable',
		});
		expect(expectWait([ok('SUCCESS'), ok('PENDING')], wait)).toEqual({
			impossible: expect.stringMatching(/after a final status/),
		});
		expect(expectWait([down, down], wait)).toEqual({
			impossible: expect.stringMatching(/no retry/),
		});
		expect(expectWait([down, down, down, ok('SUCCESS')], wait)).toEqual({
			impossible: expect.stringMatching(/attempts ran out/),
		});
		expect(expectWait([html, ok('SUCCESS')], wait)).toEqual({
			impossible: expect.stringMatching(/no status/),
		});
		expect(expectWait([], wait)).toEqual({ impossible: expect.stringMatching(/no request/) });
	});
});

describe('the soak checker catches what it counts', () => {
	// A small, fast batch with one task per outcome, run for real, then doctored.
	const batch: Batch = {
		seed: 0,
		number: 0,
		config: CONFIG,
		tasks: [
			{
				index: 0,
				taskId: 'ok',
				replies: [
					{
						reply: { json: { status: 'SUCCESS', run_id: 9 } },
						meaning: { kind: 'status', label: 'S', status: 'SUCCESS', runId: 9 },
					},
				],
			},
			{
				index: 1,
				taskId: 'wait/ing',
				replies: [
					{
						reply: { json: 'pending' },
						meaning: { kind: 'status', label: 'p', status: 'pending' },
					},
				],
			},
			{
				index: 2,
				taskId: 'bad',
				replies: [
					{
						reply: { json: { status: 'ERROR', exception_reason: 'SOURCE_TOO_LARGE' } },
						meaning: {
							kind: 'status',
							label: 'E',
							status: 'ERROR',
							exceptionReason: 'SOURCE_TOO_LARGE',
						},
					},
				],
			},
			{
				index: 3,
				taskId: 'down',
				replies: [
					{
						reply: { status: 503, text: 'x', headers: { 'retry-after': '0' } },
						meaning: { kind: 'transient', label: '503', slow: false, retryAfterMs: 0 },
					},
				],
			},
			{
				index: 4,
				taskId: 'html',
				replies: [{ reply: { text: '<html/>' }, meaning: { kind: 'invalid', label: 'HTML' } }],
			},
			{
				index: 5,
				taskId: 'gone',
				replies: [
					{
						reply: { status: 404, json: { detail: 'x' } },
						meaning: { kind: 'not-found', label: '404' },
					},
				],
			},
			{
				index: 6,
				taskId: 'busy',
				replies: [
					{
						reply: { status: 429, json: {}, headers: { 'retry-after': '1' } },
						meaning: { kind: 'rate-limited', label: '429 RA 1', retryAfterMs: 1000 },
					},
					{
						reply: { json: 'SUCCESS' },
						meaning: { kind: 'status', label: 'S', status: 'SUCCESS' },
					},
				],
			},
		],
	};
	let result: StatusRun;
	let requests: RecordedRequest[];
	let timing: { startedAt: number; endedAt: number };

	beforeAll(async () => {
		for (const task of batch.tasks) camb.task(task.taskId, ...task.replies.map((r) => r.reply));
		const startedAt = Date.now();
		result = await runStatusNode(camb.baseUrl, inputItems(batch), {
			parameters: nodeParameters(batch.config),
			onError: 'continueErrorOutput',
		});
		timing = { startedAt, endedAt: Date.now() };
		requests = [...camb.requests];
	});

	type Outputs = Pick<StatusRun, 'success' | 'pending' | 'failure' | 'errorOutput'>;
	const check = (
		doctor: (outputs: Outputs, recorded: RecordedRequest[]) => void = () => {},
		extra = { maxConcurrent: 1 },
		when = timing,
	) => {
		const copy: StatusRun = {
			...result,
			success: [...result.success],
			pending: [...result.pending],
			failure: [...result.failure],
			errorOutput: [...result.errorOutput],
		};
		const recorded = [...requests];
		doctor(copy, recorded);
		return checkBatch(batch, copy, recorded, when, extra);
	};
	const edit = (item: INodeExecutionData, json: IDataObject): INodeExecutionData => ({
		...item,
		json: { ...item.json, ...json },
	});

	it('finds nothing wrong with the real run (the control)', () => {
		const report = check();
		expect(report.violations).toEqual([]);
		expect(report.out).toEqual({ success: 2, pending: 1, failure: 2, error: 2 });
		expect([
			report.lost,
			report.duplicated,
			report.misrouted,
			report.leaked,
			report.strayRequests,
		]).toEqual([0, 0, 0, 0, 0]);
	});

	it('counts a lost item', () => {
		expect(check((o) => o.success.pop()).lost).toBe(1);
	});

	it('counts a duplicated item', () => {
		expect(check((o) => o.failure.push(o.failure[1])).duplicated).toBe(1);
	});

	it('counts an item on the wrong output', () => {
		const report = check((o) => o.pending.push(o.success.pop() as INodeExecutionData));
		expect(report.misrouted).toBe(1);
		expect(report.lost).toBe(0);
	});

	it("counts a wrong pairedItem, and items handed each other's data", () => {
		expect(
			check((o) => (o.success[0] = { ...o.success[0], pairedItem: { item: 99 } })).misrouted,
		).toBe(1);
		// Pointing at another item: that one leaves twice and this one never.
		expect(
			check((o) => (o.failure[0] = { ...o.failure[0], pairedItem: { item: 1 } })),
		).toMatchObject({ lost: 1, duplicated: 1 });
		const relabelled = check((o) => {
			const [a, b] = o.failure;
			o.failure[0] = { ...a, pairedItem: b.pairedItem };
			o.failure[1] = { ...b, pairedItem: a.pairedItem };
		});
		expect(relabelled).toMatchObject({ lost: 0, duplicated: 0, misrouted: 2 });
		const swapped = check((o) => {
			const [a, b] = o.errorOutput;
			o.errorOutput[0] = { ...a, error: b.error, json: b.json };
			o.errorOutput[1] = { ...b, error: a.error, json: a.json };
		});
		expect(swapped.misrouted).toBe(2);
	});

	it('counts wrong fields: status, check_count, reason, retryable, next_check_in_seconds, an error on a result', () => {
		expect(check((o) => (o.success[0] = edit(o.success[0], { status: 'PENDING' }))).misrouted).toBe(
			1,
		);
		expect(check((o) => (o.success[0] = edit(o.success[0], { run_id: undefined }))).misrouted).toBe(
			1,
		);
		expect(check((o) => (o.pending[0] = edit(o.pending[0], { check_count: 2 }))).misrouted).toBe(1);
		expect(
			check((o) => (o.pending[0] = edit(o.pending[0], { next_check_in_seconds: 30 }))).misrouted,
		).toBe(1);
		expect(
			check((o) => (o.pending[0] = edit(o.pending[0], { pending_since: null }))).misrouted,
		).toBe(1);
		expect(check((o) => (o.failure[0] = edit(o.failure[0], { reason: 'ERROR' }))).misrouted).toBe(
			1,
		);
		expect(check((o) => (o.failure[0] = edit(o.failure[0], { retryable: true }))).misrouted).toBe(
			1,
		);
		expect(
			check((o) => (o.success[0] = { ...o.success[0], error: o.errorOutput[0].error })).misrouted,
		).toBe(1);
	});

	it('counts a task that got more or fewer requests than the rules allow', () => {
		const retried = taskStatusPath('down');
		expect(
			check((_, r) =>
				r.splice(
					r.findIndex((q) => q.path === retried),
					1,
				),
			).misrouted,
		).toBe(1);
		expect(
			check((_, r) => r.push(r.find((q) => q.path === taskStatusPath('ok')) as RecordedRequest))
				.misrouted,
		).toBe(1);
	});

	it('counts a retry sooner than Retry-After asked', () => {
		const busy = taskStatusPath('busy');
		const report = check((_, r) => {
			const [first, second] = r.filter((q) => q.path === busy);
			r[r.indexOf(second)] = { ...second, at: first.at + 10, sentAt: sendTime(first) + 10 };
		});
		expect(report.misrouted).toBe(1);
		expect(report.violations.join('\n')).toMatch(
			/request 2 came 10 ms after a 429 RA 1; the rules say at least 1000 ms/,
		);
	});

	it('counts requests to other paths, and requests without the key', () => {
		const stray = check((_, r) => r.push({ ...r[0], path: '/list-voices' }));
		expect(stray.strayRequests).toBe(1);
		const keyless = check((_, r) => (r[0] = { ...r[0], headers: {} }));
		expect(keyless.violations.join('\n')).toMatch(/without the credential's key/);
	});

	it('counts the API key in an item, in a hidden property of an error, and in a request path', () => {
		expect(
			check((o) => (o.success[0] = edit(o.success[0], { debug: `x-api-key: ${API_KEY}` }))).leaked,
		).toBeGreaterThanOrEqual(1);
		const hidden = check((o) => {
			const error = Object.create(o.errorOutput[0].error as object);
			Object.defineProperty(error, 'cause', {
				value: { config: { headers: { 'x-api-key': API_KEY } } },
				enumerable: false,
			});
			o.errorOutput[0] = { ...o.errorOutput[0], error };
		});
		expect(hidden.leaked).toBeGreaterThanOrEqual(1);
		expect(
			check((_, r) => (r[0] = { ...r[0], path: `${r[0].path}?key=${API_KEY}` })).leaked,
		).toBeGreaterThanOrEqual(1);
	});

	it('counts an execution that took longer than its bound, broke the request cap or left timers behind', () => {
		const late = check(undefined, undefined, {
			startedAt: timing.startedAt,
			endedAt: timing.startedAt + 120_000,
		});
		expect(late.violations.join('\n')).toMatch(
			/the execution took 120000 ms, timeouts x attempts \+ waits allow \d+ ms/,
		);
		expect(check(undefined, { maxConcurrent: 9 }).violations.join('\n')).toMatch(
			/9 requests were open at once/,
		);
		expect(
			checkBatch(batch, result, requests, timing, {
				maxConcurrent: 1,
				leftOver: '3 Timeout',
			}).violations.join('\n'),
		).toMatch(/left behind.*3 Timeout/);
	});

	it("fails the soak (and so the CLI's exit code) on any counter or violation", () => {
		const clean: SoakReport = {
			seed: 1,
			items: 6,
			out: { success: 1, pending: 1, failure: 2, error: 2 },
			lost: 0,
			duplicated: 0,
			misrouted: 0,
			leaked: 0,
			strayRequests: 0,
			requests: 8,
			slowestMs: 1,
			wallMs: 1,
			batches: [],
			violations: [],
			served: {},
		};
		expect(passed(clean)).toBe(true);
		for (const key of ['lost', 'duplicated', 'misrouted', 'leaked', 'strayRequests'] as const)
			expect(passed({ ...clean, [key]: 1 })).toBe(false);
		expect(passed({ ...clean, violations: ['late'] })).toBe(false);
	});
});

describe("retry pauses (what the soak's time bound assumes)", () => {
	// One task per case and no queueing, so the gaps between a task's requests are the node's pauses.
	it('honours Retry-After exactly, retries a 503 without it at once, and otherwise backs off about 1 s, then 2 s', async () => {
		const busy = (retryAfter?: string, status = 503): Reply => ({
			status,
			text: 'busy',
			headers: retryAfter === undefined ? undefined : { 'retry-after': retryAfter },
		});
		camb.task('ra0', busy('0'), busy('0'), { json: 'SUCCESS' });
		camb.task(
			'ra1',
			{ status: 429, json: {}, headers: { 'retry-after': '1' } },
			{ json: 'SUCCESS' },
		);
		camb.task('backoff', busy(undefined, 502), busy(undefined, 502), { json: 'SUCCESS' });
		// A 503 without Retry-After is shed load: the first goes back to the gate at once, its window
		// holds it back (rateControl.ts); it backed off like a 502 before.
		camb.task('shed', busy(), { json: 'SUCCESS' });
		camb.task('hang', { fault: 'hang' }, busy('0'), { json: 'SUCCESS' });
		const check = async (tasks: string[]) =>
			await runStatusNode(
				camb.baseUrl,
				tasks.map((task_id) => ({ task_id })),
				{
					parameters: {
						fetchResultUrls: false,
						options: { attempts: 3, timeoutSeconds: 1, maxInFlight: 8 },
					},
				},
			);
		// A 429 pauses every request of its execution (the shared cool-down): ra1 runs on its own,
		// so the other tasks' gaps are their own pauses.
		const result = await check(['ra0', 'backoff', 'hang', 'shed']);
		expect(result.success).toHaveLength(4);
		expect((await check(['ra1'])).success).toHaveLength(1);
		const gaps = (task: string) => {
			const at = camb.requestsForTask(task).map(sendTime);
			return at.slice(1).map((time, i) => time - at[i]);
		};
		// Lower bounds are exact: a retry sooner than the rules allow fails. Upper bounds allow for a
		// busy machine, whose timers fire late, yet stay below the next step of the schedule.
		const within = (gap: number, low: number, high: number) =>
			gap >= low && gap <= high + LOAD_SLACK_MS ? 'ok' : `${gap} ms, not ${low}-${high}`;
		expect(gaps('ra0').map((gap) => within(gap, 0, 250))).toEqual(['ok', 'ok']);
		expect(gaps('shed').map((gap) => within(gap, 0, 250))).toEqual(['ok']);
		expect(gaps('ra1').map((gap) => within(gap, 990, 1300))).toEqual(['ok']);
		// Equal jitter: the first pause is 0.5-1 s, the second 1-2 s.
		expect(gaps('backoff').map((gap, i) => within(gap, 500 * 2 ** i, 1000 * 2 ** i + 250))).toEqual(
			['ok', 'ok'],
		);
		// A request silent for the timeout (1 s) is retried after the first pause.
		expect(
			gaps('hang').map((gap, i) => (i === 0 ? within(gap, 1450, 2300) : within(gap, 0, 250))),
		).toEqual(['ok', 'ok']);
	});
});

describe('randomised soak, CI size', () => {
	const seed = Number(process.env.SOAK_SEED ?? 20261128);
	const items = Object.values(CI_SIZES)
		.flatMap((sizes) => Object.values(sizes))
		.reduce((sum, size) => sum + size, 0);

	it(`routes every item as the rules say, loses, duplicates and leaks nothing, and hangs nowhere (seed ${seed})`, async () => {
		const report = await runSoak(camb, { items, seed, sizes: CI_SIZES });
		const lines = [...report.violations.map((v) => `VIOLATION ${v}`), ...summaryLines(report)];
		console.log(lines.join('\n'));

		expect(report.violations).toEqual([]);
		expect(passed(report)).toBe(true);
		expect(figureLine(report)).toMatch(
			new RegExp(
				`^soak: items=${items} lost=0 duplicated=0 misrouted=0 leaked=0 slowest=\\d+ms seed=${seed}$`,
			),
		);
		// The soak must actually have exercised every output, both modes, every request cap and the faults.
		expect(report.items).toBe(items);
		for (const route of ['success', 'pending', 'failure', 'error'] as const)
			expect(report.out[route]).toBeGreaterThan(10);
		expect(
			new Set(report.batches.map((b) => `${b.config.mode} ${b.config.maxInFlight}`)).size,
		).toBe(6);
		for (const kind of [
			'429',
			'429 Retry-After',
			'500',
			'502',
			'503',
			'504',
			'reset',
			'hang',
			'stall',
			'HTML 200',
			'truncated JSON 200',
			'404',
			'unknown status bare',
			'unknown status object',
		]) {
			expect([kind, report.served[kind] ?? 0]).toEqual([kind, expect.any(Number)]);
			expect(report.served[kind]).toBeGreaterThan(0);
		}
		for (const status of ['SUCCESS', 'PENDING', 'ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED']) {
			for (const variant of [
				'bare',
				'object',
				'bare lower/mixed case',
				'object lower/mixed case',
			]) {
				expect(report.served[`${status} ${variant}`] ?? 0).toBeGreaterThan(0);
			}
		}
	}, 120_000);
});
