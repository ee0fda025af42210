/**
 * How fast one execution may send to one host. CAMB.AI publishes no rate limits, so no fixed
 * number can be right: the node learns the rate from the answers, the way TCP learns a link.
 *
 * - A window of requests in flight starts small and, while answers come back clean, doubles every
 *   round trip up to 16, then grows by half (slow start), so a fast server sees a high window within
 *   a few round trips (4 to 64 in six; it took seven growing by half all along). Past 16 the window grows by half, not double: a server
 *   that turns back what is over its limit (a token bucket) then sees at most a third of the window
 *   over it in the round trip before the first refusal comes back, not half. It never exceeds the
 *   ceiling (the node's "Max Requests in Flight").
 * - A 429, a 503 or a time-out is a congestion signal when it recurs: three of the last twenty
 *   answers. One alone is noise (a server that fails one request in fifty whatever the rate):
 *   slowing down would not make it rarer, so it cuts nothing (a 429 still pauses everyone,
 *   below). A limit or an overload that our rate causes turns back requests in runs, and the
 *   third of a run cuts: the window halves (never below 4; a 503 without Retry-After: below).
 *   A 429 also paces requests from then on, at 90% of what the server let through since sending
 *   last resumed (if that span is under a second it measures nothing, and the pace only slows by
 *   10%), creeping back up while answers stay clean; a 503 with Retry-After or a time-out slows an
 *   existing pace by 10%. No cut for answers to requests sent before the last cut (one burst is
 *   one signal, not dozens), and 429s cut at most once a second, since limits are counted per
 *   second.
 * - A 503 without Retry-After, answered at once (in under half the usual round trip), is what a
 *   server that sheds load answers beyond the requests it can serve at once: a concurrency
 *   signal. When it recurs, the window drops to the fewest requests we had in flight when one was
 *   turned back (the server's limit, or less if others share it), not to half, and from there
 *   grows by one only every SHED_PROBE_ROUNDS round trips, so a server holding 8 at once sees few
 *   more than 8 and few 503s. While it sheds, requests go out spread over the quickest round trip
 *   seen (one every round trip / window), not in bursts: a burst comes back as a burst, and n8n
 *   handles its answers one at a time while the server's places stand empty. A 503 that took as
 *   long as an answer (a server failing at random) halves the window only when six of the last
 *   twenty answers were such 503s: three in twenty come by chance from a server that fails 3% of
 *   requests. The pace is left alone.
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
	/** 503 with Retry-After, or no answer within the time-out: overloaded. */
	| 'overloaded'
	/** 503 without Retry-After: the server turned the request back, beyond what it serves at once. */
	| 'shed'
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
	/** Other requests in flight when it went out, if the caller said. */
	readonly inFlight?: number;
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

