/**
 * `npm run bench` (realN8n.ts), benchmarks a, b and c: status checks per second, waiting side by
 * side versus one after another, peak memory while downloading stems.
 */
import * as fs from 'node:fs';

import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { executeSampling, storedBinaryFile } from '../e2e/n8n';
import { resultPath, type Reply } from '../stand-in/cambStandIn';
import { STATUS_NODE_NAME } from '../fixtures/package';
import {
	HTTP_NODE,
	LOOP_NODE,
	MiB,
	SAMPLE_MS,
	SWITCH_NODE,
	WAIT_INTERVAL_S,
	WAIT_PENDING_CHECKS,
	httpSwitchWorkflow,
	nodeCheckWorkflow,
	stemsWorkflow,
	waitOneByOneWorkflow,
	waitTogetherWorkflow,
} from './realN8nWorkflows';
import { Context, median, mustSucceed, nodeSpan, printTable } from './realN8nMeasure';

// ---- a. status checks per second -----------------------------------------------------------------

export async function benchThroughput({ options, session, camb }: Context): Promise<void> {
	const { n, latencyMs, repeats } = options;
	const ids = Array.from({ length: n }, (_, i) => `throughput-${String(i).padStart(4, '0')}`);
	// A third each: finished, still running, failed. One request per task (no result links).
	const replies: Reply[] = [
		{ json: { status: 'SUCCESS', run_id: 7, exception_reason: null, message: null } },
		{ json: { status: 'PENDING', run_id: null, exception_reason: null, message: null } },
		{
			json: { status: 'ERROR', run_id: null, exception_reason: 'PROCESSING_ERROR', message: null },
		},
	];
	const script = () => ids.forEach((id, i) => camb.task(id, replies[i % 3]));

	const variants = [
		...options.inFlight.map((k) => ({
			label: `this node, Max Requests in Flight ${k}${k === DEFAULTS.maxInFlight ? ' (default)' : ''}`,
			inFlight: k,
			workflow: nodeCheckWorkflow(ids, k),
			nodes: [STATUS_NODE_NAME],
		})),
		{
			label: 'HTTP Request + Switch',
			inFlight: n,
			workflow: httpSwitchWorkflow(ids, camb.baseUrl),
			nodes: [HTTP_NODE, SWITCH_NODE],
		},
	];
	const workflowIds = await session.importWorkflows(variants.map((variant) => variant.workflow));
	const measured = variants.map(() => ({ ms: [] as number[], peak: 0 }));
	// Round-robin, so a slow moment of the machine hits every variant alike.
	for (let round = 0; round < repeats; round++) {
		for (const [i, variant] of variants.entries()) {
			camb.reset();
			script();
			const result = await session.execute(workflowIds[i], { timeoutMs: 180_000 });
			mustSucceed(result, variant.label);
			const routed =
				variant.nodes[0] === STATUS_NODE_NAME
					? result.runsOf(STATUS_NODE_NAME)[0]
					: result.runsOf(SWITCH_NODE)[0];
			const counts = routed.outputs.map((items) => items.length);
			const expected = [Math.ceil(n / 3), Math.ceil((n - 1) / 3), Math.floor(n / 3)];
			if (counts.slice(0, 3).join() !== expected.join())
				throw new Error(
					`${variant.label}: routed ${counts.join('/')} instead of ${expected.join('/')}`,
				);
			if (camb.requests.length !== n)
				throw new Error(`${variant.label}: ${camb.requests.length} requests instead of ${n}`);
			measured[i].ms.push(nodeSpan(result, variant.nodes).ms);
			measured[i].peak = Math.max(measured[i].peak, camb.maxConcurrent);
		}
	}

	console.log(
		`\n## a. Status checks per second: N = ${n} task ids, stand-in latency ${latencyMs} ms, median of ${repeats} runs`,
	);
	console.log(
		"Time is the nodes' own time from n8n's run data (startTime/executionTime), start-up excluded.\n",
	);
	const defaultMs = median(measured[0].ms);
	const httpMs = median(measured[measured.length - 1].ms);
	printTable(
		[
			'how',
			'node time s',
			'checks/s',
			'peak in flight',
			'limit checks/s',
			'of limit',
			'speed vs HTTP+Switch',
		],
		variants.map((variant, i) => {
			const ms = median(measured[i].ms);
			const rate = n / (ms / 1000);
			// Requests in flight / latency: the most a client holding that many requests open can do.
			const limit = Math.min(variant.inFlight, n) / (latencyMs / 1000);
			return [
				variant.label,
				(ms / 1000).toFixed(2),
				rate.toFixed(0),
				String(measured[i].peak),
				limit.toFixed(0),
				`${((rate / limit) * 100).toFixed(0)} %`,
				`${(httpMs / ms).toFixed(2)} x`,
			];
		}),
	);
	console.log(
		`\nruns (s): ${variants.map((variant, i) => `${variant.label}: ${measured[i].ms.map((ms) => (ms / 1000).toFixed(2)).join(', ')}`).join('; ')}`,
	);
	const fastestMs = Math.min(...measured.slice(0, -1).map((m) => median(m.ms)));
	console.log(
		`this node takes ${(defaultMs / httpMs).toFixed(2)} x the time of HTTP Request + Switch at its default of ${DEFAULTS.maxInFlight} in flight, ` +
			`${(fastestMs / httpMs).toFixed(2)} x at its best setting here`,
	);
}

