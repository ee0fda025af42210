/**
 * `npm run bench`: figures measured in REAL n8n (`n8n execute` of the pinned 1.x release by
 * default; `--major 2` for 2.x), with this package installed as a community package (the e2e
 * runner, test/e2e/n8n.ts), against the CAMB stand-in on 127.0.0.1 with a fixed added latency.
 * Every figure is a ratio of things measured side by side in one run. Prints tables; asserts
 * nothing (it exits 1 only if a run could not be measured at all).
 *
 *   a. Status checks per second for N task ids: this node (Max Requests in Flight 5, the
 *      default, and more) versus what users build today, an HTTP Request node (GET
 *      /audio-separation/{{ $json.task_id }} with the CAMB.AI API credential) followed by a
 *      Switch node on the status; and versus the physical limit, requests in flight / latency.
 *      Time = the nodes' own time in n8n's run data (startTime, executionTime), not start-up.
 *   b. Wall time to resolve N tasks that each finish T seconds after their first check: Wait for
 *      Completion (all items in one run of the node) versus one after another (Loop Over Items,
 *      batch size 1, around the node), versus the ideal T.
 *   c. Peak memory of the n8n process while the node downloads two stems of growing size, in
 *      n8n's filesystem binary data mode: /proc/<pid>/status (VmRSS, VmHWM) sampled every 20 ms.
 *
 *   r. The same N checks against a stand-in that enforces a rate limit (token bucket 20 requests/s,
 *      burst 20, 429 beyond it with `Retry-After: 1`, and once more without the header): this
 *      node at its defaults versus the hand-built ways (HTTP Request + Switch at defaults, with
 *      Retry On Fail, with Batching 20 per second): items out, items failed, time, 429s.
 *   w. Wait for Completion with --wait-big-n items, each pending for 3 checks, against the
 *      rate-limited stand-in (Retry-After: 1): items lost, time against what the limit allows,
 *      the n8n process's memory growth.
 *   p. CPU per check: the stand-in answers at once, so the nodes are CPU-bound: this node versus
 *      the HTTP Request node, ms per item.
 *
 * Options: --major 1|2 (default 1)   --n 300   --in-flight <default>   --repeats 3
 *          --wait-n 20   --wait-big-n 1000   --stems 8,64,256 (MiB)   --latency 50 (ms)
 *          --only a,b,c,r,w,p
 * Only 127.0.0.1 is used; the n8n user folder (with the stems) is removed at the end. Every
 * n8n process runs in its own process group with a time limit and is killed with it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import {
	executeSampling,
	startSession,
	storedBinaryFile,
	type Json,
	type Major,
	type N8nSession,
	type RunResult,
} from '../e2e/n8n';
import { resultPath, startStandIn, type Reply, type StandIn } from '../stand-in/cambStandIn';
import { API_KEY, credentialRecord, STATUS_NODE_NAME, STATUS_NODE_TYPE } from '../fixtures/package';

const MiB = 1024 * 1024;
type Credential = { id: string; name: string };
const CREDENTIAL: Credential = { id: 'cambAiBench0001', name: 'CAMB.AI bench' };
/** The rate-limited stand-ins of r and w: with Retry-After: 1, and without the header. */
const LIMITED: Credential = { id: 'cambAiBench0002', name: 'CAMB.AI bench, rate limited' };
const LIMITED_BARE: Credential = {
	id: 'cambAiBench0003',
	name: 'CAMB.AI bench, rate limited, no Retry-After',
};
const RATE_LIMIT = { perSecond: 20, burst: 20 };
/** The stand-in of p, answering at once. */
const FAST: Credential = { id: 'cambAiBench0004', name: 'CAMB.AI bench, no latency' };
const HTTP_NODE = 'Check status (HTTP Request)';
const SWITCH_NODE = 'Route by status (Switch)';
const LOOP_NODE = 'Loop Over Items';
/** (b): PENDING this many times, 1 s apart, then SUCCESS. */
const WAIT_PENDING_CHECKS = 2;
const WAIT_INTERVAL_S = 1;
const SAMPLE_MS = 20;