/** The window of a fresh execution: polite to a small server, and doubling per round trip. */
export const INITIAL_WINDOW = 4;
/** A cut never takes the window below this (but a shedding server's limit, see cut()). */
const MIN_WINDOW = INITIAL_WINDOW;
/** Slow start doubles the window per round trip below this, and grows it by half above. */
const DOUBLING_BELOW = 16;
/** A 429 without Retry-After: CAMB's SDKs start their backoff near a second, so do we. */
export const DEFAULT_COOL_DOWN_MS = 1000;
/** After a cut the pace is this share of what the server accepted. */
const DECREASE = 0.9;
/** Slow start: the window grows by this much per clean answer (below DOUBLING_BELOW, and above). */
const SLOW_START_STEP = { doubling: 1, above: 0.5 };
/** Above a window that a shedding server found too wide: one more request every this many round trips. */
const SHED_PROBE_ROUNDS = 8;
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
	/** While a shedding server holds the window: the next request goes no sooner than this. */
	private nextSpacedAt = 0;
	private coolingUntil = 0;
	private seq = 0;
	/** Answers to requests numbered below this were already accounted for by the last cut. */
	private cutSeq = 0;
	private lastCutAt = -Infinity;
	/** The last cut on 429s: only a rate limit keeps the pace probing carefully. */
	private lastLimitCutAt = -Infinity;
	/** The last cut on shed 503s: above the window it set, the window grows slowly. */
	private lastShedCutAt = -Infinity;
	/** Answers not turned back (anything but a 429) since sending (re)started after the last cut, and since when. */
	private acceptedSinceResume = 0;
	private resumedAt: number | undefined;
	private acceptedAt: number | undefined;
	/** The signals of the last RECENT_ANSWERS answers, oldest overwritten first. */
	private readonly recent: LoadSignal[] = [];
	/** The usual time a clean answer takes (smoothed as TCP's SRTT), once one came. */
	private roundTripMs: number | undefined;
	/** The quickest a clean answer came: the server's own time, the least of ours added. */
	private fastestRoundTripMs = Infinity;
	/** The fewest others in flight when a request was shed at once, since the last cut. */
	private heldWhenShed: number | undefined;
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
			this.shedding(now) ? this.nextSpacedAt - now : 0,
			0,
		);
		if (waitMs > 0) return { ready: false, waitMs: Math.ceil(waitMs) };
		if (inFlight >= Math.floor(this.window)) return { ready: false, untilAnswer: true };
		return { ready: true };
	}

	/** A request goes out now. */
	send(now: number, inFlight?: number): Ticket {
		if (this.rate !== undefined)
			this.nextSendAt = Math.max(now, this.nextSendAt) + 1000 / this.rate;
		// A shedding server's few places free up as its answers come back: requests spread over
		// the round trip keep them spread, where a burst comes back as a burst that n8n handles
		// one answer at a time while the server's places stand empty.
		if (this.shedding(now) && this.fastestRoundTripMs < Infinity)
			this.nextSpacedAt =
				Math.max(now, this.nextSpacedAt) + this.fastestRoundTripMs / Math.floor(this.window);
		this.resumedAt ??= now;
		return { seq: this.seq++, sentAt: now, inFlight };
	}

	/** The answer to a request (or its failure). `retryAfterMs`: the pause the server asked for. */
	answered(ticket: Ticket, signal: LoadSignal, now: number, retryAfterMs?: number): void {
		if (retryAfterMs !== undefined) this.coolDown(now + retryAfterMs);
		else if (signal === 'limited') this.coolDown(now + DEFAULT_COOL_DOWN_MS);

		// Anything the server did not turn back went through its limiter: it counts as accepted.
		if (signal !== 'limited' && signal !== 'shed') {
			this.acceptedSinceResume++;
			this.acceptedAt = now;
		}
		this.recent[this.answers++ % RECENT_ANSWERS] = signal;
		if (signal === 'clean') {
			const took = now - ticket.sentAt;
			this.fastestRoundTripMs = Math.min(this.fastestRoundTripMs, took);
			this.roundTripMs =
				this.roundTripMs === undefined ? took : this.roundTripMs + (took - this.roundTripMs) / 8;
			return this.grow(now);
		}
		if (signal === 'neutral' || ticket.seq < this.cutSeq) return;
		if (signal === 'shed') return this.shed(ticket, now);
		if (
			this.count(signal) >= RECURRING &&
			(signal !== 'limited' || now - this.lastCutAt >= MIN_CUT_INTERVAL_MS)
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

	/** A shedding server set the window lately (a shed cut in the last LIFTED_AFTER_MS). */
	private shedding(now: number): boolean {
		return now - this.lastShedCutAt < LIFTED_AFTER_MS;
	}

	/** How many of the last answers came with `signal`. */
	private count(signal: LoadSignal): number {
		let count = 0;
		for (const seen of this.recent) if (seen === signal) count++;
		return count;
	}

	/**
	 * A shed 503 sent after the last cut. Answered at once (in under half the usual round trip),
	 * it is a server turning back what it has no room for: the window drops to what it held (the
	 * fewest others in flight when one was turned back at once since the last cut) when such 503s
	 * recur, or at the first one once the server is known to shed (a shed cut in the last
	 * LIFTED_AFTER_MS: it answers a probe above the limit found). A 503 that took as long as an
	 * answer is a server failing at random (a noisy server: slowing down would not make it rarer)
	 * or overloaded: only twice the usual run (six of the last twenty) halves the window.
	 */
	private shed(ticket: Ticket, now: number): void {
		const atOnce = this.roundTripMs === undefined || now - ticket.sentAt < this.roundTripMs / 2;
		if (!atOnce) {
			if (this.count('shed') >= 2 * RECURRING) this.cut(now, 'overloaded');
			return;
		}
		if (ticket.inFlight !== undefined)
			this.heldWhenShed = Math.min(this.heldWhenShed ?? Infinity, ticket.inFlight);
		const known = this.shedding(now);
		if (known || this.count('shed') >= RECURRING) this.cut(now, 'shed');
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
		// Below the threshold: slow start. Above: one more per round trip (congestion avoidance), or
		// per SHED_PROBE_ROUNDS round trips where a shedding server set the threshold.
		const rounds = this.shedding(now) ? SHED_PROBE_ROUNDS : 1;
		const slowStart =
			this.window < DOUBLING_BELOW ? SLOW_START_STEP.doubling : SLOW_START_STEP.above;
		this.window = Math.min(
			this.ceiling,
			this.window + (this.window < this.windowThreshold ? slowStart : 1 / (this.window * rounds)),
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

	private cut(now: number, signal: Exclude<LoadSignal, 'clean' | 'neutral'>): void {
		if (signal === 'limited') {
			this.paceAfterLimit(now);
			this.lastLimitCutAt = now;
		} else if (signal === 'overloaded' && this.rate !== undefined) {
			// Overloaded while paced: slow the pace down, and come back to it quickly if it was a blip.
			this.rateThreshold = this.rate;
			this.rate = Math.max(MIN_RATE, this.rate * DECREASE);
		}
		if (signal === 'shed') {
			// What the server held when it turned one back: its limit (less if others share it).
			const held = this.heldWhenShed ?? Math.floor(this.window / 2);
			this.window = Math.max(1, Math.min(Math.floor(this.window) - 1, held));
			this.lastShedCutAt = now;
		} else {
			// The pace answers a rate limit; the window only needs to shed load, never to starve the
			// execution when trouble is random (a hung request holds its place for the whole time-out).
			this.window = Math.max(Math.min(MIN_WINDOW, this.ceiling), Math.floor(this.window / 2));
		}
		this.heldWhenShed = undefined;
		this.windowThreshold = this.window;
		this.cutSeq = this.seq;
		this.lastCutAt = now;
		this.acceptedSinceResume = 0;
		this.resumedAt = Math.max(now, this.coolingUntil);
		this.nextSendAt = Math.max(this.nextSendAt, this.resumedAt);
	}
}
