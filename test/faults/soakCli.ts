/**
 * `npm run test:faults -- --items 10000 --seed 123`: the randomised soak at full size.
 *
 *   --items N      items in all (default 10000), in batches of up to 1500 per execution
 *   --seed S       the seed (default: random, printed), to replay a failure
 *   --batch K      run only batch K of the plan (replaying one batch of a failed run)
 *
 * Prints one line per execution, the violations (if any), and ends with the line of figures
 * `soak: items=… lost=0 duplicated=0 misrouted=0 leaked=0 slowest=…ms seed=…`.
 * Exits non-zero on any violation.
 */
import { cpus, totalmem } from 'node:os';

import { disposeHarness } from '../engine/harness';
import { API_KEY } from '../fixtures/cambWorkflow';
import { startStandIn } from '../stand-in/cambStandIn';
import { batchLine, CLI_SIZES, passed, runSoak, summaryLines } from './soak';

function parseArgs(argv: string[]): { items: number; seed: number; batch?: number } {
	const args = new Map<string, string>();
	for (let i = 0; i < argv.length; i++) {
		const [name, inline] = argv[i].split('=', 2);
		if (!name.startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
		args.set(name.slice(2), inline ?? argv[++i] ?? '');
	}
	for (const name of args.keys())
		if (!['items', 'seed', 'batch'].includes(name)) throw new Error(`unknown option --${name}`);
	const number = (name: string, fallback?: number) => {
		const raw = args.get(name);
		if (raw === undefined) return fallback;
		const value = Number(raw);
		if (!Number.isSafeInteger(value) || value < 0)
			throw new Error(`--${name} must be a whole number, not ${JSON.stringify(raw)}`);
		return value;
	};
	return {
		items: Math.max(1, number('items', 10_000) as number),
		seed: number('seed', Math.floor(Math.random() * 2 ** 31)) as number,
		batch: number('batch'),
	};
}

async function main(): Promise<void> {
	const { items, seed, batch } = parseArgs(process.argv.slice(2));
	console.log(
		`soak: ${items} items, seed ${seed}${batch === undefined ? '' : `, batch ${batch} only`}; ` +
			`Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; replay with --seed ${seed}`,
	);
	const warnings: string[] = [];
	process.on('warning', (warning) => warnings.push(`${warning.name}: ${warning.message}`));
	const camb = await startStandIn({ apiKey: API_KEY });
	try {
		const report = await runSoak(camb, {
			items,
			seed,
			sizes: CLI_SIZES,
			onlyBatch: batch,
			onBatch: (batchReport, done, total) =>
				console.log(`${batchLine(batchReport)}  [${done}/${total}]`),
		});
		for (const violation of report.violations) console.log(`VIOLATION ${violation}`);
		for (const warning of [...new Set(warnings)]) console.log(`process warning: ${warning}`);
		for (const line of summaryLines(report)) console.log(line);
		if (!passed(report)) process.exitCode = 1;
	} finally {
		await camb.close();
		disposeHarness();
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
