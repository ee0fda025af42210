/**
 * The controller against a server that sheds load (503 at once, without Retry-After, beyond a
 * number of requests in service) and a noisy one (a few 503s at random), and its slow start on a
 * free server: in virtual time, with the retry loop's own decisions (decideRetry: attempts and
 * pauses) and the load signal the node reads from each answer (loadOf), so a change in either
 * shows here.
 */
import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { loadOf } from '../../nodes/shared/transport/attempt';
import { createGate } from '../../nodes/shared/transport/gate';
import { RateControl } from '../../nodes/shared/transport/rateControl';
import { decideRetry, type RetryState } from '../../nodes/shared/transport/retryPolicy';
import { mulberry32 } from '../fixtures/random';
import { virtualTime } from '../fixtures/virtualTime';

/** What the simulated server answers one request: a status (and a Retry-After), after a delay. */
interface SimReply {
	statusCode: number;
	latencyMs: number;
	retryAfterMs?: number;
}

/**
 * `items` checks through one gate at the default ceiling, in virtual time, each retried as the
 * node retries it (decideRetry with the default Attempts per Check, seeded jitter) until it is
 * answered 200 or the policy gives up. `serve` sees how many requests the server has in service.
 * `cpu`: what n8n spends building each request before it goes out and handling each answer, on
 * one event loop that does one thing at a time, first come first served (an answer's place in the
 * window is free once it is handled).
 */
async function run(
	items: number,
	serve: (inService: number) => SimReply,
	seed = 1,
	cpu = { sendMs: 0, answerMs: 0 },
) {
	const time = virtualTime();
	let loopFreeAt = 0;
	/** Waits for the event loop, then keeps it busy for `ms`. */
	const busy = async (ms: number) => {
		if (ms === 0) return;
		loopFreeAt = Math.max(time.now(), loopFreeAt) + ms;
		await time.sleep(loopFreeAt - time.now());
	};
	const gate = createGate(DEFAULTS.maxInFlight, time);
	const random = mulberry32(seed);
	let sent = 0;
	let turnedBack = 0;
	let lost = 0;
	let inService = 0;
	const check = async (): Promise<void> => {
		let state: RetryState = { failures: 0 };
		for (let retry = false; ; retry = true) {
			let sentAt = 0;
			const reply = await gate.through(async () => {
				await busy(cpu.sendMs);
				sentAt = time.now();
				sent++;
				const answer = serve(inService);
				// A request turned back at once never takes a place in service.
				const served = answer.statusCode === 200 ? 1 : 0;
				inService += served;
				await time.sleep(answer.latencyMs);
				inService -= served;
				await busy(cpu.answerMs);
				const tried =
					answer.statusCode === 200
						? { kind: 'done' as const, value: 200, statusCode: 200 }
						: {
								kind: 'error status' as const,
								statusCode: answer.statusCode,
								body: '',
								retryAfterMs: answer.retryAfterMs,
							};
				return { value: answer, ...loadOf(tried) };
			}, retry);
			if (reply.statusCode === 200) return;
			turnedBack++;
			const decision = decideRetry(
				{
					retryable: true,
					rateLimited: reply.statusCode === 429,
					serverAskedMs: reply.retryAfterMs,
					shed: reply.statusCode === 503 && reply.retryAfterMs === undefined,
					hostAcceptedAt: gate.snapshot().acceptedAt,
					sentAt,
				},
				state,
				time.now(),
				DEFAULTS.attempts,
				undefined,
				random,
			);
			if ('giveUp' in decision) return void lost++;
			state = decision.state;
			if (decision.retryInMs > 0) await time.sleep(decision.retryInMs);
		}
	};
	await time.run(Promise.all(Array.from({ length: items }, check)));
	return { seconds: time.now() / 1000, sent, turnedBack, lost };
}

