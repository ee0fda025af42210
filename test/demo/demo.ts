/**
 * `npm run demo`, in n8n's real workflow engine against the local CAMB stand-ins
 * (test/fixtures/demoScenario.ts): first the whole pipeline, a recording submitted by Camb
 * Separate Audio and followed by Camb Separation Status until its stems are downloaded; then a
 * handful of tasks in every state, checked once, with result links fetched and stems downloaded.
 * Prints which item left on which output and why. Nothing to configure; nothing leaves 127.0.0.1. demo.test.ts runs runDemo() and
 * asserts what it prints, so the main job cannot rot unnoticed.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { disposeHarness } from '../engine/harness';
import { API_KEY, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import { runPipeline, type PipelineRun } from '../fixtures/cambSubmit';
import { DEMO_UPLOAD, demoRecording, startDemoCamb } from '../fixtures/demoScenario';

const OUTPUT_NAMES = ['Success', 'Pending', 'Failure'] as const;

export interface DemoReport {
	/** Part 1: the recording submitted and followed to its stems. */
	pipeline: PipelineRun;
	/** Part 2: the tasks in every state. */
	run: StatusRun;
	/** Everything the demo prints, line by line. */
	lines: string[];
	/** The closing line, also the last of `lines`. */
	summary: string;
}

/** Runs the demo once; `say` sees each line as it is ready. */
export async function runDemo(say: (line: string) => void = () => {}): Promise<DemoReport> {
	const lines: string[] = [];
	const print = (line = '') => {
		lines.push(line);
		say(line);
	};
	const started = Date.now();
	const demo = await startDemoCamb();
	try {
		print(`CAMB stand-in on ${demo.camb.baseUrl}, storage host on ${demo.storage.baseUrl}.`);
		print();
		const pipeline = await showPipeline(print, demo.camb.baseUrl);
		print(
			`Checking ${demo.items.length} tasks with Camb Separation Status in n8n's workflow engine (n8n-core),`,
		);
		print('with Fetch Result URLs and Download Stems on…');
		print();

		const run = await runStatusNode(demo.camb.baseUrl, demo.items, {
			parameters: { downloadStems: true },
		});
		if (run.run.error) throw new Error(`the run failed: ${run.run.error.message}`);

		[run.success, run.pending, run.failure].forEach((items, output) => {
			print(`${OUTPUT_NAMES[output]} (${items.length})`);
			for (const item of items) for (const line of describe(item)) print(`  ${line}`);
			print();
		});

		const stems = [...pipeline.success, ...run.success].flatMap((item) =>
			Object.values(item.binary ?? {}),
		);
		const keyed = demo.camb.requests.filter(
			(request) => request.headers['x-api-key'] === API_KEY,
		).length;
		const keyToStorage = demo.storage.requests.filter(
			(request) => 'x-api-key' in request.headers,
		).length;
		print(
			`CAMB stand-in: ${demo.camb.requests.length} requests, ${keyed} with the credential's x-api-key. ` +
				`Storage host: ${demo.storage.requests.length} downloads, ${keyToStorage} with the key.`,
		);
		const seconds = ((Date.now() - started) / 1000).toFixed(1);
		const out = run.success.length + run.pending.length + run.failure.length;
		const summary =
			`Summary: ${pipeline.submitted.length} recording submitted and ${pipeline.success.length} separated; ${demo.items.length} tasks in, ${out} out: ${run.success.length} Success, ` +
			`${run.pending.length} Pending, ${run.failure.length} Failure; ${stems.length} stems downloaded, in ${seconds} s.`;
		print(summary);
		return { pipeline, run, lines, summary };
	} finally {
		await demo.close();
	}
}

/** Part 1: a file in, stems out, through both nodes. */
async function showPipeline(print: (line?: string) => void, baseUrl: string): Promise<PipelineRun> {
	const recording = demoRecording();
	print(
		`1. The whole pipeline: ${DEMO_UPLOAD.fileName} (${recording.length} bytes) -> Camb Separate Audio -> ` +
			'Camb Separation Status (Wait for Completion, Download Stems)',
	);
	const pipeline = await runPipeline(
		baseUrl,
		[{ data: recording, fileName: DEMO_UPLOAD.fileName, mimeType: DEMO_UPLOAD.mimeType }],
		{
			status: {
				waitForCompletion: true,
				downloadStems: true,
				options: { firstIntervalSeconds: 1 },
			},
		},
	);
	if (pipeline.run.error) throw new Error(`the pipeline failed: ${pipeline.run.error.message}`);
	const [submitted] = pipeline.submitted;
	print(
		`   submitted: task_id ${String(submitted.json.task_id)} at ${String(submitted.json.submitted_at)}`,
	);
	for (const item of pipeline.success) {
		print(
			`   Success after ${String(item.json.check_count)} checks: task ${String(item.json.task_id)}, run_id ${String(item.json.run_id)}`,
		);
		for (const [property, binary] of Object.entries(item.binary ?? {}))
			print(`   stem "${property}": ${binary.fileName}, ${binary.mimeType}, ${binary.fileSize}`);
	}
	for (const item of [...pipeline.pending, ...pipeline.failure])
		print(`   NOT separated: ${String(item.json.status)} ${String(item.json.message ?? '')}`);
	print();
	print('2. Tasks in every state, checked once:');
	return pipeline;
}

function describe(item: INodeExecutionData): string[] {
	const { task_id, status, run_id, reason, retryable, message, story, next_check_in_seconds } =
		item.json;
	const index = (item.pairedItem as { item: number }).item;
	const head = `item ${index}  ${String(task_id).padEnd(14)} ${String(status).padEnd(17)}`;
	if (reason !== undefined)
		return [`${head} reason ${reason}, retryable ${retryable}`, `         ${message}`];
	const lines = [`${head} ${run_id === undefined ? '' : `run_id ${run_id}  `}(${story})`];
	if (next_check_in_seconds !== undefined)
		lines.push(`         next_check_in_seconds: ${next_check_in_seconds}`);
	for (const key of ['foreground_audio_url', 'background_audio_url']) {
		if (typeof item.json[key] === 'string') lines.push(`         ${key}: ${item.json[key]}`);
	}
	for (const [property, binary] of Object.entries(item.binary ?? {})) {
		lines.push(
			`         stem "${property}": ${binary.fileName}, ${binary.mimeType}, ${binary.fileSize}`,
		);
	}
	return lines;
}

if (require.main === module) {
	runDemo((line) => console.log(line))
		.catch((error) => {
			console.error(error);
			process.exitCode = 1;
		})
		.finally(disposeHarness);
}
