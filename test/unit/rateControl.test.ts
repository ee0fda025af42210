/**
 * The rate controller's decisions, with the time passed in: growth, cut, cool-down, ceiling and
 * recovery once a limit lifts. The gate around it is driven in virtual time against a model of a
 * rate-limited server (a token bucket), so whole batches run in milliseconds, the same every time.
 */
import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { createGate, type Gate, type Judged } from '../../nodes/shared/transport/gate';
import {
	DEFAULT_COOL_DOWN_MS,
	INITIAL_WINDOW,
	RateControl,
	type LoadSignal,
	type Ticket,
} from '../../nodes/shared/transport/rateControl';
import { mulberry32 } from '../fixtures/random';
import { virtualTime, type VirtualTime } from '../fixtures/virtualTime';

/** Sends as many requests as the controller allows at `now`, returning their tickets. */
function sendAll(control: RateControl, now: number, inFlight: number): Ticket[] {
	const tickets: Ticket[] = [];
	while (control.readiness(now, inFlight + tickets.length).ready) tickets.push(control.send(now));
	return tickets;
}

/** A run of 429s, all sent and answered at `now`: enough to recur, so the limit is taken as real. */
function limitedRun(control: RateControl, now: number, retryAfterMs?: number): void {
	const tickets = [control.send(now), control.send(now), control.send(now)];
	for (const ticket of tickets) control.answered(ticket, 'limited', now, retryAfterMs);
}

