/**
 * The rate controller's decisions, with the time passed in: growth, cut, cool-down, ceiling and
 * recovery once a limit lifts. The gate around it is driven in virtual time against a model of a
 * rate-limited server (a token bucket), so whole batches run in milliseconds, the same every time.
 */
import { createGate } from '../../nodes/shared/transport/gate';
import {
	DEFAULT_COOL_DOWN_MS,
	INITIAL_WINDOW,
	RateControl,
	type Ticket,
} from '../../nodes/shared/transport/rateControl';
import { virtualTime } from '../fixtures/virtualTime';

/** Sends as many requests as the controller allows at `now`, returning their tickets. */
function sendAll(control: RateControl, now: number, inFlight: number): Ticket[] {
	const tickets: Ticket[] = [];
	while (control.readiness(now, inFlight + tickets.length).ready) tickets.push(control.send(now));
	return tickets;
}

describe('RateControl', () => {
	it('starts with a small window and grows it by half every clean round trip, up to the ceiling', () => {
		const control = new RateControl({ ceiling: 32 });
		const windows: number[] = [];
		for (let round = 0, now = 0; round < 8; round++, now += 50) {
			const tickets = sendAll(control, now, 0);
			windows.push(tickets.length);
			for (const ticket of tickets) control.answered(ticket, 'clean', now + 50);
		}
		expect(windows[0]).toBe(INITIAL_WINDOW);
		expect(windows).toEqual([4, 6, 9, 13, 20, 30, 32, 32]);
		expect(control.snapshot().rate).toBeUndefined();
	});

	it('never lets more than the ceiling out, however clean the answers', () => {
		const control = new RateControl({ ceiling: 3 });
		for (let i = 0; i < 100; i++) control.answered(control.send(0), 'clean', 1);
		expect(sendAll(control, 2, 0)).toHaveLength(3);
		expect(control.readiness(2, 3)).toEqual({ ready: false, untilAnswer: true });
	});

	it('halves the window on a 429, paces at what the server accepted, and cuts once per round', () => {
		const control = new RateControl({ ceiling: 64 });
		// 40 clean answers over 2 s: the server accepts 20 a second.
		for (let i = 0; i < 40; i++) control.answered(control.send(i * 50), 'clean', i * 50 + 10);
		const before = control.snapshot().window;
		const late = [control.send(2000), control.send(2000), control.send(2000)];
		control.answered(late[0], 'limited', 2010);
		const cut = control.snapshot();
		expect(cut.window).toBe(Math.max(1, Math.floor(before / 2)));
		expect(cut.rate).toBeCloseTo(0.9 * 20, 0);
		// Requests sent before the cut were part of the same burst: no second cut.
		control.answered(late[1], 'limited', 2020);
		control.answered(late[2], 'overloaded', 2030);
		expect(control.snapshot()).toMatchObject({ window: cut.window, rate: cut.rate });
		// A request sent after the cut that is limited again: a new cut.
		const after = control.send(3100);
		control.answered(after, 'limited', 3110);
		expect(control.snapshot().window).toBe(Math.max(1, Math.floor(cut.window / 2)));
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
		control.answered(control.send(1000), 'limited', 1000, 0);
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
		});
	});

	it('recovers once the limit lifts: grows fast again and stops pacing', () => {
		const control = new RateControl({ ceiling: 32 });
		for (let i = 0; i < 20; i++) control.answered(control.send(i * 50), 'clean', i * 50 + 10);
		control.answered(control.send(1000), 'limited', 1000, 1000);
		expect(control.snapshot().rate).toBeDefined();
		// From now on every answer is clean, as fast as the pace and the window allow.
		let now = 2000;
		let inFlight: Array<{ ticket: Ticket; due: number }> = [];
		while (control.snapshot().rate !== undefined && now < 60_000) {
			for (const { ticket } of inFlight.filter((request) => request.due <= now))
				control.answered(ticket, 'clean', now);
			inFlight = inFlight.filter((request) => request.due > now);
			for (const ticket of sendAll(control, now, inFlight.length))
				inFlight.push({ ticket, due: now + 50 });
			now += 5;
		}
		expect(control.snapshot().rate).toBeUndefined();
		// Slow start again after 10 s without trouble: well under a minute to drop the pace.
		expect(now).toBeLessThan(30_000);
		expect(control.snapshot().window).toBe(32);
	});
});

/** A server with a token bucket: `perSecond` requests a second, bursts up to `burst`, 429 beyond. */
async function simulate(
	items: number,
	server: { latencyMs: number; perSecond?: number; burst?: number; retryAfterMs?: number },
	ceiling = 32,
) {
	const time = virtualTime();
	const gate = createGate(ceiling, time);
	let tokens = server.burst ?? 0;
	let refilledAt = 0;
	let limited = 0;
	let sent = 0;
	let open = 0;
	let peak = 0;
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
	const check = async (): Promise<void> => {
		for (;;) {
			const accepted = await gate.through(async () => {
				sent++;
				peak = Math.max(peak, ++open);
				const ok = take();
				await time.sleep(server.latencyMs);
				open--;
				if (ok) return { value: true, signal: 'clean' as const };
				limited++;
				return { value: false, signal: 'limited' as const, retryAfterMs: server.retryAfterMs };
			});
			if (accepted) return;
		}
	};
	await time.run(Promise.all(Array.from({ length: items }, check)));
	return { seconds: time.now() / 1000, sent, limited, peak };
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
