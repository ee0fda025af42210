/**
 * One measured run of the stem benchmark, in a child process of stemMemory.ts (forked with
 * --expose-gc; never run by hand). The process is fresh, so its memory peaks belong to this run.
 *
 * 1. load the harness (a temp N8N_USER_FOLDER) and the node under test;
 * 2. warm up: the same workflow once with tiny stems, so module loading and n8n-core's first-use
 *    set-up are not counted;
 * 3. gc, take the baseline, sample process.memoryUsage() every `sampleMs` while the workflow
 *    downloads two stems of `stemBytes` each, and read the kernel's peak RSS afterwards;
 * 4. check every stem (size and content, streamed) and report to the parent over IPC.
 */
// Must stay the first import: sets N8N_USER_FOLDER (a temp dir) before n8n-core is loaded.
import {
	binaryDataStream,
	disposeHarness,
	harnessUserFolder,
	runWorkflow,
	type HarnessBinaryDataMode,
	type WorkflowRun,
} from '../engine/harness';
import { checkStreamPattern } from '../stand-in/cambStandIn';
import { NODES_UNDER_TEST, type StemBenchHosts, type StemBenchInput } from './stemNodes';

export interface RunSpec {
	/** Key of NODES_UNDER_TEST. */
	node: string;
	binaryDataMode: HarnessBinaryDataMode;
	stemBytes: number;
	input: StemBenchInput;
	/** Same shape, tiny stems: the warm-up run. */
	warmup: StemBenchInput;
	warmupStemBytes: number;
	hosts: StemBenchHosts;
	/** Harness execution timeout for the measured run. */
	timeoutMs: number;
	sampleMs: number;
}

interface MemoryFigures {
	rss: number;
	heapUsed: number;
	/**
	 * process.memoryUsage().external: memory outside the V8 heap tied to JS objects, which
	 * includes every Buffer (arrayBuffers is a part of it) and the large strings Node makes for
	 * base64 (external strings), i.e. where inline binary data ends up.
	 */
	external: number;
}

export interface RunResult {
	wallMs: number;
	baseline: MemoryFigures;
	/** Highest value of each figure over the samples (each figure's own peak). */
	peak: MemoryFigures;
	samples: number;
	/** The kernel's high-water mark of RSS (getrusage ru_maxrss) after the run, in bytes. */
	kernelMaxRss: number;
	/** The same before the measured run: if equal to kernelMaxRss, the run set no new high. */
	kernelMaxRssBefore: number;
	stems: Array<{
		bytes: number;
		stored: 'file' | 'inline';
		firstMismatch?: number;
		fileSize?: string;
	}>;
}

export type ChildMessage =
	| { type: 'started'; userFolder: string }
	| { type: 'result'; result: RunResult }
	| { type: 'failed'; error: string };

function send(message: ChildMessage): Promise<void> {
	return new Promise((resolve) => {
		if (!process.send) {
			console.log(JSON.stringify(message));
			resolve();
			return;
		}
		process.send(message, () => resolve());
	});
}

function memory(): MemoryFigures {
	const usage = process.memoryUsage();
	return { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external };
}

async function collectGarbage(): Promise<void> {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (!gc) throw new Error('stemMemoryRun needs node --expose-gc');
	// A few rounds with turns of the event loop in between, so finalizers and freed Buffers settle.
	for (let round = 0; round < 3; round++) {
		gc();
		await new Promise((resolve) => setImmediate(resolve));
	}
}

async function runOnce(
	spec: RunSpec,
	input: StemBenchInput,
	timeoutMs: number,
): Promise<WorkflowRun> {
	const subject = NODES_UNDER_TEST[spec.node];
	const { types, workflow, startNode } = subject.setup(spec.hosts);
	const run = await runWorkflow(
		workflow,
		{ nodeName: startNode, items: [{ json: { ...input } }] },
		types,
		{
			binaryDataMode: spec.binaryDataMode,
			timeoutMs,
		},
	);
	if (run.status !== 'success') {
		const error = run.error ?? run.tasks(startNode)[0]?.error;
		throw new Error(`the run ended '${run.status}': ${error?.message ?? 'no error recorded'}`);
	}
	return run;
}

/** Streams every stem through the pattern check; nothing of it is kept. */
async function checkStems(spec: RunSpec, run: WorkflowRun): Promise<RunResult['stems']> {
	const stems = NODES_UNDER_TEST[spec.node].stems(run);
	const checked: RunResult['stems'] = [];
	for (const stem of stems) {
		const check = checkStreamPattern();
		for await (const chunk of await binaryDataStream(stem)) check.update(chunk as Buffer);
		checked.push({
			bytes: check.bytes,
			stored: stem.id ? 'file' : 'inline',
			firstMismatch: check.firstMismatch,
			fileSize: stem.fileSize,
		});
	}
	return checked;
}

async function main(): Promise<void> {
	const spec = JSON.parse(process.argv[2] ?? '') as RunSpec;
	if (!NODES_UNDER_TEST[spec.node]) throw new Error(`unknown node under test "${spec.node}"`);
	await send({ type: 'started', userFolder: harnessUserFolder });

	const warm = await runOnce(spec, spec.warmup, 30_000);
	const warmStems = await checkStems(spec, warm);
	if (
		warmStems.length !== 2 ||
		warmStems.some((s) => s.bytes !== spec.warmupStemBytes || s.firstMismatch !== undefined)
	) {
		throw new Error(`warm-up run: unexpected stems ${JSON.stringify(warmStems)}`);
	}
	warm.deleteBinaryData();

	await collectGarbage();
	const baseline = memory();
	const kernelMaxRssBefore = process.resourceUsage().maxRSS * 1024;
	const peak = { ...baseline };
	let samples = 0;
	const sample = () => {
		const now = memory();
		samples += 1;
		peak.rss = Math.max(peak.rss, now.rss);
		peak.heapUsed = Math.max(peak.heapUsed, now.heapUsed);
		peak.external = Math.max(peak.external, now.external);
	};
	const sampler = setInterval(sample, spec.sampleMs);

	const started = process.hrtime.bigint();
	let run: WorkflowRun;
	try {
		run = await runOnce(spec, spec.input, spec.timeoutMs);
	} finally {
		sample();
		clearInterval(sampler);
	}
	const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
	const kernelMaxRss = process.resourceUsage().maxRSS * 1024;

	const stems = await checkStems(spec, run);
	run.deleteBinaryData();
	await send({
		type: 'result',
		result: { wallMs, baseline, peak, samples, kernelMaxRss, kernelMaxRssBefore, stems },
	});
}

main()
	.catch(async (error: unknown) => {
		await send({
			type: 'failed',
			error: error instanceof Error ? (error.stack ?? error.message) : String(error),
		});
		process.exitCode = 1;
	})
	.finally(() => {
		disposeHarness();
		if (process.connected) process.disconnect();
	});