interface Options {
	major: Major;
	n: number;
	inFlight: number[];
	repeats: number;
	waitN: number;
	waitBigN: number;
	stemsMiB: number[];
	latencyMs: number;
	only: Set<string>;
}

function parseOptions(argv: string[]): Options {
	const options: Options = {
		major: '1',
		n: 300,
		inFlight: [DEFAULTS.maxInFlight],
		repeats: 3,
		waitN: 20,
		waitBigN: 1000,
		stemsMiB: [8, 64, 256],
		latencyMs: 50,
		only: new Set(['a', 'b', 'c', 'r', 'w', 'p']),
	};
	const list = (value: string) => value.split(',').filter(Boolean).map(Number);
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value = ''] = [argv[i], argv[i + 1]];
		if (flag === '--major' && (value === '1' || value === '2')) options.major = value;
		else if (flag === '--n') options.n = Number(value);
		else if (flag === '--in-flight') options.inFlight = list(value);
		else if (flag === '--repeats') options.repeats = Number(value);
		else if (flag === '--wait-n') options.waitN = Number(value);
		else if (flag === '--wait-big-n') options.waitBigN = Number(value);
		else if (flag === '--stems') options.stemsMiB = list(value);
		else if (flag === '--latency') options.latencyMs = Number(value);
		else if (flag === '--only') options.only = new Set(value.split(','));
		else
			throw new Error(`unknown option "${flag} ${value}" (see the top of test/bench/realN8n.ts)`);
	}
	const bad = [
		options.n,
		options.repeats,
		options.waitN,
		options.latencyMs,
		...options.inFlight,
		...options.stemsMiB,
	].some((value) => !(Number.isFinite(value) && value > 0));
	if (
		bad ||
		options.n > 2000 ||
		options.waitN > 100 ||
		options.waitBigN > 5000 ||
		options.stemsMiB.some((size) => size > 1024) ||
		options.inFlight.some((k) => k > 200)
	) {
		throw new Error(
			'options out of range: n <= 2000, wait-n <= 100, wait-big-n <= 5000, stems <= 1024 MiB, in-flight 1..200, all > 0',
		);
	}
	return options;
}

// ---- workflows --------------------------------------------------------------------------------

let nodeCounter = 0;
function node(
	name: string,
	type: string,
	typeVersion: number,
	parameters: Json,
	extra: Json = {},
): Json {
	nodeCounter += 1;
	const id = `0b3e5a7c-0000-4000-8000-${String(nodeCounter).padStart(12, '0')}`;
	return { id, name, type, typeVersion, position: [nodeCounter * 220, 200], parameters, ...extra };
}

const trigger = () => node('Start', 'n8n-nodes-base.manualTrigger', 1, {});
const taskIdsNode = (ids: string[]) =>
	node('Task IDs', 'n8n-nodes-base.code', 2, {
		jsCode: `return ${JSON.stringify(ids)}.map((task_id) => ({ json: { task_id } }));`,
	});
const statusNode = (parameters: Json, credential: Credential = CREDENTIAL, extra: Json = {}) =>
	node(
		STATUS_NODE_NAME,
		STATUS_NODE_TYPE,
		1,
		{ taskId: '={{ $json.task_id }}', ...parameters },
		{ credentials: { cambAiApi: credential }, ...extra },
	);
const to = (name: string, index = 0) => ({ node: name, type: 'main', index });

function workflow(name: string, nodes: Json[], connections: Json): Json {
	return { name, nodes, connections, settings: { executionOrder: 'v1' }, pinData: {} };
}

