/**
 * `npm run bench:wait`: wall time to resolve N tasks that each finish after about T seconds,
 * measured side by side in one run, in n8n's engine against the CAMB stand-in:
 *   - Wait for Completion: one execution, all N items waiting at the same time;
 *   - one after another: each task polled to the end before the next starts (how CAMB's own
 *     node works), here N executions of one item each;
 *   - the ideal: T.
 * Prints figures; asserts nothing.
 */
import { disposeHarness } from '../engine/harness';
import { API_KEY, runStatusNode } from '../fixtures/cambWorkflow';
import { startStandIn, type Reply } from '../stand-in/cambStandIn';

const N = Number(process.argv[2] ?? 20);
const PENDING_CHECKS = 2; // with 1 s between checks, each task finishes after about T = 2 s
const LATENCY_MS = 50;
const parameters = {
	waitForCompletion: true,
	fetchResultUrls: false,
	options: { firstIntervalSeconds: 1, maxIntervalSeconds: 1, maxWaitSeconds: 60 },
};

async function main(): Promise<void> {
	const camb = await startStandIn({ apiKey: API_KEY, latencyMs: LATENCY_MS });
	const script = (prefix: string) => {
		const pending: Reply = { json: { status: 'PENDING' } };
		const ids = Array.from({ length: N }, (_, i) => `${prefix}-${i}`);
		for (const id of ids)
			camb.task(id, ...Array(PENDING_CHECKS).fill(pending), {
				json: { status: 'SUCCESS', run_id: 1 },
			});
		return ids;
	};
	try {
		// Warm-up: the first run pays for loading n8n-core.
		await runStatusNode(camb.baseUrl, [{ task_id: 'warm' }], {
			parameters: { fetchResultUrls: false, options: { notFoundAsPending: true } },
		});

		const together = script('together');
		let started = Date.now();
		const result = await runStatusNode(
			camb.baseUrl,
			together.map((task_id) => ({ task_id })),
			{ parameters },
		);
		const togetherMs = Date.now() - started;
		if (result.success.length !== N)
			throw new Error(`expected ${N} successes, got ${result.success.length}`);

		const oneByOne = script('sequential');
		started = Date.now();
		for (const task_id of oneByOne) {
			const single = await runStatusNode(camb.baseUrl, [{ task_id }], { parameters });
			if (single.success.length !== 1) throw new Error(`task ${task_id} did not succeed`);
		}
		const sequentialMs = Date.now() - started;

		const idealMs = PENDING_CHECKS * 1000 + (PENDING_CHECKS + 1) * LATENCY_MS;
		const row = (name: string, ms: number) =>
			`| ${name.padEnd(34)} | ${(ms / 1000).toFixed(2).padStart(7)} s | ${(ms / idealMs).toFixed(2).padStart(6)} x |`;
		console.log(
			`N = ${N} tasks, each PENDING for ${PENDING_CHECKS} checks 1 s apart, stand-in latency ${LATENCY_MS} ms`,
		);
		console.log(`| ${'how'.padEnd(34)} | wall time | vs ideal |`);
		console.log(`| ${'-'.repeat(34)} | --------- | -------- |`);
		console.log(row('ideal (T)', idealMs));
		console.log(row('Wait for Completion, one execution', togetherMs));
		console.log(row('one after another', sequentialMs));
		console.log(
			`one after another / Wait for Completion = ${(sequentialMs / togetherMs).toFixed(1)} x`,
		);
	} finally {
		await camb.close();
		disposeHarness();
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
