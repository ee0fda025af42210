/**
 * The kinds of CAMB server the servers benchmark plays (realN8nServers.ts, standInCli.ts): their
 * stand-in options, and the task ids and answers they are scripted with.
 */
import type { Reply, StandInOptions } from '../stand-in/cambStandIn';

/** The kinds of server the benchmark plays. */
export const SERVERS = ['free', 'shed', 'noisy', 'limited', 'limited-bare'] as const;
export type ServerKind = (typeof SERVERS)[number];
/** shed: at most this many requests in service. */
export const SHED_LIMIT = 8;
/** noisy: this share of answers is a 503. */
export const NOISE_SHARE = 0.03;
/** limited: a token bucket of this many a second (burst the same). */
export const RATE_PER_SECOND = 20;

export const REPLIES: Reply[] = [
	{ json: { status: 'SUCCESS', run_id: 7, exception_reason: null, message: null } },
	{ json: { status: 'PENDING', run_id: null, exception_reason: null, message: null } },
	{
		json: { status: 'ERROR', run_id: null, exception_reason: 'PROCESSING_ERROR', message: null },
	},
];

/**
 * What task i answers, check after check: REPLIES[i % 3] every time (pendingChecks 0), or PENDING
 * for its first `pendingChecks` checks and SUCCESS from then on (Wait for Completion at scale).
 */
export const repliesOf = (i: number, pendingChecks: number): Reply[] =>
	pendingChecks > 0
		? [...Array.from({ length: pendingChecks }, () => REPLIES[1]), REPLIES[0]]
		: [REPLIES[i % 3]];

export const taskIds = (prefix: string, n: number) =>
	Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

export function serverOptions(kind: ServerKind, latencyMs: number, apiKey: string): StandInOptions {
	const base: StandInOptions = { apiKey, latencyMs };
	const bucket = { perSecond: RATE_PER_SECOND, burst: RATE_PER_SECOND };
	if (kind === 'shed') return { ...base, shedBeyond: SHED_LIMIT };
	if (kind === 'noisy') return { ...base, noise: { share: NOISE_SHARE, seed: 2024 } };
	if (kind === 'limited') return { ...base, rateLimit: { ...bucket, retryAfterSeconds: 1 } };
	if (kind === 'limited-bare') return { ...base, rateLimit: bucket };
	return base;
}