// ---- b. waiting side by side versus one after another ----------------------------------------------

export async function benchWait({ options, session, camb }: Context): Promise<void> {
	const { waitN: n, latencyMs } = options;
	const pending: Reply = {
		json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
	};
	const done: Reply = {
		json: { status: 'SUCCESS', run_id: 9, exception_reason: null, message: null },
	};
	const idsFor = (prefix: string) =>
		Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
	const together = idsFor('together');
	const oneByOne = idsFor('one-by-one');
	const [togetherId, oneByOneId] = await session.importWorkflows([
		waitTogetherWorkflow(together),
		waitOneByOneWorkflow(oneByOne),
	]);
	const script = (ids: string[]) =>
		ids.forEach((id) => camb.task(id, ...Array<Reply>(WAIT_PENDING_CHECKS).fill(pending), done));

	camb.reset();
	script(together);
	const togetherRun = await session.execute(togetherId, { timeoutMs: 180_000 });
	mustSucceed(togetherRun, 'wait together');
	const togetherSuccess = togetherRun.runsOf(STATUS_NODE_NAME)[0].outputs[0].length;
	const togetherMs = nodeSpan(togetherRun, [STATUS_NODE_NAME]).ms;

	camb.reset();
	script(oneByOne);
	const oneByOneRun = await session.execute(oneByOneId, { timeoutMs: 300_000 });
	mustSucceed(oneByOneRun, 'one after another');
	const loopRuns = oneByOneRun.runsOf(STATUS_NODE_NAME);
	const oneByOneSuccess = loopRuns.reduce((sum, run) => sum + run.outputs[0].length, 0);
	const oneByOneMs = nodeSpan(oneByOneRun, [LOOP_NODE, STATUS_NODE_NAME]).ms;
	if (togetherSuccess !== n || oneByOneSuccess !== n || loopRuns.length !== n) {
		throw new Error(
			`b: expected ${n} successes each (and ${n} runs of the node in the loop), got ${togetherSuccess}, ${oneByOneSuccess} (${loopRuns.length} runs)`,
		);
	}

	const idealMs =
		WAIT_PENDING_CHECKS * WAIT_INTERVAL_S * 1000 + (WAIT_PENDING_CHECKS + 1) * latencyMs;
	console.log(
		`\n## b. Wall time to resolve N = ${n} tasks, each PENDING for ${WAIT_PENDING_CHECKS} checks ${WAIT_INTERVAL_S} s apart, then SUCCESS (T = ${(idealMs / 1000).toFixed(2)} s), latency ${latencyMs} ms\n`,
	);
	printTable(
		['how', 'wall s', 'vs ideal'],
		[
			['ideal (T)', (idealMs / 1000).toFixed(2), '1.00 x'],
			[
				'Wait for Completion, all items in one run of the node',
				(togetherMs / 1000).toFixed(2),
				`${(togetherMs / idealMs).toFixed(2)} x`,
			],
			[
				`one after another (Loop Over Items, batch size 1, ${n} runs of the node)`,
				(oneByOneMs / 1000).toFixed(2),
				`${(oneByOneMs / idealMs).toFixed(2)} x`,
			],
		],
	);
	console.log(
		`\none after another / Wait for Completion = ${(oneByOneMs / togetherMs).toFixed(1)} x`,
	);
}

// ---- c. peak memory while downloading stems ---------------------------------------------------------

