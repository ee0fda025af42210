/**
 * `npm run bench:scale` (issue 24, item 4): thousands of status checks in ONE execution of real
 * n8n 1.x and 2.x (`n8n execute`, package installed as a community package), the CAMB stand-in in
 * a process of its own (standInCli.ts) on 127.0.0.1 with 50 ms latency. Prints tables; asserts
 * nothing.
 *
 * Part `sizes`: 1,000, 10,000 and 30,000 task ids (a third each SUCCESS, PENDING, ERROR; each
 * checked once) through three contenders, round robin:
 *   - this node at its defaults, Fetch Result URLs off (one request per task, like the others);
 *   - HTTP Request + Switch at their defaults (HTTP Request sends every item at once);
 *   - the same with HTTP Request's Batching option, --batch SIZE/INTERVAL_MS (default 64/50: 64
 *     requests started every 50 ms, one latency apart, the node's window of 64 in flight. Batching
 *     only spaces the STARTS of requests and does not wait for a batch to finish: with interval 0
 *     it does nothing at all, read in n8n-nodes-base's HttpRequestV3.node.js of both majors).
 * Per run: the contender's span from n8n's run data, time per item, items per output, the n8n
 * process's RSS just before the contender started and its peak while it ran (/proc sampled every
 * 25 ms, plus VmHWM), growth per item, and what broke when a run did not finish.
 *
 * Part `wait`: Wait for Completion, --wait-n task ids (10,000), each PENDING for its first
 * --wait-pending checks (3) then SUCCESS, against a token bucket of 20/s (burst 20, 429 with
 * Retry-After: 1; standInKinds 'limited'), every option at its default except Max Wait (3600 s,
 * its maximum: the default 60 s cannot cover 40,000 checks at 20/s). One run per major.
 *
 * Options: --part sizes,wait  --majors 1,2  --sizes 1000,10000,30000  --repeats 3
 *          --big-repeats 1 (sizes above 10,000)  --latency 50  --batch 64/50  --timeout-min 10
 *          --wait-n 10000  --wait-pending 3  --wait-timeout-min 60
 *          --heap-mib N: n8n's V8 heap limited to N MiB (NODE_OPTIONS=--max-old-space-size=N for
 *          every n8n process of the sizes part; by default Node's own, 4,144 MiB in Node 20.20 and
 *          4,288 MiB in Node 24.22 on this machine): which contender runs out of heap first
 */
import * as os from 'node:os';

import {
	N8nProcessError,
	executeSampling,
	startSession,
	type Major,
	type MemorySample,
	type RunResult,
} from '../e2e/n8n';
import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { API_KEY, STATUS_NODE_NAME, credentialRecord } from '../fixtures/package';
import { median, nodeSpan, printTable } from './realN8nMeasure';
import {
	HTTP_NODE,
	SWITCH_NODE,
	httpSwitchWorkflow,
	statusNode,
	taskIdsNode,
	to,
	trigger,
	workflow,
	type Credential,
} from './realN8nWorkflows';
import { RATE_PER_SECOND, taskIds, type ServerKind } from './standInKinds';
import { startStandInChild, type ChildStats, type StandInChild } from './standInChild';

const PREFIX = 'scale-task-';
const WAIT_PREFIX = 'scale-wait-';
/** The node's default Max Requests in Flight. */
const DEFAULT_WINDOW = 64;
const KiB = 1024;

interface Options {
	parts: Array<'sizes' | 'wait'>;
	majors: Major[];
	sizes: number[];
	repeats: number;
	bigRepeats: number;
	latencyMs: number;
	batch: { size: number; intervalMs: number };
	timeoutMin: number;
	waitN: number;
	waitPending: number;
	waitTimeoutMin: number;
	heapMib?: number;
}

