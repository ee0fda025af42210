/**
 * Fetches the stem links of finished tasks: one bulk request per chunk of runs when several
 * tasks finished together, one request per run otherwise, or when the bulk call is refused.
 */
import { getResult, getResults, type ResultUrls } from '../shared/transport/cambApi';
import type { CambClient } from '../shared/transport';
import { resultNotFound, type Verdict } from './classifyStatus';

/**
 * Per run: the links, a Failure verdict (CAMB does not know the run), an answer without usable
 * links (its body, to quote), or the request's error.
 */
export type RunLinks =
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

export async function fetchResultUrls(
	client: CambClient,
	runs: Run[],
): Promise<Map<number, RunLinks>> {
	const byItem = new Map<number, RunLinks>();
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
					byItem.set(run.itemIndex, urls ? { urls } : await fetchOne(client, run));
				}),
			);
		}),
	);
	return byItem;
}

async function fetchBulk(client: CambClient, chunk: Run[]): Promise<Map<number, ResultUrls>> {
	try {
		return await getResults(
			client,
			chunk[0].itemIndex,
			chunk.map((run) => run.runId),
		);
	} catch {
		// Bulk is an optimisation: any failure falls back to per-run requests, which report their own errors.
		return new Map();
	}
}

async function fetchOne(client: CambClient, run: Run): Promise<RunLinks> {
	try {
		const result = await getResult(client, run.itemIndex, run.runId);
		return 'notFound' in result ? { verdict: resultNotFound(run.runId) } : result;
	} catch (error) {
		return { error };
	}
}