export async function benchStems({ options, session, camb, storage }: Context): Promise<void> {
	const sizes = [0.0625, ...options.stemsMiB]; // 64 KiB first: the same run with next to no data
	const rows: string[][] = [];
	let baselineGrowth: number | undefined;
	for (const [i, stemMiB] of sizes.entries()) {
		const bytes = Math.round(stemMiB * MiB);
		const runId = 500 + i;
		const taskId = `stems-${i}`;
		camb.reset();
		storage.reset();
		const url = (file: string) =>
			`${storage.baseUrl}/separation/${runId}/${file}?X-Amz-Expires=3600&X-Amz-Signature=bench`;
		for (const file of ['fg_audio.flac', 'bg_audio.flac'])
			storage.on('GET', `/separation/${runId}/${file}`, {
				stream: { bytes, contentType: 'audio/flac' },
			});
		camb.task(taskId, {
			json: { status: 'SUCCESS', run_id: runId, exception_reason: null, message: null },
		});
		camb.on('GET', resultPath(runId), {
			json: {
				foreground_audio_url: url('fg_audio.flac'),
				background_audio_url: url('bg_audio.flac'),
			},
		});
		camb.on('POST', '/audio-separation-results', {
			json: {
				[runId]: {
					foreground_audio_url: url('fg_audio.flac'),
					background_audio_url: url('bg_audio.flac'),
				},
			},
		});
		const [workflowId] = await session.importWorkflows([stemsWorkflow(taskId)]);

		const { result, samples } = await executeSampling(session, workflowId, {
			timeoutMs: 300_000,
			everyMs: SAMPLE_MS,
		});
		mustSucceed(result, `stems of ${stemMiB} MiB`);
		const span = nodeSpan(result, [STATUS_NODE_NAME]);
		const [item] = result.runsOf(STATUS_NODE_NAME)[0].outputs[0];
		for (const property of ['foreground', 'background']) {
			const file = storedBinaryFile(session, item?.binary?.[property]);
			if (!file)
				throw new Error(
					`stems of ${stemMiB} MiB: ${property} is not in n8n's filesystem store: ${JSON.stringify(item?.binary?.[property])?.slice(0, 300)}`,
				);
			const size = fs.statSync(file).size;
			if (size !== bytes)
				throw new Error(
					`stems of ${stemMiB} MiB: ${property} has ${size} bytes instead of ${bytes}`,
				);
			fs.rmSync(file); // Keep the temp folder small.
		}
		// RSS just before the node started, and its peak while the node ran.
		const before = samples.filter((sample) => sample.at <= span.start).at(-1) ?? samples[0];
		const during = samples.filter(
			(sample) => sample.at >= span.start - SAMPLE_MS && sample.at <= span.end + SAMPLE_MS,
		);
		if (!before || during.length === 0)
			throw new Error(
				`stems of ${stemMiB} MiB: no memory samples while the node ran (${samples.length} in all)`,
			);
		const peakKiB = Math.max(...during.map((sample) => sample.rssKiB));
		const growthMiB = (peakKiB - before.rssKiB) / 1024;
		const hwmMiB = Math.max(...samples.map((sample) => sample.hwmKiB)) / 1024;
		baselineGrowth ??= growthMiB;
		const totalMiB = (2 * bytes) / MiB;
		rows.push([
			stemMiB < 1 ? `${stemMiB * 1024} KiB` : `${stemMiB} MiB`,
			totalMiB.toFixed(1),
			(span.ms / 1000).toFixed(2),
			(totalMiB / (span.ms / 1000)).toFixed(0),
			(before.rssKiB / 1024).toFixed(0),
			(peakKiB / 1024).toFixed(0),
			growthMiB.toFixed(1),
			(growthMiB - baselineGrowth).toFixed(1),
			hwmMiB.toFixed(0),
			String(during.length),
		]);
	}
	console.log(
		`\n## c. Peak memory of the n8n process while the node downloads two stems, N8N_DEFAULT_BINARY_DATA_MODE=filesystem\n`,
	);
	printTable(
		[
			'stem size',
			'total MiB',
			'node s',
			'MiB/s',
			'RSS at start MiB',
			'peak RSS MiB',
			'growth MiB',
			'growth - 64 KiB run',
			'process VmHWM MiB',
			'samples',
		],
		rows,
	);
	console.log(
		'\nRSS sampled from /proc/<pid>/status every 20 ms; "at start" = the last sample before the node started, "peak" = the highest while it ran.',
	);
}
