/**
 * The soak's batches (soak.ts): items and their task scripts per execution, the plan of batch
 * sizes, and the outcome the README's rules expect for each item.
 */

import {
	Meaning,
	NOT_RETRYABLE_REASONS,
	ScriptedReply,
	batchRandom,
	int,
	pendingReply,
	pick,
	randomReply,
} from './soakReplies';

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

export type Mode = 'plain' | 'wait';

export interface BatchConfig {
	mode: Mode;
	maxInFlight: number;
	attempts: number;
	notFoundAsPending: boolean;
	unknownStatusAsPending: boolean;
	/** Wait mode only. */
	maxWaitSeconds: number;
}

export interface TaskScript {
	index: number;
	taskId: string;
	replies: ScriptedReply[];
	/** check_count / pending_since the item brings from an earlier pass of a loop, if any. */
	carried?: { checkCount: number; pendingSince: string };
}

export interface Batch {
	seed: number;
	number: number;
	config: BatchConfig;
	tasks: TaskScript[];
}

/** Characters that must stay inside one encoded path segment. Never at the ends (the node trims ids). */
const ID_EXTRAS = ['/', '?', '#', '%', ' x', 'é', '☃', '+', '&', '..', '%2F', '\\', ';', '"'];

export function makeBatch(
	seed: number,
	number: number,
	size: number,
	mode: Mode,
	maxInFlight: number,
): Batch {
	const rng = batchRandom(seed, number);
	const config: BatchConfig = {
		mode,
		maxInFlight,
		attempts: int(rng, 2, 3),
		notFoundAsPending: rng() < 0.25,
		unknownStatusAsPending: rng() < 0.25,
		maxWaitSeconds: int(rng, 1, 2),
	};
	const tasks: TaskScript[] = [];
	for (let index = 0; index < size; index++) {
		const taskId = `s${seed}b${number}i${index}${rng() < 0.25 ? `${pick(rng, ID_EXTRAS)}z` : ''}`;
		const length = mode === 'plain' ? int(rng, 1, 4) : int(rng, 1, 6);
		// While waiting, tasks should mostly be pending for a while before their last answer.
		const replies = Array.from({ length }, (_, i) =>
			mode === 'wait' && i < length - 1 && rng() < 0.5 ? pendingReply(rng) : randomReply(rng),
		);
		// The last reply repeats for ever. In plain mode a 429 uses up no attempt, so a script ending
		// on one would be retried for the whole rate-limit patience (a minute): end it on an answer.
		if (mode === 'plain') {
			while (replies[length - 1].meaning.kind === 'rate-limited')
				replies[length - 1] = randomReply(rng);
		}
		const carried =
			rng() < 0.1
				? {
						checkCount: int(rng, 1, 20),
						pendingSince: new Date(Date.UTC(2026, 10, 1) + int(rng, 0, 1e9)).toISOString(),
					}
				: undefined;
		tasks.push({ index, taskId, replies, carried });
	}
	return { seed, number, config, tasks };
}

interface PlanEntry {
	mode: Mode;
	maxInFlight: number;
	size: number;
}

/** Batch sizes per (mode, request cap): big batches where the cap is high, small ones at cap 1. */
export const CLI_SIZES: Record<Mode, Record<number, number>> = {
	plain: { 32: 1500, 8: 400, 1: 60 },
	wait: { 32: 1000, 8: 250, 1: 25 },
};
export const CI_SIZES: Record<Mode, Record<number, number>> = {
	plain: { 32: 300, 8: 80, 1: 20 },
	wait: { 32: 200, 8: 60, 1: 10 },
};

/** Round-robin over plain/wait x cap 32/8/1 until `items` items are planned; every combination at least once. */
export function plan(items: number, sizes: Record<Mode, Record<number, number>>): PlanEntry[] {
	const order: Array<[Mode, number]> = [
		['plain', 32],
		['wait', 32],
		['plain', 8],
		['wait', 8],
		['plain', 1],
		['wait', 1],
	];
	const entries: PlanEntry[] = [];
	let planned = 0;
	for (let i = 0; planned < items || i < order.length; i++) {
		const [mode, maxInFlight] = order[i % order.length];
		const size = Math.max(1, Math.min(sizes[mode][maxInFlight], items - planned));
		entries.push({ mode, maxInFlight, size });
		planned += size;
	}
	return entries;
}

// ---------------------------------------------------------------------------------------------
// The expected outcome of one item
// ---------------------------------------------------------------------------------------------

export type Route = 'success' | 'pending' | 'failure' | 'error';
export const ROUTES: readonly Route[] = ['success', 'pending', 'failure', 'error'];

export interface Expected {
	route: Route;
	/** Non-error routes. */
	status?: string;
	reason?: string;
	retryable?: boolean;
	runId?: number;
	/** Status checks in this execution (replies that were a status or a 404). */
	checks: number;
	/** Whether any check in this execution had a pending verdict. */
	sawPending: boolean;
	/** Error route: which error. */
	error?: 'unreachable' | 'not-a-status' | 'refused';
	/** For 'refused': the HTTP status the error must name. */
	httpStatus?: number;
}

interface Verdict {
	route: 'success' | 'pending' | 'failure';
	status: string;
	reason?: string;
	retryable?: boolean;
	runId?: number;
}