/** Start → Task IDs → this node, checking once. */
function nodeCheckWorkflow(ids: string[], maxInFlight: number): Json {
	return workflow(
		`bench a: node, ${maxInFlight} in flight`,
		[trigger(), taskIdsNode(ids), statusNode({ fetchResultUrls: false, options: { maxInFlight } })],
		{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
	);
}

/** Start → Task IDs → HTTP Request (CAMB.AI API credential) → Switch on status: what users build today. */
function httpSwitchWorkflow(
	ids: string[],
	baseUrl: string,
	credential: Credential = CREDENTIAL,
	http: { options?: Json; settings?: Json } = {},
): Json {
	const rule = (status: string) => ({
		conditions: {
			options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
			conditions: [
				{
					leftValue: '={{ $json.status }}',
					rightValue: status,
					operator: { type: 'string', operation: 'equals' },
				},
			],
			combinator: 'and',
		},
		renameOutput: true,
		outputKey: status === 'SUCCESS' ? 'Success' : 'Pending',
	});
	return workflow(
		'bench a: HTTP Request + Switch',
		[
			trigger(),
			taskIdsNode(ids),
			node(
				HTTP_NODE,
				'n8n-nodes-base.httpRequest',
				4.2,
				{
					url: `=${baseUrl}/audio-separation/{{ $json.task_id }}`,
					authentication: 'predefinedCredentialType',
					nodeCredentialType: 'cambAiApi',
					options: http.options ?? {},
				},
				{ credentials: { cambAiApi: credential }, ...(http.settings ?? {}) },
			),
			node(SWITCH_NODE, 'n8n-nodes-base.switch', 3.2, {
				rules: { values: [rule('SUCCESS'), rule('PENDING')] },
				options: { fallbackOutput: 'extra', renameFallbackOutput: 'Failure' },
			}),
		],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(HTTP_NODE)]] },
			[HTTP_NODE]: { main: [[to(SWITCH_NODE)]] },
		},
	);
}

const waitParameters = {
	waitForCompletion: true,
	fetchResultUrls: false,
	options: {
		firstIntervalSeconds: WAIT_INTERVAL_S,
		maxIntervalSeconds: WAIT_INTERVAL_S,
		maxWaitSeconds: 60,
	},
};

/** Start → Task IDs → this node with Wait for Completion: all items wait side by side. */
function waitTogetherWorkflow(ids: string[]): Json {
	return workflow(
		'bench b: wait together',
		[trigger(), taskIdsNode(ids), statusNode(waitParameters)],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(STATUS_NODE_NAME)]] },
		},
	);
}

/** Start → Task IDs → Loop Over Items (batch size 1) ⇄ this node with Wait for Completion: one task after another. */
function waitOneByOneWorkflow(ids: string[]): Json {
	return workflow(
		'bench b: one after another',
		[
			trigger(),
			taskIdsNode(ids),
			node(LOOP_NODE, 'n8n-nodes-base.splitInBatches', 3, { batchSize: 1, options: {} }),
			statusNode(waitParameters),
			node('All done', 'n8n-nodes-base.noOp', 1, {}),
		],
		{
			Start: { main: [[to('Task IDs')]] },
			'Task IDs': { main: [[to(LOOP_NODE)]] },
			[LOOP_NODE]: { main: [[to('All done')], [to(STATUS_NODE_NAME)]] },
			[STATUS_NODE_NAME]: { main: [[to(LOOP_NODE)], [to(LOOP_NODE)], [to(LOOP_NODE)]] },
		},
	);
}

/** Start → this node downloading the stems of one finished task. */
function stemsWorkflow(taskId: string): Json {
	return workflow(
		'bench c: stems',
		[trigger(), statusNode({ taskId, fetchResultUrls: true, downloadStems: true, options: {} })],
		{
			Start: { main: [[to(STATUS_NODE_NAME)]] },
		},
	);
}

// ---- measuring --------------------------------------------------------------------------------

/** From the first start to the last end of the given nodes' runs, in ms, from n8n's run data. */
function nodeSpan(result: RunResult, names: string[]): { start: number; end: number; ms: number } {
	const runs = names.flatMap((name) => result.runsOf(name));
	if (runs.length === 0) throw new Error(`none of ${names.join(', ')} ran`);
	const start = Math.min(...runs.map((run) => Number(run.startTime)));
	const end = Math.max(...runs.map((run) => Number(run.startTime) + Number(run.executionTime)));
	if (!Number.isFinite(start) || !Number.isFinite(end))
		throw new Error('the run data has no startTime/executionTime');
	return { start, end, ms: end - start };
}

