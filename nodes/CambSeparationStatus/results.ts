/**
 * Fetches the stem links of finished tasks: one bulk request per chunk of runs when several
 * tasks finished together, one request per run otherwise, or when the bulk call is refused.
 */
import type { Verdict } from './classifyStatus';
import { isPlainObject, parseJson } from '../shared/json';
import type { CambClient } from '../shared/transport';

export interface ResultUrls {
	foreground_audio_url: string;
	background_audio_url: string;
}

/**
 * Per run: the links, a Failure verdict (CAMB does not know the run), an answer without usable
 * links (its body, to quote), or the request's error.
 */
export type ResultOutcome =
	| { urls: ResultUrls }
	| { verdict: Verdict }
	| { noLinks: string }
	| { error: unknown };

export interface Run {
	itemIndex: number;
	runId: number;
}

/** Runs per bulk request: keeps the request body small and one failure's reach short. */
const BULK_CHUNK = 100;

// A bulk call answered with one of these means "not here": ask per run instead.
const BULK_REFUSED = [400, 404, 405, 422, 501];

export async function fetchResultUrls(
	client: CambClient,
	runs: Run[],
): Promise<Map<number, ResultOutcome>> {
	const outcomes = new Map<number, ResultOutcome>();
	const chunks: Run[][] = [];
	for (let start = 0; start < runs.length; start += BULK_CHUNK)
		chunks.push(runs.slice(start, start + BULK_CHUNK));

	await Promise.all(
		chunks.map(async (chunk) => {
			const found =
				chunk.length > 1 ? await fetchBulk(client, chunk) : new Map<number, ResultUrls>();
			// Whatever the bulk answer left out (or all of it, when refused) is asked for one by one.
			await Promise.all(
				chunk.map(async (run) => {
					const urls = found.get(run.runId);
					outcomes.set(run.itemIndex, urls ? { urls } : await fetchOne(client, run));
				}),
			);
		}),
	);
	return outcomes;
}

async function fetchBulk(client: CambClient, chunk: Run[]): Promise<Map<number, ResultUrls>> {
	const found = new Map<number, ResultUrls>();
	let answer;
	try {
		answer = await client.request(chunk[0].itemIndex, {
			method: 'POST',
			path: '/audio-separation-results',
			body: { run_ids: chunk.map((run) => run.runId) },
			answers: BULK_REFUSED,
		});
	} catch {
		// Bulk is an optimisation: any failure falls back to per-run requests, which report their own errors.
		return found;
	}
	if (answer.statusCode < 200 || answer.statusCode >= 300) return found;
	const parsed = readJson(answer.body);
	// CAMB documents a map run_id -> result; a list of results carrying run_id is accepted too.
	const entries: Array<[unknown, unknown]> = Array.isArray(parsed)
		? parsed.map((entry) => [isPlainObject(entry) ? entry.run_id : undefined, entry])
		: isPlainObject(parsed)
			? Object.entries(parsed)
			: [];
	for (const [runId, value] of entries) {
		const urls = readResultUrls(value);
		if (urls && /^\d+$/.test(String(runId))) found.set(Number(runId), urls);
	}
	return found;
}

async function fetchOne(client: CambClient, run: Run): Promise<ResultOutcome> {
	try {
		const answer = await client.request(run.itemIndex, {
			method: 'GET',
			path: `/audio-separation-result/${run.runId}`,
			answers: [404],
		});
		if (answer.statusCode === 404) return { verdict: resultNotFound(run.runId) };
		const urls = readResultUrls(readJson(answer.body));
		if (urls) return { urls };
		return { noLinks: answer.body };
	} catch (error) {
		return { error };
	}
}

/** Both links, and only http(s) ones: anything else is never followed. */
export function readResultUrls(value: unknown): ResultUrls | undefined {
	if (!isPlainObject(value)) return undefined;
	const foreground = value.foreground_audio_url;
	const background = value.background_audio_url;
	if (!isWebUrl(foreground) || !isWebUrl(background)) return undefined;
	return { foreground_audio_url: foreground, background_audio_url: background };
}

function resultNotFound(runId: number): Verdict {
	return {
		route: 'failure',
		status: 'SUCCESS',
		runId,
		reason: 'RESULT_NOT_FOUND',
		retryable: false,
		message: `The separation finished, but CAMB.AI has no result for run ${runId} (404); it may have been deleted. Submit the file again.`,
	};
}

function isWebUrl(value: unknown): value is string {
	if (typeof value !== 'string') return false;
	try {
		const url = new URL(value);
		return url.protocol === 'https:' || url.protocol === 'http:';
	} catch {
		return false;
	}
}

function readJson(text: string): unknown {
	const parsed = parseJson(text);
	return parsed.ok ? parsed.value : undefined;
}