const LATENCY_MS = 50;
const N = 300;
/** A server without limits. */
const free = (): SimReply => ({ statusCode: 200, latencyMs: LATENCY_MS });
/** At most `limit` requests in service; one more gets 503 at once, without Retry-After. */
const shedding =
	(limit: number) =>
	(inService: number): SimReply =>
		inService >= limit ? { statusCode: 503, latencyMs: 0 } : free();

describe('slow start on a free server', () => {
	it('gets 300 checks through at the default of 64 in flight in nine round trips (it took eleven growing by half all along)', async () => {
		const result = await run(N, free);
		expect(result).toMatchObject({ sent: N, turnedBack: 0, lost: 0 });
		// 300 / 64 = 4.7 round trips at the ceiling; slow start (4, 8, 16, 24, 36, 54, 64) costs four more.
		expect(result.seconds).toBeLessThanOrEqual((9 * LATENCY_MS) / 1000);
	});

	it('doubles the window per round trip up to 16, then grows it by half', () => {
		const control = new RateControl({ ceiling: 64 });
		const windows: number[] = [];
		for (let round = 0, now = 0; round < 7; round++, now += 50) {
			const tickets: ReturnType<RateControl['send']>[] = [];
			while (control.readiness(now, tickets.length).ready) tickets.push(control.send(now));
			windows.push(tickets.length);
			for (const ticket of tickets) control.answered(ticket, 'clean', now + 50);
		}
		expect(windows).toEqual([4, 8, 16, 24, 36, 54, 64]);
	});
});

