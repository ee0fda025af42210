/**
 * Randomised soak of the Camb Separation Status node: many items, checked by the node inside
 * n8n's real engine (n8n-core, in-process) against the CAMB stand-in, which answers every task
 * with its own seeded random sequence of good answers, odd answers and faults.
 *
 * For every item the expected outcome is worked out from the script and the README's rules, not
 * from the node's code: the verdict of the last reply the stand-in served for that task (the i-th
 * request of a task gets replies[i], the last one repeats), or an error on n8n's error output when
 * the attempts ran out or the answer was no status at all. Then it counts what went wrong:
 *
 *   lost        input items that left on no output
 *   duplicated  output items beyond one per input item
 *   misrouted   items on the wrong output, with wrong fields, a wrong pairedItem, an error that
 *               names another item, or a task that got more or fewer requests than the rules allow
 *   leaked      places where the API key showed up: output items, errors, run data, request paths
 *               or bodies, requests without TLS to anything but the stand-in
 *   slow        executions (or items) that took longer than timeouts x attempts + waits allow
 *
 * The same seed gives the same scripts, so a failure can be replayed with --seed (timing, and so
 * how often a waiting task is checked, still varies a little from run to run).
 */
import type { INodeExecutionData, INodeParameters } from 'n8n-workflow';

