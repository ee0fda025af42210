/**
 * How fast one execution may send to one host. CAMB.AI publishes no rate limits, so no fixed
 * number can be right: the node learns the rate from the answers, the way TCP learns a link.
 *
 * - A window of requests in flight starts small and grows by half every round trip while answers
 *   come back clean (slow start), so a fast server sees a high window within a few round trips. It
 *   never exceeds the ceiling (the node's "Max Requests in Flight").
 * - A 429, a 503 or a time-out is a congestion signal when it recurs: three of the last twenty
 *   answers. One alone is noise (a server that fails one request in fifty whatever the rate):
 *   slowing down would not make it rarer, so it cuts nothing (a 429 still pauses everyone,
 *   below). A limit or an overload that our rate causes turns back requests in runs, and the
 *   third of a run cuts: the window halves (never below the start). A 429 also paces requests
 *   from then on, at 90% of what the server let through since sending last resumed (if that
 *   span is under a second it measures nothing, and the pace only slows by 10%), creeping back
 *   up while answers stay clean; a 503 or time-out slows an existing pace by 10%. No cut for
 *   answers to requests sent before the last cut (one burst is one signal, not dozens), and 429s
 *   cut at most once a second, since limits are counted per second.
 * - A 429 (or any Retry-After) starts a cool-down that every request to this host waits out, not
 *   only the one that got it.
 * - Ten seconds without a cut, the window grows fast again. Ten seconds without a 429 cut, the
 *   limit is taken to have lifted: the pace grows fast again and is dropped when it no longer
 *   holds anything back. Only 429s count for the pace, since it answers a rate limit: 503s and
 *   time-outs that recur every few seconds slow it by 10% each time but must not hold it in
 *   careful probing far below the limit.
 *
 * Pure: the caller passes the time in and does the waiting (see gate.ts), so every decision is
 * tested with a fake clock.
 */

/** What an answer says about the server's load. */
export type LoadSignal =
	/** Answered (any status but the ones below): the server keeps up. */
	| 'clean'
	/** 429: over the rate limit. */
	| 'limited'
	/** 503 or no answer within the time-out: overloaded. */
	| 'overloaded'
	/** Says nothing about load (a reset connection, a 500, a request that never went out). */
	| 'neutral';

export interface RateSettings {
	/** The most requests in flight at once, whatever the server does. */
	ceiling: number;
}

/** Handed out with every request that goes out, handed back with its answer. */
export interface Ticket {
	readonly seq: number;
	readonly sentAt: number;
}

/** What the caller must wait for before the next request may go. */
export type Readiness =
	| { ready: true }
	| { ready: false; waitMs: number }
	| { ready: false; untilAnswer: true };

export interface RateSnapshot {
	window: number;
	/** Requests per second, or undefined while not pacing. */
	rate: number | undefined;
	coolingUntil: number;
	/** When the host last let a request through (any answer but a 429), if it has. */
	acceptedAt: number | undefined;
}

/** The window of a fresh execution: polite to a small server, and growing by half per round trip. */
export const INITIAL_WINDOW = 4;
/** A 429 without Retry-After: CAMB's SDKs start their backoff near a second, so do we. */
export const DEFAULT_COOL_DOWN_MS = 1000;
/** After a cut the pace is this share of what the server accepted. */
const DECREASE = 0.9;
/** Slow start: the window grows by this much per clean answer, half again per round trip. */
const SLOW_START_STEP = 0.5;
/** Above the rate that last hurt, the pace grows by this share per second at full use. */
const PROBE_GROWTH = 0.02;
/** Clean for this long since the last cut (for the pace: the last 429 cut): grow fast again. */
const LIFTED_AFTER_MS = 10_000;
/** The slowest pace: one request a second still ends a batch; CAMB's cool-downs set the rest. */
const MIN_RATE = 1;
/** A pace this fast holds nothing back that the window does not: stop pacing. */
const UNPACED_RATE = 2000;
/** What the server accepted is measured over at least this span, so a first burst is not a rate. */
const MIN_MEASURE_MS = 1000;
/** Fewer answers than this before the first 429 measure nothing: the pace then grows fast. */
const MIN_SAMPLES = 10;
/** Rate limits are counted per second: one cut a second follows them (an overload: one per round trip). */
const MIN_CUT_INTERVAL_MS = 1000;
/** Trouble of one kind is a signal when RECURRING of the last RECENT_ANSWERS answers had it. */
const RECENT_ANSWERS = 20;
const RECURRING = 3;

export class RateControl {
	private window = INITIAL_WINDOW;
	/** Slow start below this window, one more per round above it. */
	private windowThreshold: number;
	private rate: number | undefined;
	/** The pace at the last cut: fast growth below it, careful probing above. */
	private rateThreshold = Infinity;
	private nextSendAt = 0;
	private coolingUntil = 0;
	private seq = 0;
	/** Answers to requests numbered below this were already accounted for by the last cut. */
	private cutSeq = 0;
	private lastCutAt = -Infinity;
	/** The last cut on 429s: only a rate limit keeps the pace probing carefully. */
	private lastLimitCutAt = -Infinity;
	/** Answers not turned back (anything but a 429) since sending (re)started after the last cut, and since when. */
	private acceptedSinceResume = 0;
	private resumedAt: number | undefined;
	private acceptedAt: number | undefined;
	/** The signals of the last RECENT_ANSWERS answers, oldest overwritten first. */
	private readonly recent: LoadSignal[] = [];
	private answers = 0;
	private readonly ceiling: number;