describe('RateControl', () => {
	it('starts with a small window, doubles it every clean round trip up to 16 and grows it by half above, up to the ceiling', () => {
		const control = new RateControl({ ceiling: 32 });
		const windows: number[] = [];
		for (let round = 0, now = 0; round < 8; round++, now += 50) {
			const tickets = sendAll(control, now, 0);
			windows.push(tickets.length);
			for (const ticket of tickets) control.answered(ticket, 'clean', now + 50);
		}
		expect(windows[0]).toBe(INITIAL_WINDOW);
		// Grew by half all along before (4, 6, 9, 13, 20, 30, 32).
		expect(windows).toEqual([4, 8, 16, 24, 32, 32, 32, 32]);
		expect(control.snapshot().rate).toBeUndefined();
	});

	it('never lets more than the ceiling out, however clean the answers', () => {
		const control = new RateControl({ ceiling: 3 });
		for (let i = 0; i < 100; i++) control.answered(control.send(0), 'clean', 1);
		expect(sendAll(control, 2, 0)).toHaveLength(3);
		expect(control.readiness(2, 3)).toEqual({ ready: false, untilAnswer: true });
	});

	it('halves the window when 429s recur, paces at what the server accepted, and cuts once per round', () => {
		const control = new RateControl({ ceiling: 64 });
		// 40 clean answers over 2 s: the server accepts 20 a second.
		for (let i = 0; i < 40; i++) control.answered(control.send(i * 50), 'clean', i * 50 + 10);
		const before = control.snapshot().window;
		const late = Array.from({ length: 5 }, () => control.send(2000));
		// One 429 and a second one: noise so far, nothing is cut.
		control.answered(late[0], 'limited', 2010);
		control.answered(late[1], 'limited', 2012);
		expect(control.snapshot()).toMatchObject({ window: before, rate: undefined });
		// The third of the last twenty answers: a limit.
		control.answered(late[2], 'limited', 2014);
		const cut = control.snapshot();
		expect(cut.window).toBe(Math.max(1, Math.floor(before / 2)));
		expect(cut.rate).toBeCloseTo(0.9 * 20, 0);
		// Requests sent before the cut were part of the same burst: no second cut.
		control.answered(late[3], 'limited', 2020);
		control.answered(late[4], 'overloaded', 2030);
		expect(control.snapshot()).toMatchObject({ window: cut.window, rate: cut.rate });
		// A request sent after the cut that is limited again: a new cut.
		const after = control.send(3100);
		control.answered(after, 'limited', 3110);
		expect(control.snapshot().window).toBe(Math.max(1, Math.floor(cut.window / 2)));
	});

	it('takes a 429, a 503 or a time-out that does not recur for noise: it cuts nothing, but a 429 still pauses everyone', () => {
		const control = new RateControl({ ceiling: 32 });
		let now = 0;
		const clean = (n: number) => {
			for (let i = 0; i < n; i++, now += 10) control.answered(control.send(now), 'clean', now + 5);
		};
		clean(60);
		expect(control.snapshot().window).toBe(32);
		// One 429 and one time-out every ten answers, for a minute: never three of the last twenty.
		for (let round = 0; round < 100; round++) {
			control.answered(control.send(now), round % 2 ? 'limited' : 'overloaded', now + 5);
			now += 600;
			clean(9);
		}
		expect(control.snapshot()).toMatchObject({ window: 32, rate: undefined });
		const limited = control.send(now);
		control.answered(limited, 'limited', now, 1000);
		expect(control.readiness(now, 0)).toEqual({ ready: false, waitMs: 1000 });
		// Three 503s among the last twenty answers: overload, the window halves.
		clean(5);
		control.answered(control.send(now), 'overloaded', now + 5);
		control.answered(control.send(now), 'overloaded', now + 5);
		expect(control.snapshot().window).toBe(32);
		control.answered(control.send(now), 'overloaded', now + 5);
		expect(control.snapshot().window).toBe(16);
	});

	it('holds every request back for the Retry-After (or a second without one): a shared cool-down', () => {
		const control = new RateControl({ ceiling: 8 });
		control.answered(control.send(0), 'limited', 100, 2500);
		expect(control.readiness(100, 0)).toEqual({ ready: false, waitMs: 2500 });
		expect(control.readiness(2599, 0)).toEqual({ ready: false, waitMs: 1 });
		expect(control.readiness(2600, 0).ready).toBe(true);

		const bare = new RateControl({ ceiling: 8 });
		bare.answered(bare.send(0), 'limited', 100);
		expect(bare.readiness(100, 0)).toEqual({ ready: false, waitMs: DEFAULT_COOL_DOWN_MS });
		// A 503 or a time-out slows down without a cool-down, unless the server asked for one.
		const busy = new RateControl({ ceiling: 8 });
		busy.answered(busy.send(0), 'overloaded', 100);
		expect(busy.snapshot().coolingUntil).toBe(0);
		busy.answered(busy.send(200), 'overloaded', 300, 700);
		expect(busy.snapshot().coolingUntil).toBe(1000);
		// A longer cool-down is never shortened by a later, shorter one.
		control.answered(control.send(2600), 'limited', 2700, 5000);
		control.answered(control.send(2600), 'limited', 2800, 100);
		expect(control.snapshot().coolingUntil).toBe(7700);
	});

	it('spaces requests at the paced rate', () => {
		const control = new RateControl({ ceiling: 64 });
		for (let i = 0; i < 20; i++) control.answered(control.send(i * 50), 'clean', i * 50 + 10);
		limitedRun(control, 1000, 0);
		const rate = control.snapshot().rate as number;
		const gap = 1000 / rate;
		control.send(1000);
		expect(control.readiness(1000, 0)).toEqual({ ready: false, waitMs: Math.ceil(gap) });
		expect(control.readiness(1000 + gap, 0).ready).toBe(true);
	});

	it('ignores what says nothing about load (resets, 500s)', () => {
		const control = new RateControl({ ceiling: 8 });
		control.answered(control.send(0), 'neutral', 10);
		expect(control.snapshot()).toEqual({
			window: INITIAL_WINDOW,
			rate: undefined,
			coolingUntil: 0,
			// Not turned back: the host let it through.
			acceptedAt: 10,
		});
	});

	it('recovers once the limit lifts: grows fast again and stops pacing', () => {
		const control = pacedAt20PerSecond();
		const droppedAt = serveUntilUnpaced(control, 2000);
		expect(control.snapshot().rate).toBeUndefined();
		// Slow start again after 10 s without trouble: well under a minute to drop the pace.
		expect(droppedAt).toBeLessThan(30_000);
		expect(control.snapshot().window).toBe(32);
	});

	it('lets the pace grow fast again 10 s after the last 429, however often 503s or time-outs cut it', () => {
		const control = pacedAt20PerSecond();
		// A run of three overloaded answers every 3 s: each cuts the pace by 10% and the window by half.
		const droppedAt = serveUntilUnpaced(control, 2000, 3000);
		expect(control.snapshot().rate).toBeUndefined();
		expect(droppedAt).toBeLessThan(30_000);
	});

	it('slows the pace by only 10% when 429s recur within a moment of sending again: so short a span measures nothing', () => {
		const control = pacedAt20PerSecond();
		// The cool-down of the 429s at 1000 ends at 2000; three answers come back, then a 429 again.
		for (const at of [2000, 2050, 2100]) control.answered(control.send(at), 'clean', at + 10);
		const paced = control.snapshot().rate as number;
		control.answered(control.send(2150), 'limited', 2200);
		// Three answers in 200 ms read as three a second would make a pace of 2.7 a second.
		expect(control.snapshot().rate).toBeCloseTo(paced * 0.9, 5);
	});
});

