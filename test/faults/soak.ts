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
 *
 * The parts: the scripted replies (soakReplies.ts), the batches and expected outcomes
 * (soakBatches.ts), running and checking one batch (soakChecks.ts); this file runs the whole soak
 * and reports it, and re-exports the parts for the tests and the CLI (soakCli.ts).
 */

import { type StandIn } from '../stand-in/cambStandIn';
import { CLI_SIZES, Mode, ROUTES, Route, makeBatch, plan } from './soakBatches';
import { BatchReport, Tally, describeConfig, runBatch } from './soakChecks';

export * from './soakReplies';
export * from './soakBatches';
export * from './soakChecks';

// ---------------------------------------------------------------------------------------------
// The whole soak
// ---------------------------------------------------------------------------------------------

interface SoakOptions {
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