	constructor(settings: RateSettings) {
		this.ceiling = Math.max(1, Math.floor(settings.ceiling));
		this.window = Math.min(INITIAL_WINDOW, this.ceiling);
		this.windowThreshold = this.ceiling;
	}

	/** Whether a request may go now, with `inFlight` requests already out. */
	readiness(now: number, inFlight: number): Readiness {
		const waitMs = Math.max(
			this.coolingUntil - now,
			this.rate === undefined ? 0 : this.nextSendAt - now,
			0,
		);
		if (waitMs > 0) return { ready: false, waitMs: Math.ceil(waitMs) };
		if (inFlight >= Math.floor(this.window)) return { ready: false, untilAnswer: true };
		return { ready: true };
	}

	/** A request goes out now. */
	send(now: number): Ticket {
		if (this.rate !== undefined)
			this.nextSendAt = Math.max(now, this.nextSendAt) + 1000 / this.rate;
		this.resumedAt ??= now;
		return { seq: this.seq++, sentAt: now };
	}

	/** The answer to a request (or its failure). `retryAfterMs`: the pause the server asked for. */
	answered(ticket: Ticket, signal: LoadSignal, now: number, retryAfterMs?: number): void {
		if (retryAfterMs !== undefined) this.coolDown(now + retryAfterMs);
		else if (signal === 'limited') this.coolDown(now + DEFAULT_COOL_DOWN_MS);

		// Anything the server did not turn back went through its limiter: it counts as accepted.
		if (signal !== 'limited') {
			this.acceptedSinceResume++;
			this.acceptedAt = now;
		}
		this.recent[this.answers++ % RECENT_ANSWERS] = signal;
		if (signal === 'clean') this.grow(now);
		else if (
			(signal === 'limited' || signal === 'overloaded') &&
			this.recurs(signal) &&
			ticket.seq >= this.cutSeq &&
			(signal === 'overloaded' || now - this.lastCutAt >= MIN_CUT_INTERVAL_MS)
		) {
			this.cut(now, signal);
		}
	}

	snapshot(): RateSnapshot {
		return {
			window: this.window,
			rate: this.rate,
			coolingUntil: this.coolingUntil,
			acceptedAt: this.acceptedAt,
		};
	}

	/** Whether `signal` came with enough of the last answers to be more than noise. */
	private recurs(signal: LoadSignal): boolean {
		let count = 0;
		for (const seen of this.recent) if (seen === signal) count++;
		return count >= RECURRING;
	}

	private coolDown(until: number): void {
		this.coolingUntil = Math.max(this.coolingUntil, until);
		// Nothing accepted since the last cut yet: the measurement starts when sending resumes.
		if (this.resumedAt !== undefined && this.acceptedSinceResume === 0)
			this.resumedAt = Math.max(this.resumedAt, this.coolingUntil);
	}

	private grow(now: number): void {
		if (now - this.lastCutAt >= LIFTED_AFTER_MS) this.windowThreshold = this.ceiling;
		if (now - this.lastLimitCutAt >= LIFTED_AFTER_MS) this.rateThreshold = Infinity;
		this.window = Math.min(
			this.ceiling,
			this.window + (this.window < this.windowThreshold ? SLOW_START_STEP : 1 / this.window),
		);
		if (this.rate === undefined) return;
		// Below the rate that last hurt: +1 request/s per answer, i.e. doubling every second.
		// Above it: +2% per second at full use, so the next limit is found gently.
		this.rate += this.rate < this.rateThreshold ? 1 : PROBE_GROWTH;
		if (this.rate >= UNPACED_RATE) this.rate = undefined;
	}

	/** A 429: pace at 90% of what the limiter let through, measured since sending last resumed. */
	private paceAfterLimit(now: number): void {
		const span = now - (this.resumedAt ?? now);
		const accepted = (this.acceptedSinceResume * 1000) / Math.max(MIN_MEASURE_MS, span);
		if (this.rate === undefined) {
			this.rate = Math.max(MIN_RATE, accepted * DECREASE);
			// Too few answers to tell a rate from a blip: grow fast until the next 429 says more.
			this.rateThreshold = this.acceptedSinceResume >= MIN_SAMPLES ? accepted : Infinity;
			return;
		}
		// The 429s recur, so the limiter turned back what we sent beyond it: what it let through is
		// the limit, however fast we tried to send. A span under MIN_MEASURE_MS (a few answers
		// after a cool-down) would be read as a second and make a pace of a few requests a second
		// out of nothing: it only slows the pace.
		const base = span < MIN_MEASURE_MS ? this.rate : Math.min(this.rate, accepted);
		this.rateThreshold = base;
		this.rate = Math.max(MIN_RATE, base * DECREASE);
	}

	private cut(now: number, signal: 'limited' | 'overloaded'): void {
		if (signal === 'limited') {
			this.paceAfterLimit(now);
			this.lastLimitCutAt = now;
		} else if (this.rate !== undefined) {
			// Overloaded while paced: slow the pace down, and come back to it quickly if it was a blip.
			this.rateThreshold = this.rate;
			this.rate = Math.max(MIN_RATE, this.rate * DECREASE);
		}
		// The pace answers a rate limit; the window only needs to shed load, never to starve the
		// execution when trouble is random (a hung request holds its place for the whole time-out).
		this.window = Math.max(Math.min(INITIAL_WINDOW, this.ceiling), Math.floor(this.window / 2));
		this.windowThreshold = this.window;
		this.cutSeq = this.seq;
		this.lastCutAt = now;
		this.acceptedSinceResume = 0;
		this.resumedAt = Math.max(now, this.coolingUntil);
		this.nextSendAt = Math.max(this.nextSendAt, this.resumedAt);
	}
}