/** The README's status table. */
export function verdictOf(
	meaning: Extract<Meaning, { kind: 'status' | 'not-found' | 'rejected-id' }>,
	config: BatchConfig,
): Verdict {
	if (meaning.kind === 'rejected-id')
		return {
			route: 'failure',
			status: 'INVALID_TASK_ID',
			reason: 'INVALID_TASK_ID',
			retryable: false,
		};
	if (meaning.kind === 'not-found') {
		return config.notFoundAsPending
			? { route: 'pending', status: 'NOT_FOUND' }
			: { route: 'failure', status: 'NOT_FOUND', reason: 'TASK_NOT_FOUND', retryable: false };
	}
	const status = meaning.status.toUpperCase();
	const runId = meaning.runId;
	switch (status) {
		case 'SUCCESS':
			return { route: 'success', status, runId };
		case 'PENDING':
			return { route: 'pending', status, runId };
		case 'ERROR': {
			const given = meaning.exceptionReason?.toUpperCase();
			const reason = given && given !== 'NONE' ? given : 'ERROR';
			return {
				route: 'failure',
				status,
				runId,
				reason,
				retryable: !NOT_RETRYABLE_REASONS.has(reason),
			};
		}
		case 'TIMEOUT':
		case 'PAYMENT_REQUIRED':
			return { route: 'failure', status, runId, reason: status, retryable: false };
		default:
			return config.unknownStatusAsPending
				? { route: 'pending', status, runId }
				: { route: 'failure', status, runId, reason: 'UNKNOWN_STATUS', retryable: false };
	}
}

/** Is this reply retried by the request loop in this mode? (429 is, unless the node is waiting.) */
export function retried(meaning: Meaning, mode: Mode): boolean {
	return meaning.kind === 'transient' || (meaning.kind === 'rate-limited' && mode === 'plain');
}

/**
 * Plain mode is deterministic: the number of requests a task gets, and its outcome, follow from
 * its script alone.
 */
export function expectPlain(
	replies: ScriptedReply[],
	config: BatchConfig,
): { expected: Expected; requests: number } {
	let failures = 0;
	for (let i = 0; ; i++) {
		const { meaning } = replies[Math.min(i, replies.length - 1)];
		// README: a 429 uses up no attempt (a plain script never ends on one, see makeBatch).
		if (meaning.kind === 'rate-limited') {
			if (i >= replies.length - 1)
				throw new Error('a plain script that ends on a 429 has no outcome within the soak');
			continue;
		}
		if (retried(meaning, 'plain')) {
			failures++;
			if (failures >= config.attempts)
				return {
					expected: { route: 'error', error: 'unreachable', checks: 0, sawPending: false },
					requests: i + 1,
				};
			continue;
		}
		if (meaning.kind === 'invalid')
			return {
				expected: { route: 'error', error: 'not-a-status', checks: 0, sawPending: false },
				requests: i + 1,
			};
		if (meaning.kind === 'refused') {
			return {
				expected: {
					route: 'error',
					error: 'refused',
					httpStatus: meaning.httpStatus,
					checks: 0,
					sawPending: false,
				},
				requests: i + 1,
			};
		}
		if (meaning.kind === 'transient') throw new Error('unreachable: retried above');
		const verdict = verdictOf(meaning, config);
		return {
			expected: { ...verdict, checks: 1, sawPending: verdict.route === 'pending' },
			requests: i + 1,
		};
	}
}

/**
 * Wait mode depends on the clock (how many checks fit into Max Wait), so the served sequence is
 * taken as given and checked against the rules: every reply but the last must have let the node
 * go on (pending, 429, or a failure with attempts left), and the last decides the outcome.
 * Returns the expected outcome, or why the sequence is impossible under the rules.
 */
export function expectWait(
	served: ScriptedReply[],
	config: BatchConfig,
): Expected | { impossible: string } {
	if (served.length === 0) return { impossible: 'no request was sent for this task' };
	let failedInARow = 0;
	let checks = 0;
	let sawPending = false;
	let lastPending: Verdict | undefined;
	for (let i = 0; i < served.length; i++) {
		const { meaning } = served[i];
		const last = i === served.length - 1;
		const where = `request ${i + 1} of ${served.length} (${meaning.label})`;
		if (meaning.kind === 'transient') {
			failedInARow++;
			if (failedInARow >= config.attempts) {
				return last
					? { route: 'error', error: 'unreachable', checks, sawPending }
					: { impossible: `${where}: a request after the attempts ran out` };
			}
			if (last) return { impossible: `${where}: no retry after a failure with attempts left` };
			continue;
		}
		failedInARow = 0;
		if (meaning.kind === 'rate-limited') {
			if (last) {
				const verdict = lastPending ?? { route: 'pending' as const, status: 'RATE_LIMITED' };
				return { ...verdict, checks, sawPending };
			}
			continue;
		}
		if (meaning.kind === 'invalid') {
			return last
				? { route: 'error', error: 'not-a-status', checks, sawPending }
				: { impossible: `${where}: a request after an answer that is no status` };
		}
		if (meaning.kind === 'refused') {
			return last
				? { route: 'error', error: 'refused', httpStatus: meaning.httpStatus, checks, sawPending }
				: { impossible: `${where}: a request after an answer no retry would change` };
		}
		const verdict = verdictOf(meaning, config);
		checks++;
		if (verdict.route === 'pending') {
			sawPending = true;
			lastPending = verdict;
			if (last) return { ...verdict, checks, sawPending };
			continue;
		}
		return last
			? { ...verdict, checks, sawPending }
			: { impossible: `${where}: a request after a final status` };
	}
	return { impossible: 'unreachable' };
}
