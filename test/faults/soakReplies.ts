/**
 * The soak's scripted replies (soak.ts): seeded randomness, the menu of good answers, odd answers
 * and faults the CAMB stand-in plays, and what each one means by the README's rules (not by the
 * node's code).
 */

import { mulberry32 } from '../fixtures/random';
import { type Reply } from '../stand-in/cambStandIn';

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

/** Each batch gets its own stream, so one batch can be replayed without the ones before it. */
export function batchRandom(seed: number, batch: number): () => number {
	return mulberry32((seed ^ Math.imul(batch + 1, 0x9e3779b9)) >>> 0);
}

export const pick = <T>(rng: () => number, list: readonly T[]): T =>
	list[Math.floor(rng() * list.length)];
export const int = (rng: () => number, min: number, max: number) =>
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
export const NOT_RETRYABLE_REASONS = new Set([
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

export function pendingReply(rng: () => number): ScriptedReply {
	return withDelay(rng, statusReply(rng, 'PENDING'));
}
