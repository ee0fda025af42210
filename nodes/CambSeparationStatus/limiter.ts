/**
 * Caps how many requests are in flight at once across all items of one execution.
 * Callers queue in the order they ask, so earlier items are served first.
 */
export type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

export function createLimiter(maxInFlight: number): Limiter {
	const limit = Math.max(1, Math.floor(maxInFlight));
	let running = 0;
	const waiting: Array<() => void> = [];

	// A finishing task hands its slot straight to the next waiter, so no newcomer can slip in between.
	const release = () => {
		const next = waiting.shift();
		if (next) next();
		else running--;
	};

	return async <T>(task: () => Promise<T>): Promise<T> => {
		if (running < limit) running++;
		else await new Promise<void>((resolve) => waiting.push(resolve));
		try {
			return await task();
		} finally {
			release();
		}
	};
}