function parseOptions(argv: string[]): Options {
	const options: Options = {
		parts: ['sizes', 'wait'],
		majors: ['1', '2'],
		sizes: [1000, 10_000, 30_000],
		repeats: 3,
		bigRepeats: 1,
		latencyMs: 50,
		batch: { size: 64, intervalMs: 50 },
		timeoutMin: 10,
		waitN: 10_000,
		waitPending: 3,
		waitTimeoutMin: 60,
	};
	const numbers = (value: string) => value.split(',').map(Number);
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value = ''] = [argv[i], argv[i + 1]];
		if (flag === '--part') options.parts = value.split(',') as Options['parts'];
		else if (flag === '--majors') options.majors = value.split(',') as Major[];
		else if (flag === '--sizes') options.sizes = numbers(value);
		else if (flag === '--repeats') options.repeats = Number(value);
		else if (flag === '--big-repeats') options.bigRepeats = Number(value);
		else if (flag === '--latency') options.latencyMs = Number(value);
		else if (flag === '--batch') {
			const [size, intervalMs] = value.split('/').map(Number);
			options.batch = { size, intervalMs };
		} else if (flag === '--timeout-min') options.timeoutMin = Number(value);
		else if (flag === '--wait-n') options.waitN = Number(value);
		else if (flag === '--wait-pending') options.waitPending = Number(value);
		else if (flag === '--wait-timeout-min') options.waitTimeoutMin = Number(value);
		else if (flag === '--heap-mib') options.heapMib = Number(value);
		else throw new Error(`unknown option ${flag} (see the top of test/bench/realN8nScale.ts)`);
	}
	return options;
}

const load = () => os.loadavg()[0].toFixed(2);
const utc = () => new Date().toISOString().slice(0, 19).replace('T', ' ');
const mib = (kib: number) => (kib / KiB).toFixed(0);

// ---- one measured run ---------------------------------------------------------------------------

interface Measured {
	/** 'success', n8n's other status, or what broke (time-out, crash). */
	status: string;
	/** The contender's span in n8n's run data; the process's wall time when there is none. */
	ms: number;
	spanFromRunData: boolean;
	/** Items per output of the contender's last node (Success, Pending, Failure, error output). */
	outputs: number[];
	beforeKiB?: number;
	peakKiB?: number;
	/** VmHWM of the process at its last sample: its peak over the whole run, start-up and output included. */
	processPeakKiB?: number;
	stats: ChildStats;
	broke?: string;
	loadStart: string;
	loadEnd: string;
}

function outputsOf(result: RunResult, node: string): number[] {
	const outputs = result.runsOf(node)[0]?.outputs ?? [];
	return [0, 1, 2, 3].map((i) => outputs[i]?.length ?? 0);
}

/** The first error n8n recorded: the run's, or one of the given nodes'. */
function errorOf(result: RunResult, nodes: string[]): string | undefined {
	const nodeError = nodes.map((name) => result.runsOf(name)[0]?.error).find(Boolean);
	const error = (result.error ?? nodeError) as
		| { message?: string; description?: string }
		| undefined;
	if (!error) return undefined;
	return [error.message, error.description].filter(Boolean).join(': ').slice(0, 160);
}

/** What the tail of a dead n8n's output says (heap exhausted, killed...). */
function deathOf(error: N8nProcessError): string {
	const { exitCode, signal, timedOut, stderr, stdout } = error.result;
	if (timedOut) return 'timed out';
	const text = `${stderr}\n${stdout.slice(-20_000)}`;
	const oom = /heap out of memory|Allocation failed|ENOMEM/i.exec(text);
	const reason = oom?.[0] ?? /Error: [^\n]{0,120}/.exec(text)?.[0] ?? 'no run JSON';
	return `n8n exited ${exitCode ?? signal}: ${reason}`;
}

async function measure(
	session: Awaited<ReturnType<typeof startSession>>,
	workflowId: string,
	server: StandInChild,
	nodes: string[],
	timeoutMs: number,
	everyMs: number,
): Promise<Measured> {
	await server.reset();
	const loadStart = load();
	const samples: MemorySample[] = [];
	const started = Date.now();
	let result: RunResult | undefined;
	let broke: string | undefined;
	try {
		({ result } = await executeSampling(session, workflowId, { timeoutMs, everyMs, samples }));
	} catch (error) {
		if (!(error instanceof N8nProcessError)) throw error;
		broke = deathOf(error);
	}
	const wallMs = Date.now() - started;
	let span: { start: number; end: number; ms: number } | undefined;
	if (result) {
		try {
			span = nodeSpan(result, nodes);
		} catch {
			span = undefined;
		}
		if (result.status !== 'success')
			broke = errorOf(result, nodes) ?? `n8n reported "${result.status}"`;
	}
	const inSpan = span
		? samples.filter((sample) => sample.at >= span.start && sample.at <= span.end)
		: samples;
	const before = span ? samples.filter((sample) => sample.at <= span.start).at(-1) : samples[0];
	let peakKiB = inSpan.length ? Math.max(...inSpan.map((sample) => sample.rssKiB)) : undefined;
	// A peak between two samples still shows in VmHWM, if it was above every earlier one.
	const hwmEnd = inSpan.at(-1)?.hwmKiB;
	if (peakKiB !== undefined && hwmEnd !== undefined && before && hwmEnd > before.hwmKiB)
		peakKiB = Math.max(peakKiB, hwmEnd);
	return {
		status: broke ? 'broke' : 'success',
		ms: span?.ms ?? wallMs,
		spanFromRunData: span !== undefined,
		outputs: result ? outputsOf(result, nodes[nodes.length - 1]) : [0, 0, 0, 0],
		beforeKiB: before?.rssKiB,
		peakKiB,
		processPeakKiB: samples.at(-1)?.hwmKiB,
		stats: await server.stats(),
		broke,
		loadStart,
		loadEnd: load(),
	};
}