import { DEFAULT_COOL_DOWN_MS, INITIAL_WINDOW } from '../../nodes/shared/transport/rateControl';
import { API_KEY, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import { mulberry32 } from '../fixtures/random';
import {
	sendTime,
	taskStatusPath,
	type RecordedRequest,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

/** Each batch gets its own stream, so one batch can be replayed without the ones before it. */
export function batchRandom(seed: number, batch: number): () => number {
	return mulberry32((seed ^ Math.imul(batch + 1, 0x9e3779b9)) >>> 0);
}

const pick = <T>(rng: () => number, list: readonly T[]): T => list[Math.floor(rng() * list.length)];
const int = (rng: () => number, min: number, max: number) =>
	min + Math.floor(rng() * (max - min + 1));

function weighted<T>(rng: () => number, entries: ReadonlyArray<readonly [number, T]>): T {
	const total = entries.reduce((sum, [weight]) => sum + weight, 0);
	let at = rng() * total;
	for (const [weight, value] of entries) {
		if (at < weight) return value;
		at -= weight;
	}
	return entries[entries.length - 1][1];
}

// ---------------------------------------------------------------------------------------------
// Scripted replies and what each one means (by the README, not by the node's code)
// ---------------------------------------------------------------------------------------------

/** What a reply is, as far as the node's documented rules go. */
export type Meaning =
	/** 5xx, a dropped connection, a request that never answers or a body that stops halfway: retried. */
	| { kind: 'transient'; label: string; slow: boolean; retryAfterMs?: number }
	/** 429: retried like a transient failure, except while waiting, where it only slows the task down. */
	| { kind: 'rate-limited'; label: string; retryAfterMs?: number }
	/** A 200 that is no status (HTML, broken JSON, JSON without status): an error for the item. */
	| { kind: 'invalid'; label: string }
	/** An answer no retry would change (400, 410, a redirect, which is never followed): an error for the item at once. */
	| { kind: 'refused'; label: string; httpStatus: number }
	/** A task status answer: SUCCESS, PENDING, ... in either shape, or a 404. */
	| {
			kind: 'status';
			label: string;
			status: string;
			exceptionReason?: string | null;
			runId?: number;
	  }
	| { kind: 'not-found'; label: string }
	/** 422: CAMB rejected the id as malformed. */
	| { kind: 'rejected-id'; label: string };

export interface ScriptedReply {
	reply: Reply;
	meaning: Meaning;
}

const UNKNOWN_STATUSES = ['RUNNING', 'QUEUED', 'CANCELLED', 'SUCCEEDED', 'in_progress'];
/** exception_reason values the README is unambiguous about: the first two are retryable, the rest not. */
const REASONS = [
	'PROCESSING_ERROR',
	'INTERNAL_ERROR',
	'SOURCE_TOO_LARGE',
	'source_too_long',
	'HARMFUL_CONTENT_DETECTED',
	'PAYMENT_REQUIRED',
];
/** README: "true, except for reasons where the same file fails again (harmful content, source too long/large/unsupported/invalid, codec mismatch, payment, forbidden)". */
const NOT_RETRYABLE_REASONS = new Set([
	'SOURCE_TOO_LARGE',
	'SOURCE_TOO_LONG',
	'HARMFUL_CONTENT_DETECTED',
	'PAYMENT_REQUIRED',
]);

function caseVariant(rng: () => number, status: string): string {
	const r = rng();
	if (r < 0.6) return status;
	if (r < 0.85) return status.toLowerCase();
	return status.charAt(0) + status.slice(1).toLowerCase();
}

/** A status answer, as a bare JSON string or an object; ERROR objects carry an exception_reason. */
function statusReply(rng: () => number, status: string): ScriptedReply {
	const text = caseVariant(rng, status);
	if (rng() < 0.4)
		return { reply: { json: text }, meaning: { kind: 'status', label: `"${text}"`, status: text } };
	const upper = status.toUpperCase();
	const runId = upper === 'SUCCESS' || rng() < 0.2 ? int(rng, 0, 1_000_000) : undefined;
	// TIMEOUT and PAYMENT_REQUIRED get no exception_reason: the README gives them fixed reasons.
	const exceptionReason =
		upper === 'ERROR'
			? pick(rng, [...REASONS, null, 'NONE'])
			: pick(rng, [null, 'NONE', undefined]);
	const body: Record<string, unknown> = {
		status: text,
		run_id: runId ?? null,
		message: pick(rng, [null, 'processing', { detail: 'x' }]),
	};
	if (exceptionReason !== undefined) body.exception_reason = exceptionReason;
	return {
		reply: { json: body },
		meaning: {
			kind: 'status',
			label: `{status:"${text}",reason:${String(exceptionReason)}}`,
			status: text,
			exceptionReason,
			runId,
		},
	};
}

type Maker = (rng: () => number) => ScriptedReply;

const RETRY_AFTER: Maker = (rng) => {
	const seconds = pick(rng, ['0', '1', undefined]);
	return {
		reply: {
			status: 429,
			json: { detail: 'Too many requests' },
			headers: seconds === undefined ? undefined : { 'retry-after': seconds },
		},
		meaning: {
			kind: 'rate-limited',
			label: `429${seconds === undefined ? '' : ` RA ${seconds}`}`,
			retryAfterMs: seconds === undefined ? undefined : Number(seconds) * 1000,
		},
	};
};

const serverError =
	(status: number, withRetryAfter: boolean): Maker =>
	() => ({
		reply: {
			status,
			text: `<html><body>${status} upstream trouble</body></html>`,
			headers: withRetryAfter ? { 'retry-after': '0' } : undefined,
		},
		meaning: {
			kind: 'transient',
			label: `${status}${withRetryAfter ? ' RA 0' : ''}`,
			slow: false,
			retryAfterMs: withRetryAfter ? 0 : undefined,
		},
	});

const fault =
	(kind: 'reset' | 'hang' | 'stall'): Maker =>
	() => ({
		reply:
			kind === 'stall'
				? { json: { status: 'SUCCESS', run_id: 1 }, fault: 'stall' }
				: { fault: kind },
		meaning: { kind: 'transient', label: kind, slow: kind !== 'reset' },
	});

/** The menu, with weights: mostly answers, a good share of trouble, a little of the slow kind. */
const MENU: ReadonlyArray<readonly [number, Maker]> = [
	// Random 429s are rarer than other trouble: each one pauses the whole execution (the shared
	// cool-down), so at the weight of the rest they would turn every batch into a wait.
	[2, RETRY_AFTER],
	[2, serverError(500, false)],
	[2, serverError(502, false)],
	[2, serverError(503, true)],
	[2, serverError(504, false)],
	[1, serverError(408, false)],
	[4, fault('reset')],
	[1.2, fault('hang')],
	[1.2, fault('stall')],
	[
		2,
		() => ({
			reply: { text: '<!doctype html><html><body>Welcome to nginx!</body></html>' },
			meaning: { kind: 'invalid', label: 'HTML 200' },
		}),
	],
	[
		2,
		() => ({
			reply: { text: '{"status": "SUCC', headers: { 'content-type': 'application/json' } },
			meaning: { kind: 'invalid', label: 'truncated JSON 200' },
		}),
	],
	[
		1,
		() => ({
			reply: { json: { state: 'SUCCESS' } },
			meaning: { kind: 'invalid', label: 'JSON without status' },
		}),
	],
	[1, () => ({ reply: { text: '' }, meaning: { kind: 'invalid', label: 'empty 200' } })],
	[0.5, () => ({ reply: { status: 204 }, meaning: { kind: 'invalid', label: '204' } })],
	[
		1,
		(rng) => {
			const json = pick(rng, [
				null,
				[],
				['SUCCESS'],
				'',
				{ status: 1 },
				{ status: null },
				{ status: ['SUCCESS'] },
				{ status: { value: 'SUCCESS' } },
				true,
				200,
			]);
			return {
				reply: { json },
				meaning: { kind: 'invalid', label: `JSON ${JSON.stringify(json)}` },
			};
		},
	],
	[
		0.5,
		() => ({
			reply: { text: 'SUCCESS', headers: { 'content-type': 'text/plain' } },
			meaning: { kind: 'invalid', label: 'unquoted SUCCESS' },
		}),
	],
	[
		1,
		(rng) => {
			const status = pick(rng, [400, 410, 418]);
			return {
				reply: { status, json: { detail: 'Bad request' } },
				meaning: { kind: 'refused', label: String(status), httpStatus: status },
			};
		},
	],
	[
		0.5,
		() => ({
			reply: { status: 302, headers: { location: 'http://127.0.0.1:1/steal' } },
			meaning: { kind: 'refused', label: '302', httpStatus: 302 },
		}),
	],
	[
		4,
		() => ({
			reply: { status: 404, json: { detail: 'Task not found' } },
			meaning: { kind: 'not-found', label: '404' },
		}),
	],
	[
		1,
		() => ({
			reply: {
				status: 422,
				json: {
					detail: [
						{ loc: ['path', 'task_id'], msg: 'value is not a valid uuid', type: 'type_error.uuid' },
					],
				},
			},
			meaning: { kind: 'rejected-id', label: '422' },
		}),
	],
	[9, (rng) => statusReply(rng, 'SUCCESS')],
	[9, (rng) => statusReply(rng, 'PENDING')],
	[5, (rng) => statusReply(rng, 'ERROR')],
	[3, (rng) => statusReply(rng, 'TIMEOUT')],
	[3, (rng) => statusReply(rng, 'PAYMENT_REQUIRED')],
	[
		3,
		(rng) => {
			const status = pick(rng, UNKNOWN_STATUSES);
			return rng() < 0.5
				? { reply: { json: status }, meaning: { kind: 'status', label: `"${status}"`, status } }
				: {
						reply: { json: { status, run_id: null } },
						meaning: { kind: 'status', label: `{status:"${status}"}`, status },
					};
		},
	],
];

/** Some delay now and then, so answers overtake each other. */
function withDelay(rng: () => number, scripted: ScriptedReply): ScriptedReply {
	if (scripted.reply.fault === 'hang' || rng() > 0.3) return scripted;
	return { ...scripted, reply: { ...scripted.reply, delayMs: int(rng, 1, 15) } };
}

/** A coarse name for what a reply was, to count which kinds a soak actually served. */
export function category(meaning: Meaning): string {
	switch (meaning.kind) {
		case 'transient':
			return meaning.label.split(' ')[0];
		case 'rate-limited':
			return meaning.retryAfterMs === undefined ? '429' : '429 Retry-After';
		case 'invalid':
			return meaning.label.startsWith('JSON ') ? 'JSON that is no status' : meaning.label;
		case 'refused':
			return `${meaning.label} (not retried)`;
		case 'status': {
			const upper = meaning.status.toUpperCase();
			const known = ['SUCCESS', 'PENDING', 'ERROR', 'TIMEOUT', 'PAYMENT_REQUIRED'].includes(upper);
			const shape = meaning.label.startsWith('"') ? 'bare' : 'object';
			const letterCase = meaning.status === upper ? '' : ' lower/mixed case';
			return known ? `${upper} ${shape}${letterCase}` : `unknown status ${shape}`;
		}
		case 'not-found':
			return '404';
		case 'rejected-id':
			return '422';
	}
}

export function randomReply(rng: () => number): ScriptedReply {
	return withDelay(rng, weighted(rng, MENU)(rng));
}

function pendingReply(rng: () => number): ScriptedReply {
	return withDelay(rng, statusReply(rng, 'PENDING'));
}

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

export interface PlanEntry {
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
function retried(meaning: Meaning, mode: Mode): boolean {
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

// ---------------------------------------------------------------------------------------------
// Running and checking one batch
// ---------------------------------------------------------------------------------------------

export const REQUEST_TIMEOUT_MS = 1000;

export function nodeParameters(config: BatchConfig): INodeParameters {
	return {
		waitForCompletion: config.mode === 'wait',
		fetchResultUrls: false,
		options: {
			attempts: config.attempts,
			timeoutSeconds: REQUEST_TIMEOUT_MS / 1000,
			maxInFlight: config.maxInFlight,
			firstIntervalSeconds: 1,
			maxIntervalSeconds: 1,
			maxWaitSeconds: config.maxWaitSeconds,
			notFoundAsPending: config.notFoundAsPending,
			unknownStatusAsPending: config.unknownStatusAsPending,
		},
	};
}

export function inputItems(batch: Batch): INodeExecutionData[] {
	return batch.tasks.map((task) => ({
		json: {
			task_id: task.taskId,
			n: task.index,
			...(task.carried
				? { check_count: task.carried.checkCount, pending_since: task.carried.pendingSince }
				: {}),
		},
	}));
}

/** What a batch and the whole soak count alike. */
interface Tally {
	items: number;
	out: Record<Route, number>;
	lost: number;
	duplicated: number;
	misrouted: number;
	leaked: number;
	/** Paths or methods the stand-in saw that belong to no task of the batch. */
	strayRequests: number;
	requests: number;
}

export interface BatchReport extends Tally {
	number: number;
	config: BatchConfig;
	wallMs: number;
	/** The latest moment, from the start of the execution, at which an item got its last answer. */
	slowestMs: number;
	/** What timeouts x attempts + waits allow for this execution (see boundMs()). */
	boundMs: number;
	/** Human-readable descriptions of the first violations, with what is needed to replay them. */
	violations: string[];
	/** How often each kind of reply (see category()) was served. */
	served: Record<string, number>;
	/** The most requests the stand-in had open at once. */
	maxConcurrent: number;
}

/** Generous allowance for the engine and the event loop on a small, busy machine. */
const OVERHEAD_MS = 4000;
const PER_REQUEST_CPU_MS = 3;
const REPLY_SLACK_MS = 60;

/** Upper bound of one reply's time in a request slot. */
function serviceMs(scripted: ScriptedReply): number {
	if (scripted.reply.fault === 'hang' || scripted.reply.fault === 'stall')
		return REQUEST_TIMEOUT_MS + REPLY_SLACK_MS;
	return (scripted.reply.delayMs ?? 0) + REPLY_SLACK_MS;
}

/** Upper bound of the pause after a failed attempt (`tries` attempts made so far). */
function retryPauseMs(meaning: Meaning, tries: number): number {
	if (meaning.kind === 'rate-limited') return meaning.retryAfterMs ?? DEFAULT_COOL_DOWN_MS;
	const asked = meaning.kind === 'transient' ? meaning.retryAfterMs : undefined;
	// README: "an exponential pause with jitter (about 1 s, then 2 s…, at most 30 s)".
	return asked ?? Math.min(30_000, 1000 * 2 ** (tries - 1));
}

/**
 * The time one execution may take. Requests share `maxInFlight` slots in order of arrival, so by
 * the usual list-scheduling argument the execution ends within (all slot time) / slots + the
 * longest single item's chain of requests and pauses; plus Max Wait when waiting, plus overhead.
 */
export function boundMs(
	batch: Batch,
	served: ScriptedReply[][],
): { boundMs: number; chainMs: number[] } {
	const { mode, maxInFlight, maxWaitSeconds } = batch.config;
	let slotTotal = 0;
	// A 429 pauses every request of the execution (the shared cool-down): at worst one after another.
	let coolDownTotal = 0;
	const chainMs = served.map((replies) => {
		let chain = mode === 'wait' ? maxWaitSeconds * 1000 : 0;
		let tries = 0;
		for (const scripted of replies) {
			const service = serviceMs(scripted);
			slotTotal += service;
			if (scripted.meaning.kind === 'rate-limited')
				coolDownTotal += scripted.meaning.retryAfterMs ?? DEFAULT_COOL_DOWN_MS;
			chain += service;
			if (retried(scripted.meaning, mode)) {
				if (scripted.meaning.kind !== 'rate-limited') tries++;
				chain += retryPauseMs(scripted.meaning, tries);
			} else {
				tries = 0;
				// While waiting, a 429 pauses for its Retry-After or the interval; both are within Max Wait.
			}
		}
		return chain;
	});
	const requests = served.reduce((sum, replies) => sum + replies.length, 0);
	return {
		// The adaptive window may shrink to its start (4) on 503s and time-outs, never below.
		boundMs: Math.ceil(
			slotTotal / Math.min(maxInFlight, INITIAL_WINDOW) +
				coolDownTotal +
				Math.max(0, ...chainMs) +
				OVERHEAD_MS +
				PER_REQUEST_CPU_MS * requests,
		),
		chainMs,
	};
}

/** Every place under `value` where `secret` occurs: own properties (enumerable or not, so Error message, stack and cause too), Map and Set entries. */
export function findSecret(
	value: unknown,
	secret: string,
	path = '$',
	seen = new WeakSet<object>(),
	found: string[] = [],
): string[] {
	if (typeof value === 'string') {
		if (value.includes(secret)) found.push(path);
		return found;
	}
	if (typeof value !== 'object' || value === null) return found;
	if (seen.has(value)) return found;
	seen.add(value);
	if (ArrayBuffer.isView(value)) {
		if (Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes(secret))
			found.push(path);
		return found;
	}
	if (value instanceof Map) {
		for (const [key, entry] of value) {
			findSecret(key, secret, `${path}<key>`, seen, found);
			findSecret(entry, secret, `${path}<${String(key)}>`, seen, found);
		}
	}
	if (value instanceof Set)
		for (const entry of value) findSecret(entry, secret, `${path}<entry>`, seen, found);
	for (const key of Object.getOwnPropertyNames(value)) {
		if (key.includes(secret)) found.push(`${path}.<key ${key.length}>`);
		const descriptor = Object.getOwnPropertyDescriptor(value, key);
		// Getters are not called: reading one could have effects. Data properties cover n8n's errors.
		if (descriptor && 'value' in descriptor)
			findSecret(descriptor.value, secret, `${path}.${key}`, seen, found);
	}
	return found;
}

/** Everything the run produced that a user or a log could see. */
export function secretPlaces(result: StatusRun, secret: string): string[] {
	const places = findSecret(
		{
			runData: result.run.runData,
			error: result.run.error,
			outputs: [result.success, result.pending, result.failure, result.errorOutput],
		},
		secret,
	);
	// The brief's own check, independent of the walk above.
	if (JSON.stringify(result.run.runData).includes(secret)) places.push('JSON.stringify(runData)');
	return places;
}

/**
 * Checks one finished execution against the scripts and what the stand-in served. Pure: the
 * tests feed it doctored results to prove each counter can go up.
 */
export function checkBatch(
	batch: Batch,
	result: StatusRun,
	requests: RecordedRequest[],
	timing: { startedAt: number; endedAt: number },
	extra: { maxConcurrent: number; leftOver?: string } = { maxConcurrent: 0 },
): BatchReport {
	const violations: string[] = [];
	const violate = (text: string) => {
		if (violations.length < 20)
			violations.push(
				`seed ${batch.seed} batch ${batch.number} (${describeConfig(batch.config)}): ${text}`,
			);
	};
	const N = batch.tasks.length;
	const outputs = [result.success, result.pending, result.failure, result.errorOutput];
	const out: Record<Route, number> = {
		success: outputs[0].length,
		pending: outputs[1].length,
		failure: outputs[2].length,
		error: outputs[3].length,
	};

	// ---- requests: only status paths of this batch's tasks, GET, with the key in the header only ----
	const byPath = new Map<string, RecordedRequest[]>();
	for (const task of batch.tasks) byPath.set(taskStatusPath(task.taskId), []);
	let strayRequests = 0;
	let leaked = 0;
	for (const request of requests) {
		const list = byPath.get(request.path);
		if (!list || request.method !== 'GET') {
			strayRequests++;
			violate(`stray request ${request.method} ${request.path}`);
		} else list.push(request);
		if (request.headers['x-api-key'] !== API_KEY)
			violate(`request ${request.method} ${request.path} without the credential's key`);
		if (request.path.includes(API_KEY) || request.body.includes(API_KEY)) {
			leaked++;
			violate(`the API key is in the path or body of ${request.method} ${request.path}`);
		}
	}

	// ---- the run itself ----
	if (result.run.error) violate(`the execution failed: ${result.run.error.message}`);
	if (result.run.cancelled) violate(`the execution was cancelled (it hung past its time limit)`);
	const places = secretPlaces(result, API_KEY);
	leaked += places.length;
	for (const place of places.slice(0, 5)) violate(`the API key appears at ${place}`);

	// ---- every item exactly once, paired with its input, in order ----
	const seen = new Map<number, { route: Route; item: INodeExecutionData }>();
	let duplicated = 0;
	let misrouted = 0;
	const bad = new Set<number>();
	outputs.forEach((items, output) => {
		let previous = -1;
		for (const item of items) {
			const paired = item.pairedItem as { item?: unknown } | undefined;
			const index = typeof paired?.item === 'number' ? paired.item : NaN;
			if (!Number.isInteger(index) || index < 0 || index >= N) {
				misrouted++;
				violate(`an item on output ${output} has pairedItem ${JSON.stringify(item.pairedItem)}`);
				continue;
			}
			if (index <= previous) {
				bad.add(index);
				violate(`output ${output} is out of input order at item ${index} (after ${previous})`);
			}
			previous = index;
			if (seen.has(index)) {
				duplicated++;
				violate(`item ${index} left more than once (also on output ${output})`);
				continue;
			}
			seen.set(index, { route: ROUTES[output], item });
		}
	});
	const lost = N - seen.size;

	// ---- every item where the rules say, with the fields the README promises ----
	const served: ScriptedReply[][] = [];
	const servedKinds: Record<string, number> = {};
	for (const task of batch.tasks) {
		const replay = `item ${task.index} (id ${JSON.stringify(task.taskId)})`;
		const got = byPath.get(taskStatusPath(task.taskId)) ?? [];
		const servedReplies = got.map((_, i) => task.replies[Math.min(i, task.replies.length - 1)]);
		served.push(servedReplies);
		for (const scripted of servedReplies)
			servedKinds[category(scripted.meaning)] = (servedKinds[category(scripted.meaning)] ?? 0) + 1;
		const script = task.replies.map((r) => r.meaning.label).join(', ');
		const wrong = (text: string) => {
			bad.add(task.index);
			violate(`${replay}: ${text}; script [${script}], served ${got.length}`);
		};

		// No retry sooner than the rules allow: Retry-After, else half the backoff step (README: "about 1 s,
		// then 2 s"); after a 429, the shared cool-down: Retry-After, else a second. 429s count no try.
		let tries = 0;
		for (let i = 0; i + 1 < got.length; i++) {
			const { meaning, reply } = servedReplies[i];
			if (!retried(meaning, batch.config.mode)) {
				tries = 0;
				continue;
			}
			if (meaning.kind !== 'rate-limited') tries++;
			const asked =
				meaning.kind === 'transient' || meaning.kind === 'rate-limited'
					? meaning.retryAfterMs
					: undefined;
			const pause =
				asked ?? (meaning.kind === 'rate-limited' ? DEFAULT_COOL_DOWN_MS : 500 * 2 ** (tries - 1));
			const answered =
				reply.fault === 'hang' || reply.fault === 'stall'
					? REQUEST_TIMEOUT_MS - 100
					: reply.fault === 'reset'
						? 0
						: (reply.delayMs ?? 0);
			// Measured where the node decides (its HTTP client's send times): the stand-in shares a busy
			// event loop and may notice a request late, which would shorten the gap it sees.
			const gap = sendTime(got[i + 1]) - sendTime(got[i]);
			if (gap < answered + pause - 50)
				wrong(
					`request ${i + 2} came ${gap} ms after a ${meaning.label}; the rules say at least ${answered + pause} ms`,
				);
		}

		let expected: Expected;
		if (batch.config.mode === 'plain') {
			const plain = expectPlain(task.replies, batch.config);
			expected = plain.expected;
			if (got.length !== plain.requests)
				wrong(`${got.length} requests, the rules allow exactly ${plain.requests}`);
		} else {
			const wait = expectWait(servedReplies, batch.config);
			if ('impossible' in wait) {
				wrong(wait.impossible);
				continue;
			}
			expected = wait;
		}

		const actual = seen.get(task.index);
		if (!actual) continue; // counted as lost
		if (actual.route !== expected.route) {
			wrong(
				`left on ${actual.route}, expected ${expected.route}${expected.status ? ` (${expected.status})` : ''}`,
			);
			continue;
		}
		const { item } = actual;
		if (expected.route === 'error') {
			checkErrorItem(item, task, expected, batch.config, wrong);
			continue;
		}
		checkResultItem(item, task, expected, batch, got, timing, wrong);
	}
	misrouted += bad.size;

	// ---- time: nothing hangs ----
	const { boundMs: bound, chainMs } = boundMs(batch, served);
	const wallMs = timing.endedAt - timing.startedAt;
	let slowestMs = 0;
	batch.tasks.forEach((task, i) => {
		const got = byPath.get(taskStatusPath(task.taskId)) ?? [];
		if (got.length === 0) return;
		const lastReply = served[i][served[i].length - 1];
		const answeredAt =
			got[got.length - 1].at -
			timing.startedAt +
			(lastReply.reply.fault === 'hang' || lastReply.reply.fault === 'stall'
				? REQUEST_TIMEOUT_MS
				: (lastReply.reply.delayMs ?? 0));
		slowestMs = Math.max(slowestMs, answeredAt);
		// One item's own span (first to last request) cannot exceed the whole execution's bound.
		const span = got[got.length - 1].at - got[0].at;
		if (span > bound)
			violate(`item ${task.index} was checked over ${span} ms, its chain allows ${chainMs[i]} ms`);
	});
	if (wallMs > bound)
		violate(`the execution took ${wallMs} ms, timeouts x attempts + waits allow ${bound} ms`);
	if (slowestMs > bound)
		violate(`an item got its last answer after ${slowestMs} ms, the bound is ${bound} ms`);
	// README: "at most this many requests at once".
	if (extra.maxConcurrent > batch.config.maxInFlight)
		violate(
			`${extra.maxConcurrent} requests were open at once, Max Requests in Flight is ${batch.config.maxInFlight}`,
		);
	// README: "no request or timer outlives it".
	if (extra.leftOver) violate(`left behind after the execution: ${extra.leftOver}`);

	return {
		number: batch.number,
		config: batch.config,
		items: N,
		out,
		lost,
		duplicated,
		misrouted,
		leaked,
		strayRequests,
		requests: requests.length,
		wallMs,
		slowestMs,
		boundMs: bound,
		violations,
		served: servedKinds,
		maxConcurrent: extra.maxConcurrent,
	};
}

function checkErrorItem(
	item: INodeExecutionData,
	task: TaskScript,
	expected: Expected,
	config: BatchConfig,
	wrong: (text: string) => void,
): void {
	const error = item.error as (Error & { description?: string | null }) | undefined;
	if (!error) return wrong('on the error output without an error');
	const keys = Object.keys(item.json);
	if (keys.length !== 1 || item.json.error !== error.message)
		wrong(`error item json is ${JSON.stringify(item.json)}`);
	const text = `${error.message} ${error.description ?? ''}`;
	if (expected.error === 'unreachable') {
		// README: "CAMB.AI could not answer GET … after N attempts (last: …)", naming the request.
		const attempts = new RegExp(
			`could not answer GET /audio-separation/\\S+ after ${config.attempts} attempts \\(last: `,
		);
		if (!attempts.test(error.message))
			wrong(
				`error "${error.message}", expected "could not answer GET … after ${config.attempts} attempts (last: …)"`,
			);
		if (
			!(error.description ?? '').includes(
				`GET ${taskStatusPath(task.taskId)} ${config.attempts} times`,
			)
		) {
			wrong(`the error does not say what was tried for this item: ${text}`);
		}
	} else if (expected.error === 'refused') {
		// Not retried, and the error says which request got which answer.
		if (
			!error.message.includes(`GET ${taskStatusPath(task.taskId)} with HTTP ${expected.httpStatus}`)
		) {
			wrong(
				`error "${error.message}", expected "CAMB.AI answered GET ${taskStatusPath(task.taskId)} with HTTP ${expected.httpStatus}"`,
			);
		}
	} else if (
		!/is not a task status/.test(error.message) ||
		!error.message.includes(`item ${task.index} `)
	) {
		wrong(`error "${error.message}", expected "... for item ${task.index} is not a task status"`);
	}
}

function checkResultItem(
	item: INodeExecutionData,
	task: TaskScript,
	expected: Expected,
	batch: Batch,
	got: RecordedRequest[],
	timing: { startedAt: number },
	wrong: (text: string) => void,
): void {
	const { json } = item;
	if (item.error) wrong(`a ${expected.route} item carries an error: ${item.error.message}`);
	if (json.task_id !== task.taskId || json.n !== task.index)
		wrong(
			`carries task_id ${JSON.stringify(json.task_id)} / n ${String(json.n)}: another item's data`,
		);
	if (json.status !== expected.status)
		wrong(`status ${JSON.stringify(json.status)}, expected ${expected.status}`);
	if (json.run_id !== expected.runId)
		wrong(`run_id ${JSON.stringify(json.run_id)}, expected ${String(expected.runId)}`);
	const checkCount = (task.carried?.checkCount ?? 0) + expected.checks;
	if (json.check_count !== checkCount)
		wrong(`check_count ${String(json.check_count)}, expected ${checkCount}`);
	if (typeof json.checked_at !== 'string' || Number.isNaN(Date.parse(json.checked_at)))
		wrong(`checked_at ${String(json.checked_at)}`);
	const since = json.pending_since;
	if (task.carried) {
		if (since !== task.carried.pendingSince)
			wrong(`pending_since ${String(since)}, carried ${task.carried.pendingSince}`);
	} else if (
		expected.sawPending
			? typeof since !== 'string' || Number.isNaN(Date.parse(since))
			: since !== null
	) {
		wrong(
			`pending_since ${JSON.stringify(since)}, but the task was ${expected.sawPending ? '' : 'never '}seen pending`,
		);
	}
	if (expected.route === 'failure') {
		if (json.reason !== expected.reason)
			wrong(`reason ${String(json.reason)}, expected ${expected.reason}`);
		if (json.retryable !== expected.retryable)
			wrong(`retryable ${String(json.retryable)}, expected ${String(expected.retryable)}`);
		if (typeof json.message !== 'string' || !json.message) wrong('a failure without a message');
	} else {
		for (const key of ['reason', 'message', 'retryable', 'error'])
			if (key in json) wrong(`a ${expected.route} item has "${key}"`);
	}
	if (expected.route === 'pending') {
		// Intervals of 1 s ±10%, or a Retry-After of at most 1 s: rounded up, 1 or 2 s.
		const next = json.next_check_in_seconds;
		if (typeof next !== 'number' || !Number.isInteger(next) || next < 1 || next > 2)
			wrong(`next_check_in_seconds ${String(next)}`);
		// Waiting: a task left pending only once Max Wait is over.
		if (
			batch.config.mode === 'wait' &&
			got.length > 0 &&
			got[got.length - 1].at < timing.startedAt + batch.config.maxWaitSeconds * 1000 - 50
		) {
			wrong(
				`left pending ${got[got.length - 1].at - timing.startedAt} ms into a ${batch.config.maxWaitSeconds} s wait`,
			);
		}
	} else if ('next_check_in_seconds' in json)
		wrong(`a ${expected.route} item has next_check_in_seconds`);
}

export function describeConfig(config: BatchConfig): string {
	return [
		config.mode === 'wait' ? `wait ${config.maxWaitSeconds}s` : 'plain',
		`inFlight ${config.maxInFlight}`,
		`attempts ${config.attempts}`,
		config.notFoundAsPending ? '404=pending' : '',
		config.unknownStatusAsPending ? 'unknown=pending' : '',
	]
		.filter(Boolean)
		.join(', ');
}

/** A harness time limit no healthy execution reaches: if it does, the run is cancelled and counted as hung. */
export function executionLimitMs(batch: Batch): number {
	const { mode, attempts, maxInFlight, maxWaitSeconds } = batch.config;
	const checksPerItem = mode === 'wait' ? Math.ceil((maxWaitSeconds * 1000) / 900) + 2 : 1;
	const slot =
		(batch.tasks.length * checksPerItem * attempts * (REQUEST_TIMEOUT_MS + REPLY_SLACK_MS)) /
		maxInFlight;
	return Math.ceil(Math.min(600_000, 30_000 + slot + maxWaitSeconds * 1000 + attempts * 4000));
}

export async function runBatch(camb: StandIn, batch: Batch): Promise<BatchReport> {
	camb.reset();
	for (const task of batch.tasks) camb.task(task.taskId, ...task.replies.map((r) => r.reply));
	const before = resources();
	const startedAt = Date.now();
	const result = await runStatusNode(camb.baseUrl, inputItems(batch), {
		parameters: nodeParameters(batch.config),
		onError: 'continueErrorOutput',
		timeoutMs: executionLimitMs(batch),
	});
	const endedAt = Date.now();
	const requests = [...camb.requests];
	const maxConcurrent = camb.maxConcurrent;
	const leftOver = await leftOverResources(before);
	camb.reset();
	return checkBatch(batch, result, requests, { startedAt, endedAt }, { maxConcurrent, leftOver });
}

export type Resources = Record<string, number>;

export function resources(): Resources {
	const counts: Resources = {};
	for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
	return counts;
}

/** Timers and sockets beyond those open before the execution, once closing sockets had time to close (up to 2 s). */
export async function leftOverResources(before: Resources): Promise<string | undefined> {
	const extra = () => {
		const now = resources();
		return ['Timeout', 'TCPSocketWrap', 'TCPWrap']
			.filter((name) => (now[name] ?? 0) > (before[name] ?? 0))
			.map((name) => `${(now[name] ?? 0) - (before[name] ?? 0)} ${name}`)
			.join(', ');
	};
	for (let waited = 0; waited < 2000; waited += 50) {
		if (!extra()) return undefined;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	return extra() || undefined;
}

// ---------------------------------------------------------------------------------------------
// The whole soak
// ---------------------------------------------------------------------------------------------

export interface SoakOptions {
	items: number;
	seed: number;
	sizes?: Record<Mode, Record<number, number>>;
	/** Called after each batch (progress output). */
	onBatch?: (report: BatchReport, done: number, total: number) => void;
	/** Run only this batch of the plan (replaying a failure). */
	onlyBatch?: number;
}

export interface SoakReport extends Tally {
	seed: number;
	slowestMs: number;
	wallMs: number;
	batches: BatchReport[];
	violations: string[];
	served: Record<string, number>;
}

export async function runSoak(camb: StandIn, options: SoakOptions): Promise<SoakReport> {
	const entries = plan(options.items, options.sizes ?? CLI_SIZES);
	const batches: BatchReport[] = [];
	const started = Date.now();
	let done = 0;
	const total = entries.reduce((sum, entry) => sum + entry.size, 0);
	for (const [number, entry] of entries.entries()) {
		if (options.onlyBatch !== undefined && number !== options.onlyBatch) continue;
		const batch = makeBatch(options.seed, number, entry.size, entry.mode, entry.maxInFlight);
		const report = await runBatch(camb, batch);
		batches.push(report);
		done += report.items;
		options.onBatch?.(report, done, total);
	}
	const sum = (
		key: 'items' | 'lost' | 'duplicated' | 'misrouted' | 'leaked' | 'strayRequests' | 'requests',
	) => batches.reduce((total, batch) => total + batch[key], 0);
	const out: Record<Route, number> = { success: 0, pending: 0, failure: 0, error: 0 };
	for (const batch of batches) for (const route of ROUTES) out[route] += batch.out[route];
	const served: Record<string, number> = {};
	for (const batch of batches)
		for (const [kind, count] of Object.entries(batch.served))
			served[kind] = (served[kind] ?? 0) + count;
	return {
		seed: options.seed,
		items: sum('items'),
		out,
		lost: sum('lost'),
		duplicated: sum('duplicated'),
		misrouted: sum('misrouted'),
		leaked: sum('leaked'),
		strayRequests: sum('strayRequests'),
		requests: sum('requests'),
		slowestMs: Math.max(0, ...batches.map((batch) => batch.slowestMs)),
		wallMs: Date.now() - started,
		batches,
		violations: batches.flatMap((batch) => batch.violations),
		served,
	};
}

export function batchLine(report: BatchReport): string {
	const { out } = report;
	return (
		`batch ${String(report.number).padStart(2)} ${describeConfig(report.config).padEnd(52)} items ${String(report.items).padStart(5)} ` +
		`-> success ${out.success} pending ${out.pending} failure ${out.failure} error ${out.error}; ` +
		`${report.requests} requests (at most ${report.maxConcurrent} at once), ${report.wallMs} ms (bound ${report.boundMs} ms)` +
		(report.violations.length ? `  VIOLATIONS ${report.violations.length}` : '')
	);
}

export function summaryLines(report: SoakReport): string[] {
	const { out } = report;
	return [
		`items in ${report.items}; out: success ${out.success}, pending ${out.pending}, failure ${out.failure}, error output ${out.error} ` +
			`(${out.success + out.pending + out.failure + out.error} in all); ${report.requests} requests, none stray: ${report.strayRequests === 0}; ` +
			`wall ${(report.wallMs / 1000).toFixed(1)} s`,
		`replies served: ${Object.entries(report.served)
			.sort(([a], [b]) => a.localeCompare(b))
			.map(([kind, count]) => `${kind} ${count}`)
			.join(', ')}`,
		figureLine(report),
	];
}

/** The one line of figures. */
export function figureLine(report: SoakReport): string {
	return `soak: items=${report.items} lost=${report.lost} duplicated=${report.duplicated} misrouted=${report.misrouted} leaked=${report.leaked} slowest=${report.slowestMs}ms seed=${report.seed}`;
}

export function passed(report: SoakReport): boolean {
	return (
		report.violations.length === 0 &&
		report.lost === 0 &&
		report.duplicated === 0 &&
		report.misrouted === 0 &&
		report.leaked === 0 &&
		report.strayRequests === 0
	);
}
