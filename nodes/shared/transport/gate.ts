/**
 * The one door every request to a host goes through in an execution: it holds requests back
 * while RateControl says so (window full, pacing, cool-down) and lets them out first come, first
 * served, but retries go ahead of every first attempt: a request that was turned back has
 * waited its turn once already, and sent last it would be the run's tail (a second refusal then
 * backs it off with the whole run waiting for it). Stateful glue around the pure RateControl; the
 * waiting is done with `sleep`.
 */
import { RateControl, type LoadSignal, type RateSnapshot, type Ticket } from './rateControl';

/** What a request's task hands back: its value, and what the answer said about the server's load. */
export interface Judged<T> {
	value: T;
	signal: LoadSignal;
	/** The pause the server asked for (Retry-After), if any, to be waited out by every request. */
	retryAfterMs?: number;
}

export interface Gate {
	/**
	 * Runs `task` once the door is open; a task that throws counts as 'neutral'. `retry`: the
	 * request was tried before, so it goes ahead of the first attempts waiting.
	 */
	through<T>(task: () => Promise<Judged<T>>, retry?: boolean): Promise<T>;
	snapshot(): RateSnapshot;
}

export interface GateClock {
	now(): number;
	/** Waits `ms`; rejects (or resolves early) when the execution is cancelled. */
	sleep(ms: number): Promise<void>;
}

export function createGate(ceiling: number, clock: GateClock): Gate {
	const control = new RateControl({ ceiling });
	// Two lines, each first come first served: retries are let out before first attempts.
	const retries = new Waiting<(ticket: Ticket) => void>();
	const firsts = new Waiting<(ticket: Ticket) => void>();
	const waiting = () => retries.size + firsts.size;
	const next = () => (retries.size > 0 ? retries : firsts).take();
	let inFlight = 0;
	let pumping = false;
	let onAnswer: (() => void) | undefined;

	/** Lets queued requests out as RateControl allows; one pump at a time keeps the order. */
	async function pump(): Promise<void> {
		if (pumping) return;
		pumping = true;
		try {
			while (waiting() > 0) {
				const readiness = control.readiness(clock.now(), inFlight);
				if (readiness.ready) {
					// Counted and paced here, before the next one is considered.
					const ticket = control.send(clock.now(), inFlight);
					inFlight++;
					next()(ticket);
				} else if ('untilAnswer' in readiness) {
					await new Promise<void>((resolve) => (onAnswer = resolve));
				} else {
					await clock.sleep(readiness.waitMs);
				}
			}
		} catch {
			// The execution was cancelled mid-pause: let everyone through; each sees the cancel and sends nothing.
			while (waiting() > 0) {
				inFlight++;
				next()(control.send(clock.now()));
			}
		} finally {
			pumping = false;
		}
	}

	/** A request's answer is in: its slot is free, and a pump waiting for an answer goes on. */
	function slotFreed(): void {
		inFlight--;
		const wake = onAnswer;
		onAnswer = undefined;
		wake?.();
	}

	return {
		async through<T>(task: () => Promise<Judged<T>>, retry = false): Promise<T> {
			const ticket = await new Promise<Ticket>((resolve) => {
				(retry ? retries : firsts).push(resolve);
				void pump();
			});
			let judged: Judged<T> | undefined;
			try {
				judged = await task();
				return judged.value;
			} finally {
				// A task that threw says nothing about the server's load.
				control.answered(ticket, judged?.signal ?? 'neutral', clock.now(), judged?.retryAfterMs);
				slotFreed();
			}
		},
		snapshot: () => control.snapshot(),
	};
}

/** Requests waiting at the gate, first come first served; taken ones are dropped now and then. */
class Waiting<T> {
	private readonly items: Array<T | undefined> = [];
	private head = 0;

	get size(): number {
		return this.items.length - this.head;
	}

	push(item: T): void {
		this.items.push(item);
	}

	take(): T {
		const item = this.items[this.head] as T;
		this.items[this.head++] = undefined;
		if (this.head > 1024 && this.head * 2 > this.items.length) {
			this.items.splice(0, this.head);
			this.head = 0;
		}
		return item;
	}
}