/** A controller that has seen 20 clean answers a second for 1 s, then a run of 429s at 1000 (1 s cool-down). */
function pacedAt20PerSecond(): RateControl {
	const control = new RateControl({ ceiling: 32 });
	for (let i = 0; i < 20; i++) control.answered(control.send(i * 50), 'clean', i * 50 + 10);
	limitedRun(control, 1000, 1000);
	expect(control.snapshot().rate).toBeDefined();
	return control;
}

/**
 * Sends from `start` as fast as the pace and the window allow, each answered 50 ms later, cleanly
 * but for a run of three overloaded answers every `overloadEveryMs`, until the controller stops
 * pacing (or a minute has passed). Returns when that was.
 */
function serveUntilUnpaced(control: RateControl, start: number, overloadEveryMs?: number): number {
	let now = start;
	let overloadsDue = 0;
	let inFlight: Array<{ ticket: Ticket; due: number }> = [];
	while (control.snapshot().rate !== undefined && now < 60_000) {
		if (overloadEveryMs !== undefined && (now - start) % overloadEveryMs === 0) overloadsDue = 3;
		for (const { ticket } of inFlight.filter((request) => request.due <= now)) {
			control.answered(ticket, overloadsDue > 0 ? 'overloaded' : 'clean', now);
			overloadsDue = Math.max(0, overloadsDue - 1);
		}
		inFlight = inFlight.filter((request) => request.due > now);
		for (const ticket of sendAll(control, now, inFlight.length))
			inFlight.push({ ticket, due: now + 50 });
		now += 5;
	}
	return now;
}

/** How a simulated server answers one request: after `latencyMs`, with this load signal. */
interface SimAnswer {
	signal: LoadSignal;
	latencyMs: number;
	retryAfterMs?: number;
}

/**
 * Runs `items` checks in virtual time, each sent again until its answer is clean (after
 * `retryPauseMs` when it was not a 429), through `gate`. `answer` is the server: it sees how
 * many requests are open, counting the one it answers.
 */
async function drive(
	items: number,
	time: VirtualTime,
	gate: Pick<Gate, 'through'>,
	answer: (open: number) => SimAnswer,
	retryPauseMs = 0,
) {
	let limited = 0;
	let overloaded = 0;
	let sent = 0;
	let open = 0;
	let peak = 0;
	const check = async (): Promise<void> => {
		for (;;) {
			const { signal } = await gate.through(async () => {
				sent++;
				peak = Math.max(peak, ++open);
				const reply = answer(open);
				await time.sleep(reply.latencyMs);
				open--;
				if (reply.signal === 'limited') limited++;
				if (reply.signal === 'overloaded') overloaded++;
				return { value: reply, ...reply };
			});
			if (signal === 'clean') return;
			if (signal !== 'limited') await time.sleep(retryPauseMs);
		}
	};
	await time.run(Promise.all(Array.from({ length: items }, check)));
	return { seconds: time.now() / 1000, sent, limited, overloaded, peak };
}

