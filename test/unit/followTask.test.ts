/** followTask and checkInterval in virtual time: when a task is checked again, and when following it stops. */
import type { Verdict } from '../../nodes/CambSeparationStatus/classifyStatus';
import {
	checkInterval,
	followTask,
	type Checked,
	type Clock,
	type FollowSettings,
} from '../../nodes/CambSeparationStatus/followTask';

const PENDING: Checked = { verdict: { route: 'pending', status: 'PENDING' } };
const SUCCESS: Checked = { verdict: { route: 'success', status: 'SUCCESS', runId: 9 } };
const FAILED: Checked = {
	verdict: { route: 'failure', status: 'ERROR', reason: 'ERROR', retryable: true, message: 'x' },
};

const settings = (overrides: Partial<FollowSettings> = {}): FollowSettings => ({
	wait: true,
	firstIntervalMs: 3000,
	maxIntervalMs: 30_000,
	maxWaitMs: 60_000,
	maxChecks: 0,
	...overrides,
});

/** A clock that advances only when the code under test sleeps; random fixed at the middle (no jitter). */
function fakeClock(
	start = Date.parse('2026-11-28T12:00:00Z'),
): Clock & { slept: number[]; at: () => number } {
	let now = start;
	const slept: number[] = [];
	return {
		now: () => now,
		sleep: async (ms) => {
			slept.push(ms);
			now += ms;
		},
		random: () => 0.5,
		slept,
		at: () => now,
	};
}

/** A check that answers from a script, one entry per call. */
const script = (...answers: Checked[]) => {
	let calls = 0;
	const check = async () => answers[Math.min(calls++, answers.length - 1)];
	return Object.assign(check, { calls: () => calls });
};

describe('checkInterval', () => {
	it('starts at the first interval and grows by half up to the cap', () => {
		const s = settings();
		expect([1, 2, 3, 4, 5, 9, 20].map((n) => checkInterval(n, s, () => 0.5))).toEqual([
			3000, 4500, 6750, 10125, 15188, 30000, 30000,
		]);
	});
	it('jitters by at most 10%', () => {
		expect(checkInterval(1, settings(), () => 0)).toBe(2700);
		expect(checkInterval(1, settings(), () => 1)).toBe(3300);
	});
});

describe('followTask without waiting', () => {
	it('checks once and suggests the next pause for a pending task', async () => {
		const clock = fakeClock();
		const check = script(PENDING);
		const followed = await followTask(check, { checkCount: 2 }, settings({ wait: false }), clock);
		expect(check.calls()).toBe(1);
		expect(clock.slept).toEqual([]);
		expect(followed).toEqual({
			verdict: PENDING.verdict,
			checkCount: 3,
			pendingSince: '2026-11-28T12:00:00.000Z',
			nextCheckInMs: 6750,
			checkedAt: '2026-11-28T12:00:00.000Z',
		});
	});

	it('keeps the pending_since it was given', async () => {
		const followed = await followTask(
			script(PENDING),
			{ checkCount: 7, pendingSince: '2026-11-28T11:00:00.000Z' },
			settings({ wait: false }),
			fakeClock(),
		);
		expect(followed.pendingSince).toBe('2026-11-28T11:00:00.000Z');
	});

	it('gives no pending_since or pause to a task that was never pending', async () => {
		const followed = await followTask(
			script(SUCCESS),
			{ checkCount: 0 },
			settings({ wait: false }),
			fakeClock(),
		);
		expect(followed).toMatchObject({ verdict: SUCCESS.verdict, checkCount: 1, pendingSince: null });
		expect(followed).not.toHaveProperty('nextCheckInMs');
	});
});

describe('followTask waiting for completion', () => {
	it('checks again with growing pauses until the task finishes', async () => {
		const clock = fakeClock();
		const check = script(PENDING, PENDING, PENDING, SUCCESS);
		const followed = await followTask(check, { checkCount: 0 }, settings(), clock);
		expect(check.calls()).toBe(4);
		expect(clock.slept).toEqual([3000, 4500, 6750]);
		expect(followed).toMatchObject({
			verdict: SUCCESS.verdict,
			checkCount: 4,
			pendingSince: '2026-11-28T12:00:00.000Z',
		});
	});

	it('stops on a failure', async () => {
		const followed = await followTask(
			script(PENDING, FAILED),
			{ checkCount: 0 },
			settings(),
			fakeClock(),
		);
		expect(followed.verdict.route).toBe('failure');
		expect(followed.checkCount).toBe(2);
	});

	it('leaves a task still pending at the deadline on Pending, with the last check on the deadline', async () => {
		const clock = fakeClock();
		const start = clock.at();
		const check = script(PENDING);
		const followed = await followTask(
			check,
			{ checkCount: 0 },
			settings({ maxWaitMs: 10_000 }),
			clock,
		);
		expect(clock.slept).toEqual([3000, 4500, 2500]);
		expect(clock.at() - start).toBe(10_000);
		expect(followed.verdict.route).toBe('pending');
		expect(followed.nextCheckInMs).toBe(10125);
	});

	it('lets a 429 slow the task down without counting it as a check or failing it', async () => {
		const clock = fakeClock();
		const check = script(
			PENDING,
			{ rateLimitedForMs: 20_000 },
			{ rateLimitedForMs: 1000 },
			SUCCESS,
		);
		const followed = await followTask(check, { checkCount: 0 }, settings(), clock);
		// After the 429 asking for 20 s the task waits 20 s; after one asking for 1 s, the schedule's
		// pause for its (unchanged) check count, 3 s.
		expect(clock.slept).toEqual([3000, 20_000, 3000]);
		expect(followed).toMatchObject({ verdict: SUCCESS.verdict, checkCount: 2 });
	});

	it('leaves on Pending as RATE_LIMITED when CAMB answered 429 for the whole wait', async () => {
		const followed = await followTask(
			script({ rateLimitedForMs: 5000 }),
			{ checkCount: 0 },
			settings({ maxWaitMs: 12_000 }),
			fakeClock(),
		);
		expect(followed.verdict).toEqual({ route: 'pending', status: 'RATE_LIMITED' });
		expect(followed.nextCheckInMs).toBe(5000);
		expect(followed.checkCount).toBe(0);
	});
});

describe('Max Checks', () => {
	it('turns a task still pending at the limit into STILL_PENDING, counting earlier loops', async () => {
		const clock = fakeClock();
		const check = script(PENDING);
		const followed = await followTask(
			check,
			{ checkCount: 8, pendingSince: '2026-11-28T11:50:30.000Z' },
			settings({ maxChecks: 10 }),
			clock,
		);
		expect(check.calls()).toBe(2);
		const verdict: Verdict = followed.verdict;
		expect(verdict).toMatchObject({
			route: 'failure',
			status: 'PENDING',
			reason: 'STILL_PENDING',
			retryable: true,
		});
		expect(verdict.message).toMatch(/after 10 checks over 10 min/);
		expect(followed.checkCount).toBe(10);
	});

	it('does not stop a task that finishes on the last allowed check', async () => {
		const followed = await followTask(
			script(PENDING, SUCCESS),
			{ checkCount: 0 },
			settings({ maxChecks: 2 }),
			fakeClock(),
		);
		expect(followed.verdict.route).toBe('success');
	});

	it('applies without waiting too', async () => {
		const followed = await followTask(
			script(PENDING),
			{ checkCount: 4 },
			settings({ wait: false, maxChecks: 5 }),
			fakeClock(),
		);
		expect(followed.verdict.reason).toBe('STILL_PENDING');
	});
});
