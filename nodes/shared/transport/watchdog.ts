/**
 * The watchdog on uploads and answer bodies that stop moving (an upload's body is watched from its
 * first byte to the answer's headers, see upload.ts): one per execution and host, however many
 * bodies are in flight. A timer per body that is cancelled when the body ends cost about a
 * tenth of a status check's CPU time in n8n 1.x (a cancelled n8n sleep builds an error with a
 * stack trace); this one wakes once a second while any body is being read, and not at all
 * otherwise. It is closed when the node's work is done, so no timer outlives the execution.
 */

/** At most this long between two looks at the bodies being read: a stall is noticed this late at most. */
export const WATCHDOG_TICK_MS = 1000;

export interface WatchdogClock {
	now(): number;
	/** Rejects as soon as `signal` aborts. */
	sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** One body being read. */
export interface Watch {
	/** Rejects once `stallMs` pass without progress; never settles once stopped. */
	stalled: Promise<never>;
	progressed(): void;
	stop(): void;
}

export interface Watchdog {
	watch(): Watch;
	/** Stops watching for good: its timer is cleared, and no body it watched fails any more. */
	close(): void;
}

interface Watched {
	lastProgress: number;
	fail: (error: Error) => void;
}

/**
 * A body is stalled once `stallMs` pass with no data: it is failed with an ETIMEDOUT error, like
 * a request that never answered, between `stallMs` and `stallMs` + WATCHDOG_TICK_MS after its last
 * data. A cancel of the execution needs nothing from the watchdog: n8n tears the requests down.
 */
export function createWatchdog(stallMs: number, clock: WatchdogClock): Watchdog {
	const watched = new Set<Watched>();
	const closed = new AbortController();
	let running = false;

	const lookAt = (now: number) => {
		for (const body of watched) {
			if (now - body.lastProgress < stallMs) continue;
			watched.delete(body);
			body.fail(
				Object.assign(
					new Error(`the answer stalled: no data for ${Math.round(stallMs / 1000)} s`),
					{ code: 'ETIMEDOUT' },
				),
			);
		}
	};
	const run = async () => {
		running = true;
		try {
			while (watched.size > 0) {
				await clock.sleep(Math.min(WATCHDOG_TICK_MS, stallMs), closed.signal);
				lookAt(clock.now());
			}
		} catch {
			// Closed.
			watched.clear();
		} finally {
			running = false;
		}
	};

	return {
		watch: () => {
			const body: Watched = { lastProgress: clock.now(), fail: () => {} };
			const stalled = new Promise<never>((_, reject) => (body.fail = reject));
			// Never awaited once the body is read: a rejection nobody waits for must not count as unhandled.
			stalled.catch(() => {});
			watched.add(body);
			if (!running) void run();
			return {
				stalled,
				progressed: () => (body.lastProgress = clock.now()),
				stop: () => watched.delete(body),
			};
		},
		close: () => {
			watched.clear();
			closed.abort();
		},
	};
}
