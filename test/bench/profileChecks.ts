/**
 * `npm run bench:profile`: where the CPU time of status checks goes. Runs Camb Separation Status
 * in n8n's engine (test/engine/harness.ts) on --n task ids against a stand-in that answers at
 * once (so the run is CPU-bound), --repeats times after a warm-up, under V8's sampling profiler
 * (node:inspector), and prints self time per part: this package's node code, n8n-core,
 * n8n-workflow, axios and the other libraries, Node's internals, garbage collection, and the
 * stand-in (test code, in the same process). Prints figures; asserts nothing.
 *
 * Options: --n 300   --repeats 5   --top 15 (functions of ours listed)
 */
import { Session } from 'node:inspector/promises';

import { disposeHarness } from '../engine/harness';
import { API_KEY, runStatusNode } from '../fixtures/cambWorkflow';
import { startStandIn } from '../stand-in/cambStandIn';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}
interface Profile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
}

function option(name: string, fallback: number): number {
	const at = process.argv.indexOf(`--${name}`);
	return at === -1 ? fallback : Number(process.argv[at + 1]);
}

/** Which part of the process a stack frame belongs to. */
function partOf(url: string, functionName: string): string {
	if (functionName === '(garbage collector)') return 'garbage collection';
	if (functionName === '(idle)' || functionName === '(program)') return `V8 ${functionName}`;
	if (/\/nodes\/(CambSeparationStatus|CambSeparateAudio|shared)\//.test(url))
		return 'this package (nodes/)';
	if (url.includes('/test/')) return 'test code (stand-in, harness)';
	const lib = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
	if (lib)
		return ['n8n-core', 'n8n-workflow', 'axios'].includes(lib[1]) ? lib[1] : 'other libraries';
	if (url.startsWith('node:') || url === '') return "Node's internals";
	return 'other';
}

async function main(): Promise<void> {
	const n = option('n', 300);
	const repeats = option('repeats', 5);
	const top = option('top', 15);
	const camb = await startStandIn({ apiKey: API_KEY });
	const taskIds = Array.from({ length: n }, (_, i) => `task-${i}`);
	taskIds.forEach((id, i) => camb.task(id, { json: ['SUCCESS', 'PENDING', 'ERROR'][i % 3] }));
	const items = taskIds.map((task_id) => ({ task_id }));
	const run = async () => {
		const result = await runStatusNode(camb.baseUrl, items, {
			parameters: { fetchResultUrls: false },
		});
		if (result.run.error) throw result.run.error;
	};
	await run(); // warm-up: JIT, module loading

	const session = new Session();
	session.connect();
	await session.post('Profiler.enable');
	await session.post('Profiler.setSamplingInterval', { interval: 100 });
	await session.post('Profiler.start');
	const started = process.hrtime.bigint();
	for (let i = 0; i < repeats; i++) await run();
	const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
	const { profile } = (await session.post('Profiler.stop')) as { profile: Profile };
	session.disconnect();
	await camb.close();

	const byId = new Map(profile.nodes.map((node) => [node.id, node]));
	const selfUs = new Map<number, number>();
	profile.samples.forEach((id, i) =>
		selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
	);
	const parts = new Map<string, number>();
	const ours = new Map<string, number>();
	let totalUs = 0;
	for (const [id, us] of selfUs) {
		const { callFrame } = byId.get(id) as ProfileNode;
		const part = partOf(callFrame.url, callFrame.functionName);
		totalUs += us;
		parts.set(part, (parts.get(part) ?? 0) + us);
		if (part === 'this package (nodes/)') {
			const where = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.replace(/.*\/nodes\//, 'nodes/')}:${callFrame.lineNumber + 1}`;
			ours.set(where, (ours.get(where) ?? 0) + us);
		}
	}
	const checks = n * repeats;
	console.log(
		`${checks} checks (${repeats} runs of ${n}) in ${(wallMs / 1000).toFixed(2)} s: ${(wallMs / checks).toFixed(3)} ms per check, wall time`,
	);
	console.log('self time by part (sampled):');
	for (const [part, us] of [...parts].sort((a, b) => b[1] - a[1])) {
		console.log(
			`  ${part.padEnd(32)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${(us / 1000 / checks).toFixed(3)} ms per check`,
		);
	}
	console.log(`this package's busiest functions (self time):`);
	for (const [where, us] of [...ours].sort((a, b) => b[1] - a[1]).slice(0, top))
		console.log(`  ${(us / 1000).toFixed(1).padStart(7)} ms  ${where}`);
}

main()
	.catch((error) => {
		console.error(error);
		process.exitCode = 1;
	})
	.finally(disposeHarness);
