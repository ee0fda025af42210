/**
 * The watchdog on answer bodies, in virtual time: a stalled body fails between its stall time
 * and one tick later; bodies that keep arriving or have ended never fail; however many bodies are
 * read, the watchdog keeps at most one timer, none once no body is being read, and none once closed.
 */
import {
	createWatchdog,
	WATCHDOG_TICK_MS,
	type WatchdogClock,
} from '../../nodes/shared/transport/watchdog';
import { virtualTime, type VirtualTime } from '../fixtures/virtualTime';

const STALL_MS = 30_000;

/** Virtual time, counting the watchdog's timers that are still pending; an abort ends a timer at once. */
function countedClock(time: VirtualTime): WatchdogClock & { pending: () => number; most: number } {
	let pending = 0;
	const clock = {
		now: () => time.now(),
		sleep: async (ms: number, signal: AbortSignal) => {
			pending += 1;
			clock.most = Math.max(clock.most, pending);
			try {
				await new Promise<void>((resolve, reject) => {
					signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
					void time.sleep(ms).then(resolve);
				});
			} finally {
				pending -= 1;
			}
		},
		pending: () => pending,
		most: 0,
	};
	return clock;
}

/** When a body's `stalled` rejected, and with what; or undefined if it never did. */
function failure(stalled: Promise<never>, time: VirtualTime) {
	const seen: { at?: number; error?: Error & { code?: string } } = {};
	stalled.catch((error: Error) => Object.assign(seen, { at: time.now(), error }));
	return seen;
}

describe('createWatchdog', () => {
	it('fails a body that sends nothing, once the stall time has passed and not before', async () => {
		const time = virtualTime(1_000);
		const watchdog = createWatchdog(STALL_MS, countedClock(time));
		const watch = watchdog.watch();
		const seen = failure(watch.stalled, time);
		await time.run(watch.stalled.catch(() => undefined));
		expect(seen.at! - 1_000).toBeGreaterThanOrEqual(STALL_MS);
		expect(seen.at! - 1_000).toBeLessThanOrEqual(STALL_MS + WATCHDOG_TICK_MS);
		expect(seen.error?.message).toBe('the answer stalled: no data for 30 s');
		expect(seen.error?.code).toBe('ETIMEDOUT');
	});

	it('measures the stall from the last data, and fails only the body that stopped', async () => {
		const time = virtualTime();
		const watchdog = createWatchdog(STALL_MS, countedClock(time));
		const steady = watchdog.watch();
		const stopsEarly = watchdog.watch();
		const steadyFailure = failure(steady.stalled, time);
		const earlyFailure = failure(stopsEarly.stalled, time);
		const reading = (async () => {
			for (let second = 1; second <= 60; second++) {
				await time.sleep(1_000);
				steady.progressed();
				if (second <= 10) stopsEarly.progressed();
			}
			steady.stop();
		})();
		await time.run(reading);
		expect(steadyFailure.at).toBeUndefined();
		// Last data at 10 s: failed 30 s later, within a tick.
		expect(earlyFailure.at).toBeGreaterThanOrEqual(10_000 + STALL_MS);
		expect(earlyFailure.at).toBeLessThanOrEqual(10_000 + STALL_MS + WATCHDOG_TICK_MS);
	});

	it('keeps one timer for many bodies, and none once every body has ended', async () => {
		const time = virtualTime();
		const clock = countedClock(time);
		const watchdog = createWatchdog(STALL_MS, clock);
		const failures: Array<{ at?: number }> = [];
		const bodies = Array.from({ length: 500 }, async (_, i) => {
			const watch = watchdog.watch();
			failures.push(failure(watch.stalled, time));
			await time.sleep(10 * i);
			watch.progressed();
			await time.sleep(5);
			watch.stop();
		});
		await time.run(Promise.all(bodies));
		// Let the watchdog wake once more and see that nothing is being read.
		await time.run(time.sleep(WATCHDOG_TICK_MS + 1));
		expect(clock.most).toBe(1);
		expect(clock.pending()).toBe(0);
		expect(failures.filter((seen) => seen.at !== undefined)).toHaveLength(0);
	});

	it('clears its timer when closed, and fails no body it was watching', async () => {
		const time = virtualTime();
		const clock = countedClock(time);
		const watchdog = createWatchdog(STALL_MS, clock);
		const watch = watchdog.watch();
		const seen = failure(watch.stalled, time);
		await time.run(time.sleep(5_000));
		expect(clock.pending()).toBe(1);
		watchdog.close();
		// At once, not when the timer would have fired.
		await new Promise((resolve) => setImmediate(resolve));
		expect(clock.pending()).toBe(0);
		await time.run(time.sleep(STALL_MS * 2));
		expect(seen.at).toBeUndefined();
	});
});
