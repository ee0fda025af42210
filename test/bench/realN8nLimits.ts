/**
 * `npm run bench` (realN8n.ts), benchmarks r, w and p: against a rate-limited stand-in, Wait for
 * Completion against it, and CPU per check.
 */

import { executeSampling, type Json, type RunResult } from '../e2e/n8n';
import { type Reply } from '../stand-in/cambStandIn';
import { STATUS_NODE_NAME } from '../fixtures/package';
import {
	Credential,
	FAST,
	HTTP_NODE,
	LIMITED,
	LIMITED_BARE,
	RATE_LIMIT,
	SWITCH_NODE,
	httpSwitchWorkflow,
	statusNode,
	taskIdsNode,
	to,
	trigger,
	workflow,
} from './realN8nWorkflows';
import { Context, median, mustSucceed, nodeSpan, printTable } from './realN8nMeasure';

// ---- r. against a rate-limited server -------------------------------------------------------------

/** Items per output of the node or of the Switch (0 Success, 1 Pending, 2 Failure, 3 error output). */
function routedCounts(result: RunResult, nodeName: string): number[] {
	const run = result.runsOf(nodeName)[0];
	return [0, 1, 2, 3].map((output) => run?.outputs[output]?.length ?? 0);
}

export async function benchRateLimit({
	options,
	session,
	limited,
	limitedBare,
}: Context): Promise<void> {
	const { n, repeats } = options;
	const ids = Array.from({ length: n }, (_, i) => `limited-${String(i).padStart(4, '0')}`);
	const reply: Reply = {
		json: { status: 'SUCCESS', run_id: 7, exception_reason: null, message: null },
	};
	const idealS = n / RATE_LIMIT.perSecond;
	console.log(
		`\n## r. ${n} status checks against a rate limit: token bucket ${RATE_LIMIT.perSecond} requests/s, burst ${RATE_LIMIT.burst}, ` +
			`429 beyond it; median of ${repeats} runs. N/R = ${idealS.toFixed(1)} s.\n`,
	);
	const rows: string[][] = [];
	for (const [serverLabel, server, credential] of [
		['Retry-After: 1', limited, LIMITED],
		['no Retry-After', limitedBare, LIMITED_BARE],
	] as const) {
		const variants = [
			{
				label: 'this node, defaults',
				workflow: nodeCheckWorkflowWith(ids, {}, credential),
				routedBy: STATUS_NODE_NAME,
			},
			{
				label: 'HTTP Request + Switch, defaults',
				workflow: httpSwitchWorkflow(ids, server.baseUrl, credential),
				routedBy: SWITCH_NODE,
			},
			{
				label: 'HTTP Request (Retry On Fail) + Switch',
				workflow: httpSwitchWorkflow(ids, server.baseUrl, credential, {
					settings: { retryOnFail: true },
				}),
				routedBy: SWITCH_NODE,
			},
			{
				label: 'HTTP Request (Batching 20 per 1 s) + Switch',
				workflow: httpSwitchWorkflow(ids, server.baseUrl, credential, {
					options: { batching: { batch: { batchSize: 20, batchInterval: 1000 } } },
				}),
				routedBy: SWITCH_NODE,
			},
		];
		const workflowIds = await session.importWorkflows(variants.map((variant) => variant.workflow));
		const runs = variants.map(
			() =>
				[] as Array<{ ms: number; ok: number; failed: number; requests: number; limited: number }>,
		);
		for (let round = 0; round < repeats; round++) {
			for (const [i, variant] of variants.entries()) {
				server.reset();
				ids.forEach((id) => server.task(id, reply));
				// Let the bucket fill up again between runs, as it would between executions.
				await new Promise((resolve) =>
					setTimeout(resolve, (RATE_LIMIT.burst / RATE_LIMIT.perSecond) * 1000 + 200),
				);
				server.reset();
				ids.forEach((id) => server.task(id, reply));
				const startedAt = Date.now();
				const result = await session.execute(workflowIds[i], { timeoutMs: 600_000 });
				const wallMs = Date.now() - startedAt;
				const counts = routedCounts(result, variant.routedBy);
				const ok = result.status === 'success' ? counts[0] : 0;
				const ms =
					result.status === 'success' || result.runsOf(variant.routedBy).length
						? safeSpan(
								result,
								variant.routedBy === STATUS_NODE_NAME
									? [STATUS_NODE_NAME]
									: [HTTP_NODE, SWITCH_NODE],
								wallMs,
							)
						: wallMs;
				runs[i].push({
					ms,
					ok,
					failed: n - ok,
					requests: server.requests.length,
					limited: server.limited,
				});
			}
		}
		variants.forEach((variant, i) => {
			const middle = [...runs[i]].sort((a, b) => a.ms - b.ms)[Math.floor((runs[i].length - 1) / 2)];
			rows.push([
				serverLabel,
				variant.label,
				`${middle.ok} / ${n}`,
				String(middle.failed),
				(middle.ms / 1000).toFixed(1),
				`${(middle.ms / 1000 / idealS).toFixed(2)} x`,
				String(middle.requests),
				`${middle.limited} (${((100 * middle.limited) / Math.max(1, middle.requests)).toFixed(1)} %)`,
			]);
		});
		console.log(
			`runs (${serverLabel}): ${variants.map((variant, i) => `${variant.label}: ${runs[i].map((run) => `${(run.ms / 1000).toFixed(1)} s ${run.ok} ok`).join(', ')}`).join('; ')}`,
		);
	}
	console.log('');
	printTable(
		['server', 'how', 'items routed', 'items failed', 'time s', 'of N/R', 'requests', '429s'],
		rows,
	);
	console.log('\nA run that stopped with an error routed 0 items; its time is until it stopped.');
}