// ---- part sizes ---------------------------------------------------------------------------------

interface Contender {
	label: string;
	nodes: string[];
	build(ids: string[], baseUrl: string, credential: Credential): ReturnType<typeof workflow>;
}

function contenders(options: Options): Contender[] {
	const { size, intervalMs } = options.batch;
	return [
		{
			label: 'this node (defaults)',
			nodes: [STATUS_NODE_NAME],
			build: (ids, _baseUrl, credential) =>
				workflow(
					'bench scale: node at defaults',
					[
						trigger(),
						taskIdsNode(ids),
						statusNode({ fetchResultUrls: false, options: {} }, credential),
					],
					{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
				),
		},
		{
			label: 'HTTP Request + Switch',
			nodes: [HTTP_NODE, SWITCH_NODE],
			build: (ids, baseUrl, credential) => httpSwitchWorkflow(ids, baseUrl, credential),
		},
		{
			label: `HTTP Request (Batching ${size}/${intervalMs} ms) + Switch`,
			nodes: [HTTP_NODE, SWITCH_NODE],
			build: (ids, baseUrl, credential) =>
				httpSwitchWorkflow(ids, baseUrl, credential, {
					options: { batching: { batch: { batchSize: size, batchInterval: intervalMs } } },
				}),
		},
	];
}

/** Success, Pending, Failure counts the scripted i % 3 answers give n tasks. */
function expectedOutputs(n: number): number[] {
	const counts = [0, 0, 0];
	for (let i = 0; i < n; i++) counts[i % 3]++;
	return counts;
}

async function benchSizes(major: Major, options: Options): Promise<string[][]> {
	const biggest = Math.max(...options.sizes);
	const server = await startStandInChild('free' satisfies ServerKind, {
		latencyMs: options.latencyMs,
		n: biggest,
		prefix: PREFIX,
		apiKey: API_KEY,
	});
	const heap = options.heapMib
		? { env: { NODE_OPTIONS: `--max-old-space-size=${options.heapMib}` } }
		: {};
	const session = await startSession(major, { timeoutMs: 300_000, ...heap });
	try {
		const credential = { id: 'cambAiScale00001', name: 'CAMB.AI bench, scale' };
		await session.importCredentials([credentialRecord(server.baseUrl, credential)]);
		const all = contenders(options);
		const workflows = options.sizes.flatMap((n) =>
			all.map((contender) => contender.build(taskIds(PREFIX, n), server.baseUrl, credential)),
		);
		const ids = await session.importWorkflows(workflows);
		const runs: Measured[][] = workflows.map(() => []);
		const rounds = Math.max(options.repeats, options.bigRepeats);
		const repeatsOf = (n: number) => (n > 10_000 ? options.bigRepeats : options.repeats);
		console.log(
			`n8n ${session.install.version}: sizes, ${utc()} UTC, load average ${load()}${options.heapMib ? `, V8 heap limited to ${options.heapMib} MiB` : ''}`,
		);
		for (let round = 0; round < rounds; round++) {
			for (const [s, n] of options.sizes.entries()) {
				if (round >= repeatsOf(n)) continue;
				for (const [c, contender] of all.entries()) {
					const at = s * all.length + c;
					const m = await measure(
						session,
						ids[at],
						server,
						contender.nodes,
						options.timeoutMin * 60_000,
						25,
					);
					runs[at].push(m);
					console.log(
						`  ${utc()} n8n ${session.install.version} n=${n} ${contender.label} round ${round + 1}: ` +
							`${(m.ms / 1000).toFixed(2)} s, out ${m.outputs.join('/')}, ` +
							`RSS ${mib(m.beforeKiB ?? 0)} -> ${mib(m.peakKiB ?? 0)} MiB (HWM ${mib(m.processPeakKiB ?? 0)}), ` +
							`requests ${m.stats.requests}, peak open ${m.stats.maxConcurrent}, load ${m.loadStart} -> ${m.loadEnd}` +
							(m.broke ? `, BROKE: ${m.broke}` : ''),
					);
				}
			}
		}
		console.log(`n8n ${session.install.version}: sizes done ${utc()} UTC, load average ${load()}`);
		return options.sizes.flatMap((n, s) =>
			all.map((contender, c) =>
				sizeRow(session.install.version, n, contender.label, runs[s * all.length + c]),
			),
		);
	} finally {
		await session.close();
		await server.close();
	}
}

function sizeRow(version: string, n: number, label: string, runs: Measured[]): string[] {
	const ok = runs.filter((run) => !run.broke);
	const pick = ok.length ? ok : runs;
	const middle = [...pick].sort((a, b) => a.ms - b.ms)[Math.floor((pick.length - 1) / 2)];
	const expected = expectedOutputs(n);
	const out = middle.outputs;
	const routed = out[0] + out[1] + out[2] + out[3];
	const exact = out[0] === expected[0] && out[1] === expected[1] && out[2] === expected[2];
	const growth =
		middle.peakKiB !== undefined && middle.beforeKiB !== undefined
			? ((middle.peakKiB - middle.beforeKiB) / n).toFixed(1)
			: '';
	const broke = runs.filter((run) => run.broke);
	return [
		version,
		String(n),
		label,
		ok.length ? (median(ok.map((run) => run.ms)) / 1000).toFixed(2) : 'broke',
		runs.map((run) => `${(run.ms / 1000).toFixed(2)}${run.broke ? '!' : ''}`).join(' '),
		ok.length ? (median(ok.map((run) => run.ms)) / n).toFixed(2) : '',
		`${out.slice(0, 3).join('/')}${out[3] ? ` +${out[3]} err` : ''}`,
		exact && routed === n ? `${n} of ${n}` : `${routed} of ${n}`,
		middle.beforeKiB !== undefined ? mib(middle.beforeKiB) : '',
		middle.peakKiB !== undefined ? mib(middle.peakKiB) : '',
		growth,
		middle.processPeakKiB !== undefined ? mib(middle.processPeakKiB) : '',
		String(middle.stats.requests),
		String(middle.stats.maxConcurrent),
		`${middle.loadStart}-${middle.loadEnd}`,
		broke.length ? `${broke.length} of ${runs.length}: ${broke[0].broke}` : '',
	];
}

// ---- part wait ----------------------------------------------------------------------------------

/** The node's pauses between one task's checks at the default intervals, in s. */
function pausesS(options: Options): number {
	let total = 0;
	for (let i = 0, pause = DEFAULTS.firstIntervalSeconds; i < options.waitPending; i++) {
		total += pause;
		pause = Math.min(pause * 1.5, DEFAULTS.maxIntervalSeconds);
	}
	return total;
}

async function benchWait(major: Major, options: Options): Promise<string[]> {
	const n = options.waitN;
	const server = await startStandInChild('limited' satisfies ServerKind, {
		latencyMs: options.latencyMs,
		n,
		prefix: WAIT_PREFIX,
		apiKey: API_KEY,
		pending: options.waitPending,
	});
	const session = await startSession(major, { timeoutMs: 300_000 });
	try {
		const credential = { id: 'cambAiScale00002', name: 'CAMB.AI bench, scale, 20/s' };
		await session.importCredentials([credentialRecord(server.baseUrl, credential)]);
		const [workflowId] = await session.importWorkflows([
			workflow(
				'bench scale: Wait for Completion under 20/s',
				[
					trigger(),
					taskIdsNode(taskIds(WAIT_PREFIX, n)),
					statusNode(
						{ waitForCompletion: true, fetchResultUrls: false, options: { maxWaitSeconds: 3600 } },
						credential,
					),
				],
				{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
			),
		]);
		const startedAt = utc();
		console.log(`n8n ${session.install.version}: wait, ${startedAt} UTC, load average ${load()}`);
		const m = await measure(
			session,
			workflowId,
			server,
			[STATUS_NODE_NAME],
			options.waitTimeoutMin * 60_000,
			500,
		);
		// Every task needs waitPending + 1 checks; the bucket gives its burst at once, then RATE a
		// second. No task can finish before its pauses (First Interval, half again each, up to Max
		// Interval) have passed either: whichever bound is longer.
		const checks = n * (options.waitPending + 1);
		const limitS = Math.max((checks - RATE_PER_SECOND) / RATE_PER_SECOND, pausesS(options));
		const requests = m.stats.requests;
		console.log(
			`n8n ${session.install.version}: wait done ${utc()} UTC, load average ${load()}; ${JSON.stringify(m)}`,
		);
		return [
			session.install.version,
			String(n),
			`${startedAt}`,
			`${m.outputs[0]} / ${n}`,
			String(m.outputs[1]),
			String(m.outputs[2] + m.outputs[3]),
			String(n - m.outputs.reduce((sum, count) => sum + count, 0)),
			(m.ms / 1000).toFixed(0),
			limitS.toFixed(0),
			`${(m.ms / 1000 / limitS).toFixed(3)} x`,
			`${requests} (${checks} needed)`,
			`${m.stats.limited} (${((100 * m.stats.limited) / Math.max(1, requests)).toFixed(1)} %)`,
			m.beforeKiB !== undefined ? mib(m.beforeKiB) : '',
			m.peakKiB !== undefined ? mib(m.peakKiB) : '',
			m.peakKiB !== undefined && m.beforeKiB !== undefined
				? ((m.peakKiB - m.beforeKiB) / n).toFixed(1)
				: '',
			m.processPeakKiB !== undefined ? mib(m.processPeakKiB) : '',
			`${m.loadStart}-${m.loadEnd}`,
			m.broke ?? '',
		];
	} finally {
		await session.close();
		await server.close();
	}
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	const started = Date.now();
	console.log(
		`${utc()} UTC, ${os.cpus().length} cores, load average ${os
			.loadavg()
			.map((v) => v.toFixed(2))
			.join(' ')}; ${JSON.stringify(options)}; stand-in in its own process, 127.0.0.1, ` +
			`latency ${options.latencyMs} ms`,
	);
	if (options.parts.includes('sizes')) {
		const rows: string[][] = [];
		for (const major of options.majors) rows.push(...(await benchSizes(major, options)));
		console.log(
			`\n## Sizes: one execution, each task checked once, free server, ${options.latencyMs} ms latency ` +
				`(node's floor: N x latency / ${DEFAULT_WINDOW}); median of ${options.repeats} ` +
				`(${options.bigRepeats} above 10,000); "!" marks a run that broke\n`,
		);
		printTable(
			[
				'n8n',
				'items',
				'contender',
				'median s',
				'runs s',
				'ms/item',
				'out S/P/F',
				'accounted',
				'RSS before MiB',
				'peak in span MiB',
				'growth KiB/item',
				'process HWM MiB',
				'requests',
				'peak open',
				'load',
				'broke',
			],
			rows,
		);
	}
	if (options.parts.includes('wait')) {
		const rows: string[][] = [];
		for (const major of options.majors) rows.push(await benchWait(major, options));
		console.log(
			`\n## Wait for Completion: ${options.waitN} tasks, each PENDING for ${options.waitPending} checks then SUCCESS, ` +
				`token bucket ${RATE_PER_SECOND}/s (burst ${RATE_PER_SECOND}, Retry-After: 1); defaults but Max Wait 3600 s; one run per major\n`,
		);
		printTable(
			[
				'n8n',
				'items',
				'started UTC',
				'Success',
				'Pending',
				'Failure',
				'lost',
				'node s',
				'limit allows s',
				'of limit',
				'requests',
				'429s',
				'RSS before MiB',
				'peak in span MiB',
				'growth KiB/item',
				'process HWM MiB',
				'load',
				'broke',
			],
			rows,
		);
	}
	console.log(
		`\nwhole benchmark: ${((Date.now() - started) / 1000).toFixed(0)} s, ended ${utc()} UTC, load average ${load()}`,
	);
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