/** A server with a token bucket: `perSecond` requests a second, bursts up to `burst`, 429 beyond. */
async function simulate(
	items: number,
	server: { latencyMs: number; perSecond?: number; burst?: number; retryAfterMs?: number },
	ceiling = DEFAULTS.maxInFlight,
) {
	const time = virtualTime();
	let tokens = server.burst ?? 0;
	let refilledAt = 0;
	const take = () => {
		if (server.perSecond === undefined) return true;
		tokens = Math.min(
			server.burst ?? 1,
			tokens + ((time.now() - refilledAt) * server.perSecond) / 1000,
		);
		refilledAt = time.now();
		if (tokens < 1) return false;
		tokens--;
		return true;
	};
	return await drive(items, time, createGate(ceiling, time), () =>
		take()
			? { signal: 'clean', latencyMs: server.latencyMs }
			: { signal: 'limited', latencyMs: server.latencyMs, retryAfterMs: server.retryAfterMs },
	);
}

/**
 * What the node did before it had a controller, plus the shared cool-down: a fixed window at the
 * ceiling. The yardstick for trouble that slowing down does not cure.
 */
function fixedWindow(ceiling: number, time: VirtualTime): Pick<Gate, 'through'> {
	let open = 0;
	let coolingUntil = 0;
	const waiting: Array<() => void> = [];
	return {
		async through<T>(task: () => Promise<Judged<T>>): Promise<T> {
			while (open >= ceiling || time.now() < coolingUntil) {
				if (time.now() < coolingUntil) await time.sleep(coolingUntil - time.now());
				else await new Promise<void>((resolve) => waiting.push(resolve));
			}
			open++;
			const judged = await task();
			open--;
			waiting.shift()?.();
			if (judged.signal === 'limited' || judged.retryAfterMs !== undefined)
				coolingUntil = Math.max(
					coolingUntil,
					time.now() + (judged.retryAfterMs ?? DEFAULT_COOL_DOWN_MS),
				);
			return judged.value;
		},
	};
}

/**
 * A server in trouble at random, whatever the rate, in the mix one execution of the soak
 * (test/faults/soak.ts, seed 123, batch 1) was served: 2% 429s (Retry-After 0, 1 s or none),
 * 2.5% 503s (Retry-After 0), 4% requests that hang until the 1 s time-out, 25% answers that say
 * nothing about load (resets, 500s, HTML), the rest answered in 1 to 15 ms.
 */
function noisyServer(seed: number): (open: number) => SimAnswer {
	const random = mulberry32(seed);
	return () => {
		const draw = random();
		if (draw < 0.02) {
			const retryAfterMs = [0, 1000, undefined][Math.floor(random() * 3)];
			return { signal: 'limited', latencyMs: 5, retryAfterMs };
		}
		if (draw < 0.045) return { signal: 'overloaded', latencyMs: 5, retryAfterMs: 0 };
		if (draw < 0.085) return { signal: 'overloaded', latencyMs: 1000 };
		if (draw < 0.335) return { signal: 'neutral', latencyMs: 5 };
		return { signal: 'clean', latencyMs: 1 + Math.floor(random() * 15) };
	};
}