/** The nodes' span from n8n's run data, or the wall time when the run data has none (a failed run). */
function safeSpan(result: RunResult, names: string[], wallMs: number): number {
	try {
		return nodeSpan(result, names).ms;
	} catch {
		return wallMs;
	}
}

function nodeCheckWorkflowWith(
	ids: string[],
	parameters: Json,
	credential: Credential,
	extra: Json = {},
): Json {
	return workflow(
		'bench: node',
		[
			trigger(),
			taskIdsNode(ids),
			statusNode({ fetchResultUrls: false, ...parameters }, credential, extra),
		],
		{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
	);
}

// ---- w. Wait for Completion against a rate-limited server ------------------------------------------

export async function benchWaitLimited({ options, session, limited }: Context): Promise<void> {
	const n = options.waitBigN;
	const pendingChecks = 3;
	const ids = Array.from({ length: n }, (_, i) => `wait-limited-${String(i).padStart(4, '0')}`);
	const pending: Reply = {
		json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
	};
	const done: Reply = {
		json: { status: 'SUCCESS', run_id: 9, exception_reason: null, message: null },
	};
	const requests = n * (pendingChecks + 1);
	const limitS = (requests - RATE_LIMIT.burst) / RATE_LIMIT.perSecond;
	const parameters = {
		waitForCompletion: true,
		fetchResultUrls: false,
		options: { maxWaitSeconds: 3600 },
	};
	const [workflowId] = await session.importWorkflows([
		nodeCheckWorkflowWith(ids, parameters, LIMITED),
	]);
	const rows: string[][] = [];
	const spansMs: number[] = [];
	for (let round = 0; round < options.repeats; round++) {
		limited.reset();
		ids.forEach((id) => limited.task(id, pending, pending, pending, done));
		const { result, samples } = await executeSampling(session, workflowId, {
			timeoutMs: 1_800_000,
			everyMs: 200,
		});
		mustSucceed(result, 'wait under a rate limit');
		const span = nodeSpan(result, [STATUS_NODE_NAME]);
		const counts = routedCounts(result, STATUS_NODE_NAME);
		const before = samples.filter((sample) => sample.at <= span.start).at(-1) ?? samples[0];
		const peak = Math.max(
			...samples.filter((sample) => sample.at >= span.start).map((sample) => sample.rssKiB),
		);
		spansMs.push(span.ms);
		rows.push([
			String(round + 1),
			String(n),
			`${counts[0]} / ${n}`,
			String(n - counts[0] - counts[1] - counts[2] - counts[3]),
			String(counts[2] + counts[3]),
			(span.ms / 1000).toFixed(0),
			limitS.toFixed(0),
			`${(span.ms / 1000 / limitS).toFixed(2)} x`,
			String(limited.requests.length),
			`${limited.limited} (${((100 * limited.limited) / limited.requests.length).toFixed(1)} %)`,
			((peak - (before?.rssKiB ?? peak)) / 1024).toFixed(0),
		]);
	}
	console.log(
		`\n## w. Wait for Completion: ${n} tasks, each PENDING for ${pendingChecks} checks then SUCCESS, against the rate limit ` +
			`(${RATE_LIMIT.perSecond}/s, burst ${RATE_LIMIT.burst}, Retry-After: 1); ${options.repeats} runs. The limit allows ${requests} requests in ${limitS.toFixed(0)} s.\n`,
	);
	printTable(
		[
			'run',
			'items',
			'Success',
			'lost',
			'failed',
			'node s',
			'limit allows s',
			'of limit',
			'requests',
			'429s',
			'RSS growth MiB',
		],
		rows,
	);
	const medianS = median(spansMs) / 1000;
	console.log(
		`\nmedian of ${spansMs.length}: ${medianS.toFixed(0)} s, ${(medianS / limitS).toFixed(2)} x of what the limit allows`,
	);
}

// ---- p. CPU per check ------------------------------------------------------------------------------

export async function benchCpu({ options, session, fast }: Context): Promise<void> {
	const { n, repeats } = options;
	const ids = Array.from({ length: n }, (_, i) => `cpu-${String(i).padStart(4, '0')}`);
	const reply: Reply = {
		json: { status: 'SUCCESS', run_id: 7, exception_reason: null, message: null },
	};
	const variants = [
		{
			label: 'this node, defaults',
			workflow: nodeCheckWorkflowWith(ids, {}, FAST),
			nodes: [STATUS_NODE_NAME],
		},
		{
			label: 'HTTP Request',
			workflow: httpSwitchWorkflow(ids, fast.baseUrl, FAST),
			nodes: [HTTP_NODE],
		},
	];
	const workflowIds = await session.importWorkflows(variants.map((variant) => variant.workflow));
	const measured = variants.map(() => [] as number[]);
	for (let round = 0; round < repeats; round++) {
		for (const [i, variant] of variants.entries()) {
			fast.reset();
			ids.forEach((id) => fast.task(id, reply));
			const result = await session.execute(workflowIds[i], { timeoutMs: 180_000 });
			mustSucceed(result, variant.label);
			measured[i].push(nodeSpan(result, variant.nodes).ms);
		}
	}
	console.log(
		`\n## p. CPU per check: ${n} checks, the stand-in answers at once (no added latency); median of ${repeats} runs\n`,
	);
	const httpMs = median(measured[1]);
	printTable(
		['how', 'node time s', 'ms per item', 'vs HTTP Request'],
		variants.map((variant, i) => {
			const ms = median(measured[i]);
			return [
				variant.label,
				(ms / 1000).toFixed(2),
				(ms / n).toFixed(2),
				`${(ms / httpMs).toFixed(2)} x its time`,
			];
		}),
	);
}