function mustSucceed(result: RunResult, what: string): void {
	if (result.status !== 'success') {
		throw new Error(
			`${what}: n8n reported "${result.status}": ${JSON.stringify(result.error)?.slice(0, 1500)}\n${result.stderr.slice(-3000)}`,
		);
	}
}

const median = (values: number[]) =>
	[...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

function printTable(header: string[], rows: string[][]): void {
	const widths = header.map((title, i) =>
		Math.max(title.length, ...rows.map((row) => row[i].length)),
	);
	const line = (cells: string[]) =>
		`| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
	console.log(line(header));
	console.log(
		`|${widths.map((width, i) => (i === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
	);
	for (const row of rows) console.log(line(row));
}

interface Context {
	options: Options;
	session: N8nSession;
	camb: StandIn;
	storage: StandIn;
	/** Rate-limited stand-ins (RATE_LIMIT): with Retry-After: 1, and without it. */
	limited: StandIn;
	limitedBare: StandIn;
	/** No added latency (p). */
	fast: StandIn;
}

// ---- a. status checks per second -----------------------------------------------------------------

async function benchThroughput({ options, session, camb }: Context): Promise<void> {
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

async function benchWait({ options, session, camb }: Context): Promise<void> {
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

async function benchStems({ options, session, camb, storage }: Context): Promise<void> {
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

// ---- main ----------------------------------------------------------------------------------------

// ---- r. against a rate-limited server -------------------------------------------------------------

/** Items per output of the node or of the Switch (0 Success, 1 Pending, 2 Failure, 3 error output). */
function routedCounts(result: RunResult, nodeName: string): number[] {
	const run = result.runsOf(nodeName)[0];
	return [0, 1, 2, 3].map((output) => run?.outputs[output]?.length ?? 0);
}

async function benchRateLimit({ options, session, limited, limitedBare }: Context): Promise<void> {
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

async function benchWaitLimited({ options, session, limited }: Context): Promise<void> {
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

async function benchCpu({ options, session, fast }: Context): Promise<void> {
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

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	const started = Date.now();
	const camb = await startStandIn({ apiKey: API_KEY, latencyMs: options.latencyMs });
	const storage = await startStandIn();
	const limited = await startStandIn({
		apiKey: API_KEY,
		latencyMs: options.latencyMs,
		rateLimit: { ...RATE_LIMIT, retryAfterSeconds: 1 },
	});
	const limitedBare = await startStandIn({
		apiKey: API_KEY,
		latencyMs: options.latencyMs,
		rateLimit: RATE_LIMIT,
	});
	const fast = await startStandIn({ apiKey: API_KEY });
	let session: N8nSession | undefined;
	try {
		session = await startSession(options.major, {
			timeoutMs: 300_000,
			env: { N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem' },
		});
		await session.importCredentials([
			credentialRecord(camb.baseUrl, CREDENTIAL),
			credentialRecord(limited.baseUrl, LIMITED),
			credentialRecord(limitedBare.baseUrl, LIMITED_BARE),
			credentialRecord(fast.baseUrl, FAST),
		]);
		const cpu = os.cpus();
		console.log(
			`In real n8n ${session.install.version} (n8n execute, Node ${session.install.nodeVersion}), package installed as a community package; ` +
				`${cpu.length} cores (${cpu[0]?.model.trim()}), ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ${os.arch()}; ` +
				`CAMB stand-in on 127.0.0.1 with ${options.latencyMs} ms added latency.`,
		);
		const context: Context = { options, session, camb, storage, limited, limitedBare, fast };
		if (options.only.has('a')) await benchThroughput(context);
		if (options.only.has('r')) await benchRateLimit(context);
		if (options.only.has('p')) await benchCpu(context);
		if (options.only.has('w')) await benchWaitLimited(context);
		if (options.only.has('b')) await benchWait(context);
		if (options.only.has('c')) await benchStems(context);
		console.log(`\nwhole benchmark: ${((Date.now() - started) / 1000).toFixed(0)} s`);
	} finally {
		await session?.close();
		await camb.close();
		await storage.close();
		await limited.close();
		await limitedBare.close();
		await fast.close();
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
