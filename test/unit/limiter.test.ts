import { createLimiter } from '../../nodes/CambSeparationStatus/limiter';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createLimiter', () => {
	it('never runs more than the limit at once, and serves callers in order', async () => {
		const limit = createLimiter(3);
		let running = 0;
		let peak = 0;
		const started: number[] = [];
		const jobs = Array.from({ length: 20 }, (_, i) =>
			limit(async () => {
				started.push(i);
				running++;
				peak = Math.max(peak, running);
				for (let t = 0; t < (i % 4) + 1; t++) await tick();
				running--;
				return i;
			}),
		);
		// A newcomer arriving while slots are being handed over must not overtake the queue.
		await tick();
		jobs.push(limit(async () => (started.push(99), 99)));
		expect(await Promise.all(jobs)).toEqual([...Array.from({ length: 20 }, (_, i) => i), 99]);
		expect(peak).toBe(3);
		expect(started).toEqual([...Array.from({ length: 20 }, (_, i) => i), 99]);
	});

	it('frees the slot when a task throws', async () => {
		const limit = createLimiter(1);
		await expect(limit(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
		expect(await limit(async () => 'next')).toBe('next');
	});

	it('treats a limit below one as one', async () => {
		const limit = createLimiter(0);
		let running = 0;
		let peak = 0;
		await Promise.all(
			[1, 2, 3].map(() =>
				limit(async () => {
					peak = Math.max(peak, ++running);
					await tick();
					running--;
				}),
			),
		);
		expect(peak).toBe(1);
	});
});
