/**
 * The retry loop every request of an execution goes through, and what the execution's requests
 * share: once one item has failed for good under Stop Workflow, or CAMB.AI has rejected the key,
 * nothing more is sent. One attempt at a time goes through the host's gate (gate.ts); retryPolicy
 * decides about failures; errors come from errors.ts.
 */
import type { IExecuteFunctions, NodeApiError } from 'n8n-workflow';

import {
	cancelledError,
	gaveUp,
	giveUpReason,
	keyRejected,
	notChecked,
	oversizedAnswer,
	requestFailed,
} from '../errors';
import { pause } from '../pause';
import {
	describe,
	loadOf,
	networkProblem,
	type Attempt,
	type ErrorStatus,
	type Failed,
} from './attempt';
import type { Gate, Judged } from './gate';
import {
	decideRetry,
	DEFAULT_BACKOFF,
	isRetryableNetworkError,
	isRetryableStatus,
	retryAfterMs,
	type BackoffSettings,
	type RetryState,
} from './retryPolicy';

export interface RetrySettings {
	/** Attempts per request, the first included; 429s do not use them up (see decideRetry). */
	maxAttempts: number;
	/** Under Stop Workflow: the first request that fails for good stops every request after it. */
	stopOnFirstError: boolean;
	backoff?: BackoffSettings;
}

/** One request as the loop runs it. */
export interface Job<T> {
	itemIndex: number;
	/** e.g. "GET /audio-separation/abc": names the request in messages. */
	label: string;
	/** The host, as messages name it: "CAMB.AI", "The storage host". */
	who: string;
	send: () => Promise<Attempt<T>>;
	/** Explains an answer not worth retrying (a 400, an expired link). */
	refuse: (answer: ErrorStatus) => NodeApiError;
	/**
	 * For a request that must not simply be sent again (an upload creates a task): the error for
	 * a failure after which it may have taken effect. Undefined leaves the failure to retryPolicy.
	 */
	mustNotRepeat?: (failed: Failed) => NodeApiError | undefined;
}

/** After a failed attempt: wait and try again, or give up with this error. */
type Decision = { retryInMs: number } | { error: NodeApiError };
/** What came out of one attempt's turn through the gate. */
type Turn<T> =
	| { outcome: Extract<Attempt<T>, { kind: 'done' } | { kind: 'not sent' }> }
	| { outcome: Failed; decision: Decision };

export interface Retrier {
	run<T>(gate: Gate, job: Job<T>): Promise<T>;
	/** CAMB.AI rejected the key (401/403): no request goes out with it again. */
	keyRejectedWith(statusCode: number, body: string): void;
	/** Item `itemIndex` failed for good: no further request is sent. */
	stop(itemIndex: number): void;
}

export function createRetrier(ctx: IExecuteFunctions, settings: RetrySettings): Retrier {
	const backoff = settings.backoff ?? DEFAULT_BACKOFF;
	let stoppedBecause: string | undefined;
	let keyRejection: { statusCode: number; body: string } | undefined;

	function stop(itemIndex: number): void {
		stoppedBecause ??= `an error on item ${itemIndex} stopped the run`;
	}

	/**
	 * Runs one attempt through the host's gate and decides, before the gate hears the answer, whether
	 * it failed for good: so under Stop Workflow no request queued behind it goes out once the run is lost.
	 */
	async function attempt<T>(
		gate: Gate,
		job: Job<T>,
		decide: (failed: Failed) => Decision,
	): Promise<Turn<T>> {
		return await gate.through(async (): Promise<Judged<Turn<T>>> => {
			if (stoppedBecause !== undefined || keyRejection || isCancelled(ctx)) {
				return { value: { outcome: { kind: 'not sent' } }, signal: 'neutral' };
			}
			let outcome: Attempt<T>;
			try {
				outcome = await job.send();
			} catch (error) {
				if (isCancelled(ctx)) throw cancelledError(ctx);
				outcome = { kind: 'network', ...networkProblem(error) };
			}
			const load = loadOf(outcome);
			if (outcome.kind === 'done' || outcome.kind === 'not sent')
				return { value: { outcome }, ...load };
			const decision = decide(outcome);
			if ('error' in decision && settings.stopOnFirstError) stop(job.itemIndex);
			return { value: { outcome, decision }, ...load };
		});
	}

	async function run<T>(gate: Gate, job: Job<T>): Promise<T> {
		const { itemIndex, label, who } = job;
		const startedAt = Date.now();
		let state: RetryState = { failures: 0 };
		let sent = 0;
		const decide = (outcome: Failed): Decision => {
			sent++;
			const problem = describe(outcome);
			if (outcome.kind === 'oversized') {
				return {
					error: oversizedAnswer(
						ctx,
						itemIndex,
						label,
						who,
						outcome.statusCode,
						outcome.bytes,
						problem,
					),
				};
			}
			const unrepeatable = job.mustNotRepeat?.(outcome);
			if (unrepeatable) return { error: unrepeatable };
			const serverAsked =
				outcome.kind === 'error status' ? retryAfterMs(outcome.headers, Date.now()) : undefined;
			const retryable =
				outcome.kind === 'network'
					? isRetryableNetworkError(outcome)
					: isRetryableStatus(outcome.statusCode);
			const rateLimited = outcome.kind === 'error status' && outcome.statusCode === 429;
			const decision = decideRetry(
				{
					retryable,
					rateLimited,
					serverAskedMs: serverAsked,
					hostAcceptedAt: gate.snapshot().acceptedAt,
				},
				state,
				Date.now(),
				settings.maxAttempts,
				backoff,
			);
			state = decision.state;
			if ('retryInMs' in decision) return { retryInMs: decision.retryInMs };
			if (decision.giveUp === 'not-retryable') {
				return {
					error:
						outcome.kind === 'error status'
							? job.refuse(outcome)
							: requestFailed(ctx, itemIndex, label, problem),
				};
			}
			const last =
				outcome.kind === 'network'
					? { problem, ...(outcome.beforeLastByte ? { beforeLastByte: true as const } : {}) }
					: { statusCode: outcome.statusCode, problem };
			// Counted as "Attempts per Check" counts them: 429s used up none.
			const attempts = Math.max(1, decision.state.failures);
			const turnedBack = sent - attempts;
			const why = giveUpReason(decision.giveUp, who, label, attempts, last, serverAsked);
			return { error: gaveUp(ctx, itemIndex, label, last, attempts, turnedBack, startedAt, why) };
		};

		for (;;) {
			const turn = await attempt(gate, job, decide);
			if ('decision' in turn) {
				if ('error' in turn.decision) throw turn.decision.error;
				if (turn.decision.retryInMs > 0)
					await pause(turn.decision.retryInMs, ctx.getExecutionCancelSignal());
				continue;
			}
			if (turn.outcome.kind === 'done') return turn.outcome.value;
			if (keyRejection)
				throw keyRejected(ctx, itemIndex, keyRejection.statusCode, keyRejection.body);
			if (isCancelled(ctx)) throw cancelledError(ctx);
			throw notChecked(ctx, itemIndex, stoppedBecause ?? 'the execution stopped');
		}
	}

	return {
		run,
		keyRejectedWith: (statusCode, body) => {
			keyRejection ??= { statusCode, body };
		},
		stop,
	};
}

export function isCancelled(ctx: IExecuteFunctions): boolean {
	return ctx.getExecutionCancelSignal()?.aborted === true;
}
