/**
 * `npm run demo`: a handful of separation tasks in every state, checked by the Camb Separation
 * Status node inside n8n's real workflow engine, against the local CAMB stand-in.
 * Prints which item left on which output, and why. Nothing to configure; nothing leaves 127.0.0.1.
 */
import type { INodeExecutionData } from 'n8n-workflow';

import { disposeHarness } from '../engine/harness';
import { API_KEY, runStatusNode } from '../fixtures/cambWorkflow';
import { startStandIn, type Reply } from '../stand-in/camb-stand-in';

const TASKS: Array<[taskId: string, story: string, ...replies: Reply[]]> = [
	['sep-ready', 'finished (object answer)', { json: { status: 'SUCCESS', run_id: 1001, exception_reason: null, message: null } }],
	['sep-bare', 'finished (bare string answer, as the API reference shows)', { json: 'SUCCESS' }],
	['sep-busy', 'finished, after one 429 with Retry-After: 1', { status: 429, json: { detail: 'Too many requests' }, headers: { 'retry-after': '1' } }, { json: { status: 'SUCCESS', run_id: 1003 } }],
	['sep-running', 'still processing', { json: { status: 'PENDING', run_id: null } }],
	['sep-too-big', 'failed: file too large', { json: { status: 'ERROR', exception_reason: 'SOURCE_TOO_LARGE', message: 'File exceeds 500 MB' } }],
	['sep-flaky', 'failed: processing error', { json: { status: 'error', exception_reason: 'PROCESSING_ERROR' } }],
	['sep-long', 'ran too long on CAMB\'s side', { json: 'TIMEOUT' }],
	['sep-credits', 'account out of credits', { json: { status: 'PAYMENT_REQUIRED' } }],
	['sep-typo', 'an id CAMB does not know (404)'],
	['sep-new-state', 'a status this node does not know', { json: { status: 'ARCHIVED' } }],
];

const OUTPUT_NAMES = ['Success', 'Pending', 'Failure'];

async function main(): Promise<void> {
	const camb = await startStandIn({ apiKey: API_KEY });
	try {
		for (const [taskId, , ...replies] of TASKS) if (replies.length) camb.task(taskId, ...replies);
		console.log(`CAMB stand-in listening on ${camb.baseUrl}; running the node in n8n's workflow engine (n8n-core)…\n`);

		const started = Date.now();
		const result = await runStatusNode(
			camb.baseUrl,
			TASKS.map(([task_id, story]) => ({ task_id, story })),
		);
		if (result.run.error) throw new Error(`the run failed: ${result.run.error.message}`);

		[result.success, result.pending, result.failure].forEach((items, output) => {
			console.log(`${OUTPUT_NAMES[output]} (${items.length})`);
			for (const item of items) console.log(`  ${describe(item)}`);
			console.log('');
		});

		const keyed = camb.requests.filter((request) => request.headers['x-api-key'] === API_KEY).length;
		console.log(
			`${TASKS.length} items in, ${result.success.length + result.pending.length + result.failure.length} out, ` +
				`in ${((Date.now() - started) / 1000).toFixed(1)} s. The stand-in saw ${camb.requests.length} requests ` +
				`(${keyed} with the credential's x-api-key header).`,
		);
	} finally {
		await camb.close();
		disposeHarness();
	}
}

function describe(item: INodeExecutionData): string {
	const { task_id, status, run_id, reason, retryable, message, story } = item.json;
	const index = (item.pairedItem as { item: number }).item;
	const head = `item ${index}  ${String(task_id).padEnd(14)} ${String(status).padEnd(17)}`;
	if (reason === undefined) return `${head} ${run_id === undefined ? '' : `run_id ${run_id}  `}(${story})`;
	return `${head} reason ${reason}, retryable ${retryable}\n${' '.repeat(11)}${message}`;
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
