/**
 * Follows one task through as many checks as the settings allow: once, or (waiting for
 * completion) again and again with growing pauses until it is done, the wait is over, or the
 * check budget is spent. Knows nothing of HTTP or n8n: the caller supplies the check and the
 * clock, so the schedule can be tested without waiting.
 */
import { RATE_LIMITED, stillPending, type Verdict } from './classifyStatus';

export interface FollowSettings {
	/** Keep checking pending tasks inside this execution. */
	wait: boolean;
	firstIntervalMs: number;
	maxIntervalMs: number;
	/** How long one execution waits at most (wait mode only). */
	maxWaitMs: number;
	/** Checks per task over all executions of a loop; 0 means no limit. */
	maxChecks: number;
}

/** What the item brought from earlier runs of a polling loop. */
export interface Progress {
	checkCount: number;
	pendingSince?: string;
}

/** One check: a verdict, or CAMB saying "not now" (429) with the pause it wants. */
export type Checked = { verdict: Verdict } | { rateLimitedForMs: number };

export interface Followed {
	verdict: Verdict;
	/** Checks so far over the whole loop: the input's count plus the checks made now. */
	checkCount: number;
	/** When the task was first seen pending, carried through the loop; null if never. */
	pendingSince: string | null;
	/** For items leaving on Pending: the suggested pause before the next check. */
	nextCheckInMs?: number;
	checkedAt: string;
}

export interface Clock {
	now(): number;
	sleep(ms: number): Promise<void>;
	random(): number;
}

const GROWTH = 1.5;
/** A Retry-After beyond an hour is taken as an hour: a suggested pause must stay usable in a Wait node. */
const MAX_RATE_LIMIT_PAUSE_MS = 3_600_000;
const JITTER = 0.1;

/** The pause after the n-th check: the first interval growing by half each time up to the cap, ±10%. */
export function checkInterval(
	checkCount: number,
	settings: FollowSettings,
	random: () => number,
): number {
	const grown = settings.firstIntervalMs * GROWTH ** Math.max(0, checkCount - 1);
	const capped = Math.min(Math.max(settings.maxIntervalMs, settings.firstIntervalMs), grown);
	return Math.round(capped * (1 - JITTER + 2 * JITTER * random()));
}

export async function followTask(
	check: () => Promise<Checked>,
	progress: Progress,
	settings: FollowSettings,
	clock: Clock,
): Promise<Followed> {
	const deadline = clock.now() + (settings.wait ? settings.maxWaitMs : 0);
	let checkCount = progress.checkCount;
	let pendingSince = progress.pendingSince ?? null;
	let verdict: Verdict | undefined;

	for (;;) {
		const checked = await check();
		let nextPauseMs: number;
		if ('verdict' in checked) {
			checkCount++;
			verdict = checked.verdict;
			if (verdict.route !== 'pending') break;
			pendingSince ??= new Date(clock.now()).toISOString();
			if (settings.maxChecks > 0 && checkCount >= settings.maxChecks) {
				verdict = stillPending(verdict, checkCount, clock.now() - Date.parse(pendingSince));
				break;
			}
			nextPauseMs = checkInterval(checkCount, settings, clock.random);
		} else {
			// A 429 slows this task down but does not count as a check or fail it.
			const asked = Math.min(checked.rateLimitedForMs, MAX_RATE_LIMIT_PAUSE_MS);
			nextPauseMs = Math.max(asked, checkInterval(checkCount, settings, clock.random));
		}

		const left = deadline - clock.now();
		if (!settings.wait || left <= 0) {
			return finish(verdict ?? RATE_LIMITED, checkCount, pendingSince, clock, nextPauseMs);
		}
		// The last pause is cut short so the final check lands on the deadline, not after it.
		await clock.sleep(Math.min(nextPauseMs, left));
	}
	return finish(verdict, checkCount, pendingSince, clock);
}

function finish(
	verdict: Verdict,
	checkCount: number,
	pendingSince: string | null,
	clock: Clock,
	nextPauseMs?: number,
): Followed {
	const followed: Followed = {
		verdict,
		checkCount,
		pendingSince,
		checkedAt: new Date(clock.now()).toISOString(),
	};
	if (verdict.route === 'pending' && nextPauseMs !== undefined)
		followed.nextCheckInMs = nextPauseMs;
	return followed;
}
