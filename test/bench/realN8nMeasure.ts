/**
 * How `npm run bench` (realN8n.ts) measures and prints: a node's own time in n8n's run data,
 * medians, tables, and the context every benchmark gets.
 */

import type { N8nSession, RunResult } from '../e2e/n8n';
import type { StandIn } from '../stand-in/cambStandIn';
import type { Options } from './realN8n';

// ---- measuring --------------------------------------------------------------------------------

/** From the first start to the last end of the given nodes' runs, in ms, from n8n's run data. */
export function nodeSpan(
	result: RunResult,
	names: string[],
): { start: number; end: number; ms: number } {
	const runs = names.flatMap((name) => result.runsOf(name));
	if (runs.length === 0) throw new Error(`none of ${names.join(', ')} ran`);
	const start = Math.min(...runs.map((run) => Number(run.startTime)));
	const end = Math.max(...runs.map((run) => Number(run.startTime) + Number(run.executionTime)));
	if (!Number.isFinite(start) || !Number.isFinite(end))
		throw new Error('the run data has no startTime/executionTime');
	return { start, end, ms: end - start };
}

export function mustSucceed(result: RunResult, what: string): void {
	if (result.status !== 'success') {
		throw new Error(
			`${what}: n8n reported "${result.status}": ${JSON.stringify(result.error)?.slice(0, 1500)}\n${result.stderr.slice(-3000)}`,
		);
	}
}

export const median = (values: number[]) =>
	[...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

export function printTable(header: string[], rows: string[][]): void {
	const widths = header.map((title, i) =>
		Math.max(title.length, ...rows.map((row) => row[i].length)),
	);
	const line = (cells: string[]) =>
		`| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
	console.log(line(header));
	console.log(
		`|${widths.map((width, i) => (i === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
	);
	for (const row of rows) console.log(line(row));
}

export interface Context {
	options: Options;
	session: N8nSession;
	camb: StandIn;
	storage: StandIn;
	/** Rate-limited stand-ins (RATE_LIMIT): with Retry-After: 1, and without it. */
	limited: StandIn;
	limitedBare: StandIn;
	/** No added latency (p). */
	fast: StandIn;
}