describe('a server that sheds load (503 at once beyond its limit, no Retry-After)', () => {
	it.each([8, 4, 16])(
		'gets 300 of 300 through a limit of %i in at most 1.5 x N x latency / limit, under 10%% turned back',
		async (limit) => {
			const result = await run(N, shedding(limit));
			expect(result.lost).toBe(0);
			expect(result.seconds).toBeLessThanOrEqual((1.5 * N * LATENCY_MS) / 1000 / limit);
			expect(result.turnedBack / result.sent).toBeLessThan(0.1);
		},
	);

	it.each([8, 16])(
		'keeps to 1.5 x N x latency / %i, under 10%% turned back, when n8n spends 1 ms on each request and 2 ms on each answer, one thing at a time',
		async (limit) => {
			const result = await run(N, shedding(limit), 1, { sendMs: 1, answerMs: 2 });
			expect(result.lost).toBe(0);
			expect(result.seconds).toBeLessThanOrEqual((1.5 * N * LATENCY_MS) / 1000 / limit);
			expect(result.turnedBack / result.sent).toBeLessThan(0.1);
		},
	);

	it("lets retries out, in their order, ahead of the first attempts waiting at the gate, so a request turned back is not the run's tail", async () => {
		const time = virtualTime();
		const gate = createGate(1, time);
		const order: string[] = [];
		let release = (): void => {};
		const held = new Promise<void>((resolve) => (release = resolve));
		const go = (name: string, retry?: boolean, wait?: Promise<void>) =>
			gate.through(async () => {
				order.push(name);
				await wait;
				return { value: name, signal: 'clean' as const };
			}, retry);
		const all = Promise.all([
			go('first', false, held),
			go('b'),
			go('c'),
			go('retry of a', true),
			go('retry of z', true),
		]);
		await time.run(Promise.resolve());
		expect(order).toEqual(['first']);
		release();
		await time.run(all);
		expect(order).toEqual(['first', 'retry of a', 'retry of z', 'b', 'c']);
	});

	it('reads a 503 without Retry-After as shed load, and one with it as overload', () => {
		const answer = (retryAfterMs?: number) =>
			loadOf({ kind: 'error status', statusCode: 503, body: '', retryAfterMs });
		expect(answer()).toEqual({ signal: 'shed', retryAfterMs: undefined });
		expect(answer(2000)).toEqual({ signal: 'overloaded', retryAfterMs: 2000 });
	});

	it('drops the window to the fewest requests in flight when one was shed, and probes above it one request per eight round trips', () => {
		const control = new RateControl({ ceiling: 64 });
		// Clean answers up to a window of 16, as slow start would.
		for (let i = 0; i < 12; i++) control.answered(control.send(0, 0), 'clean', 10);
		expect(control.snapshot().window).toBe(16);
		// 16 go out at once; the server holds 8: the ninth and after are shed.
		const tickets = Array.from({ length: 16 }, (_, i) => control.send(100, i));
		for (const ticket of tickets.slice(8, 11)) control.answered(ticket, 'shed', 101);
		expect(control.snapshot().window).toBe(8);
		// Answers to requests sent before the cut: no second cut.
		for (const ticket of tickets.slice(11)) control.answered(ticket, 'shed', 102);
		expect(control.snapshot().window).toBe(8);
		// Eight round trips of clean answers at 8 in flight: one more request, not eight.
		let now = 150;
		for (let round = 0; round < 8; round++, now += 50)
			for (let i = 0; i < 8; i++) control.answered(control.send(now, i), 'clean', now + 50);
		expect(control.snapshot().window).toBeGreaterThan(8.9);
		expect(control.snapshot().window).toBeLessThan(9.1);
	});

	it('spreads its requests over the quickest round trip once a server sheds, and sends at once again when it stops', () => {
		const control = new RateControl({ ceiling: 64 });
		// Clean answers in 50 ms (the quickest), up to a window of 16: a burst goes out at once.
		for (let i = 0; i < 12; i++) control.answered(control.send(0, 0), 'clean', 50);
		const tickets = Array.from({ length: 16 }, (_, i) => {
			expect(control.readiness(100, i)).toEqual({ ready: true });
			return control.send(100, i);
		});
		for (const ticket of tickets.slice(8, 11)) control.answered(ticket, 'shed', 101);
		expect(control.snapshot().window).toBe(8);
		// Window 8 over 50 ms: one request every 6.25 ms, however many places are free.
		control.send(110, 0);
		expect(control.readiness(110, 1)).toEqual({ ready: false, waitMs: 7 });
		expect(control.readiness(116.25, 1)).toEqual({ ready: true });
		control.send(116.25, 1);
		expect(control.readiness(120, 2)).toEqual({ ready: false, waitMs: 3 });
		// Ten seconds after the last shed cut the server is taken to shed no more: no spacing.
		expect(control.readiness(10_200, 2)).toEqual({ ready: true });
		control.send(10_200, 2);
		expect(control.readiness(10_200, 3)).toEqual({ ready: true });
	});

	it('takes a 503 that took as long as an answer for trouble at random: it takes six of the last twenty to halve the window', () => {
		const control = new RateControl({ ceiling: 64 });
		// Clean answers in 50 ms, up to a window of 16.
		for (let i = 0; i < 12; i++) control.answered(control.send(0, 0), 'clean', 50);
		const tickets = Array.from({ length: 16 }, (_, i) => control.send(100, i));
		for (const i of [2, 5, 7, 9, 11]) control.answered(tickets[i], 'shed', 150);
		expect(control.snapshot().window).toBe(16);
		control.answered(tickets[13], 'shed', 150);
		expect(control.snapshot().window).toBe(8);
		// Not read as a shedding server: no slow probing above the new window.
		let now = 200;
		for (let round = 0; round < 2; round++, now += 50)
			for (let i = 0; i < 8; i++) control.answered(control.send(now, i), 'clean', now + 50);
		expect(control.snapshot().window).toBeGreaterThan(9.5);
	});
});

describe('a noisy server (3% of answers 503 at random, no Retry-After)', () => {
	it.each([1, 2, 3, 4, 5])(
		'gets 300 of 300 through within 1.3 x the time without noise (seed %i)',
		async (seed) => {
			const quiet = await run(N, free);
			const random = mulberry32(seed * 7919);
			const noisy = await run(
				N,
				() => (random() < 0.03 ? { statusCode: 503, latencyMs: LATENCY_MS } : free()),
				seed,
			);
			expect(noisy.lost).toBe(0);
			expect(noisy.seconds).toBeLessThanOrEqual(1.3 * quiet.seconds);
		},
	);
});
