/**
 * `npm run demo`: a handful of separation tasks in every state (test/fixtures/demoScenario.ts),
 * checked by the Camb Separation Status node inside n8n's real workflow engine against the local
 * CAMB stand-in, with result links fetched and stems downloaded. Prints which item left on which
 * output and why. Nothing to configure; nothing leaves 127.0.0.1. demo.test.ts runs runDemo() and
 * asserts what it prints, so the main job cannot rot unnoticed.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { disposeHarness } from '../engine/harness';
import { API_KEY, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import { startDemoCamb } from '../fixtures/demoScenario';

const OUTPUT_NAMES = ['Success', 'Pending', 'Failure'] as const;

export interface DemoReport {
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
	const demo = await startDemoCamb();
	try {
		print(`CAMB stand-in on ${demo.camb.baseUrl}, storage host on ${demo.storage.baseUrl}.`);
		print(
			`Checking ${demo.items.length} tasks with Camb Separation Status in n8n's workflow engine (n8n-core),`,
		);
		print('with Fetch Result URLs and Download Stems on…');
		print();

		const started = Date.now();
		const run = await runStatusNode(demo.camb.baseUrl, demo.items, {
			parameters: { downloadStems: true },
		});
		if (run.run.error) throw new Error(`the run failed: ${run.run.error.message}`);
		const seconds = ((Date.now() - started) / 1000).toFixed(1);

		[run.success, run.pending, run.failure].forEach((items, output) => {
			print(`${OUTPUT_NAMES[output]} (${items.length})`);
			for (const item of items) for (const line of describe(item)) print(`  ${line}`);
			print();
		});

		const stems = [...run.success].flatMap((item) => Object.values(item.binary ?? {}));
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
		const out = run.success.length + run.pending.length + run.failure.length;
		const summary =
			`Summary: ${demo.items.length} items in, ${out} out: ${run.success.length} Success, ${run.pending.length} Pending, ` +
			`${run.failure.length} Failure; ${stems.length} stems downloaded, in ${seconds} s.`;
		print(summary);
		return { run, lines, summary };
	} finally {
		await demo.close();
	}
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
