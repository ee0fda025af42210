/**
 * The retry loop every request of an execution goes through, and what the execution's requests
 * share: once one item has failed for good under Stop Workflow, or CAMB.AI has rejected the key,
 * nothing more is sent. One attempt at a time goes through the host's gate (gate.ts); retryPolicy
 * decides about failures; errors come from errors.ts.
 */
import type { IExecuteFunctions } from 'n8n-workflow';

import {
	cancelledError,
	gaveUp,
	type CambError,
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
import { MAX_ANSWER_BYTES } from './readAnswer';
import {
	decideRetry,
	DEFAULT_BACKOFF,
	giveUpReason,
	isRetryableNetworkError,
	isRetryableStatus,
	type BackoffSettings,
	type GiveUp,
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
	refuse: (answer: ErrorStatus) => CambError;
	/**
	 * For a request that must not simply be sent again (an upload creates a task): the error for
	 * a failure after which it may have taken effect. Undefined leaves the failure to retryPolicy.
	 */
	mustNotRepeat?: (failed: Failed) => CambError | undefined;
}

/** After a failed attempt: wait and try again, or give up with this error. */
type Decision = { retryInMs: number } | { error: CambError };
/** What came out of one attempt's turn through the gate. */
type Turn<T> =
	| { tried: Extract<Attempt<T>, { kind: 'done' } | { kind: 'not sent' }> }
	| { tried: Failed; decision: Decision };

export interface Retrier {
	run<T>(gate: Gate, job: Job<T>): Promise<T>;
	/** CAMB.AI rejected the key (401/403): no request goes out with it again. */
	keyRejectedWith(statusCode: number, body: string): void;
	/** Item `itemIndex` failed for good under Stop Workflow: no further request is sent. */
	itemFailed(itemIndex: number): void;
}

/** What the requests of one execution share. */
interface Execution {
	ctx: IExecuteFunctions;
	settings: RetrySettings;
	backoff: BackoffSettings;
	/** Set once the run is lost (Stop Workflow): why nothing more is sent. */
	stoppedBecause?: string;
	keyRejection?: { statusCode: number; body: string };
}

/** What one request has been through. */
interface Tries {
	startedAt: number;
	state: RetryState;
	/** Attempts that failed, 429s included. */
	failed: number;
}

export function createRetrier(ctx: IExecuteFunctions, settings: RetrySettings): Retrier {
	const execution: Execution = { ctx, settings, backoff: settings.backoff ?? DEFAULT_BACKOFF };
	return {
		run: async (gate, job) => await runJob(execution, gate, job),
		keyRejectedWith: (statusCode, body) => {
			execution.keyRejection ??= { statusCode, body };
		},
		itemFailed: (itemIndex) => itemFailed(execution, itemIndex),
	};
}

function itemFailed(execution: Execution, itemIndex: number): void {
	execution.stoppedBecause ??= `an error on item ${itemIndex} stopped the run`;
}

async function runJob<T>(execution: Execution, gate: Gate, job: Job<T>): Promise<T> {
	const { ctx } = execution;
	const tries: Tries = { startedAt: Date.now(), state: { failures: 0 }, failed: 0 };
	const decide = (failed: Failed, sentAt: number) =>
		decideAfter(execution, gate, job, tries, failed, sentAt);
	for (let retry = false; ; retry = true) {
		const turn = await attempt(execution, gate, job, decide, retry);
		if ('decision' in turn) {
			if ('error' in turn.decision) throw turn.decision.error;
			if (turn.decision.retryInMs > 0)
				await pause(turn.decision.retryInMs, ctx.getExecutionCancelSignal());
			continue;
		}
		if (turn.tried.kind === 'done') return turn.tried.value;
		const { keyRejection } = execution;
		if (keyRejection) throw keyRejected(job.itemIndex, keyRejection.statusCode, keyRejection.body);
		if (isCancelled(ctx)) throw cancelledError();
		throw notChecked(job.itemIndex, execution.stoppedBecause ?? 'the execution stopped');
	}
}

/**
 * Runs one attempt through the host's gate and decides, before the gate hears the answer, whether
 * it failed for good: so under Stop Workflow no request queued behind it goes out once the run is lost.
 */
async function attempt<T>(
	execution: Execution,
	gate: Gate,
	job: Job<T>,
	decide: (failed: Failed, sentAt: number) => Decision,
	retry: boolean,
): Promise<Turn<T>> {
	const { ctx } = execution;
	return await gate.through(async (): Promise<Judged<Turn<T>>> => {
		if (execution.stoppedBecause !== undefined || execution.keyRejection || isCancelled(ctx)) {
			return { value: { tried: { kind: 'not sent' } }, signal: 'neutral' };
		}
		let tried: Attempt<T>;
		const sentAt = Date.now();
		try {
			tried = await job.send();
		} catch (error) {
			if (isCancelled(ctx)) throw cancelledError();
			tried = { kind: 'network', ...networkProblem(error) };
		}
		const load = loadOf(tried);
		if (tried.kind === 'done' || tried.kind === 'not sent') return { value: { tried }, ...load };
		const decision = decide(tried, sentAt);
		if ('error' in decision && execution.settings.stopOnFirstError)
			itemFailed(execution, job.itemIndex);
		return { value: { tried, decision }, ...load };
	}, retry);
}

/** After a failed attempt: what the policy says (retryPolicy.ts), and the error if it gives up. */
function decideAfter<T>(
	execution: Execution,
	gate: Gate,
	job: Job<T>,
	tries: Tries,
	tried: Failed,
	sentAt: number,
): Decision {
	const { settings } = execution;
	tries.failed++;
	if (tried.kind === 'oversized') {
		const problem = describe(tried);
		const { statusCode, bytes } = tried;
		return {
			error: oversizedAnswer(
				job.itemIndex,
				job.label,
				job.who,
				statusCode,
				bytes,
				MAX_ANSWER_BYTES,
				problem,
			),
		};
	}
	const unrepeatable = job.mustNotRepeat?.(tried);
	if (unrepeatable) return { error: unrepeatable };
	const decision = decideRetry(
		{
			retryable:
				tried.kind === 'network'
					? isRetryableNetworkError(tried)
					: isRetryableStatus(tried.statusCode),
			rateLimited: tried.kind === 'error status' && tried.statusCode === 429,
			serverAskedMs: tried.kind === 'error status' ? tried.retryAfterMs : undefined,
			shed:
				tried.kind === 'error status' &&
				tried.statusCode === 503 &&
				tried.retryAfterMs === undefined,
			hostAcceptedAt: gate.snapshot().acceptedAt,
			sentAt,
		},
		tries.state,
		Date.now(),
		settings.maxAttempts,
		execution.backoff,
	);
	tries.state = decision.state;
	if ('retryInMs' in decision) return { retryInMs: decision.retryInMs };
	return { error: giveUpError(job, tries, tried, decision.giveUp) };
}

/** The error a request ends with when the policy gives up on it. */
function giveUpError<T>(
	job: Job<T>,
	tries: Tries,
	tried: Exclude<Failed, { kind: 'oversized' }>,
	why: GiveUp,
): CambError {
	const problem = describe(tried);
	if (why === 'not-retryable') {
		return tried.kind === 'error status'
			? job.refuse(tried)
			: requestFailed(job.itemIndex, job.label, problem);
	}
	const last =
		tried.kind === 'network'
			? { problem, ...(tried.beforeLastByte ? { beforeLastByte: true as const } : {}) }
			: { statusCode: tried.statusCode, problem };
	// Counted as "Attempts per Check" counts them: 429s used up none.
	const attempts = Math.max(1, tries.state.failures);
	const turnedBack = tries.failed - attempts;
	const serverAsked = tried.kind === 'error status' ? tried.retryAfterMs : undefined;
	const sentence = giveUpReason(why, job.who, job.label, attempts, last, serverAsked);
	return gaveUp(job.itemIndex, job.label, last, attempts, turnedBack, tries.startedAt, sentence);
}

export function isCancelled(ctx: IExecuteFunctions): boolean {
	return ctx.getExecutionCancelSignal()?.aborted === true;
}