describe('the gate against a rate-limited server (virtual time)', () => {
	it.each([
		['Retry-After: 1', 1000],
		['no Retry-After', undefined],
	])(
		'gets 300 checks through a 20/s token bucket (%s) in at most 1.15 x N/R, with under 10%% 429s',
		async (_, retryAfterMs) => {
			for (const latencyMs of [50, 200]) {
				const run = await simulate(300, { latencyMs, perSecond: 20, burst: 20, retryAfterMs });
				expect(run.seconds).toBeLessThanOrEqual(1.15 * (300 / 20));
				expect(run.limited / run.sent).toBeLessThan(0.1);
			}
		},
	);

	it('reaches a high window within a few round trips on a server without limits, never past the ceiling', async () => {
		const run = await simulate(300, { latencyMs: 50 }, 32);
		expect(run).toMatchObject({ sent: 300, limited: 0, peak: 32 });
		// 300 / 32 = 10 round trips at the ceiling; slow start costs a few more.
		expect(run.seconds).toBeLessThanOrEqual(0.05 * 14);
		// At the default ceiling: slow start reaches 64 after 6 round trips and 104 requests (it took 7
		// and 127 growing by half, and 11 round trips in all).
		const atDefault = await simulate(300, { latencyMs: 50 });
		expect(atDefault).toMatchObject({ sent: 300, limited: 0, peak: DEFAULTS.maxInFlight });
		expect(atDefault.seconds).toBeLessThanOrEqual(0.05 * 9);
	});

	it('finds a low limit (5/s) and a high one (100/s) alike', async () => {
		const slow = await simulate(300, { latencyMs: 50, perSecond: 5, burst: 5, retryAfterMs: 1000 });
		expect(slow.seconds).toBeLessThanOrEqual(1.15 * (300 / 5));
		expect(slow.limited / slow.sent).toBeLessThan(0.1);
		const fast = await simulate(3000, {
			latencyMs: 50,
			perSecond: 100,
			burst: 100,
			retryAfterMs: 1000,
		});
		expect(fast.seconds).toBeLessThanOrEqual(1.15 * (3000 / 100));
		expect(fast.limited / fast.sent).toBeLessThan(0.1);
	});

	it("does not starve on a server in trouble at random whatever the rate (the soak's mix)", async () => {
		for (const ceiling of [32, 8]) {
			for (const seed of [1, 2, 3]) {
				const adaptive = virtualTime();
				const fixed = virtualTime();
				const run = await drive(
					1000,
					adaptive,
					createGate(ceiling, adaptive),
					noisyServer(seed),
					500,
				);
				const yardstick = await drive(
					1000,
					fixed,
					fixedWindow(ceiling, fixed),
					noisyServer(seed),
					500,
				);
				// Runs of trouble that happen by chance still cut now and then (measured 1.0 to 1.9 x the
				// fixed window); taking every 429 and time-out for a signal took up to 4.7 x.
				expect(run.seconds).toBeLessThanOrEqual(2 * yardstick.seconds);
			}
		}
	});

	it('sheds load from a server that overloads beyond 8 requests at once', async () => {
		const time = virtualTime();
		const run = await drive(600, time, createGate(DEFAULTS.maxInFlight, time), (open) => ({
			signal: open > 8 ? 'overloaded' : 'clean',
			latencyMs: 20,
		}));
		// A window held at the ceiling would never finish: every request would find others open. Halving
		// once per round trip, the window saws between 4 and 9 (600 checks at 8 at once take 1.5 s).
		expect(run.overloaded / run.sent).toBeLessThan(0.3);
		expect(run.seconds).toBeLessThanOrEqual(2 * 1.5);
	});

	it('lets requests out in the order they asked', async () => {
		const time = virtualTime();
		const gate = createGate(2, time);
		const order: number[] = [];
		const jobs = Array.from({ length: 10 }, (_, i) =>
			gate.through(async () => {
				order.push(i);
				await time.sleep(10 + (i % 3) * 7);
				return { value: i, signal: 'clean' as const };
			}),
		);
		expect(await time.run(Promise.all(jobs))).toEqual(Array.from({ length: 10 }, (_, i) => i));
		expect(order).toEqual(Array.from({ length: 10 }, (_, i) => i));
	});

	it('frees the place of a request that throws, and lets everyone through when the pause is cut short by a cancel', async () => {
		const time = virtualTime();
		const gate = createGate(1, time);
		await expect(
			time.run(gate.through(async () => Promise.reject(new Error('boom')))),
		).rejects.toThrow('boom');
		expect(
			await time.run(
				gate.through(async () => ({
					value: 'next',
					signal: 'limited' as const,
					retryAfterMs: 60_000,
				})),
			),
		).toBe('next');

		// Cool-down of a minute; a cancel makes the pause reject: the queue drains at once.
		const cancelled = createGate(1, {
			now: () => 0,
			sleep: async () => Promise.reject(new Error('canceled')),
		});
		await cancelled.through(async () => ({
			value: 0,
			signal: 'limited' as const,
			retryAfterMs: 60_000,
		}));
		const ran: number[] = [];
		await Promise.all(
			[1, 2, 3].map((i) =>
				cancelled.through(async () => (ran.push(i), { value: i, signal: 'clean' as const })),
			),
		);
		expect(ran).toEqual([1, 2, 3]);
	});
});
