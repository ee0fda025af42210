/**
 * `npm run bench:servers`: this node at its defaults against the hand-built HTTP Request + Switch,
 * side by side in one run, in real n8n 1.x and 2.x (`n8n execute`, package installed as a
 * community package), against kinds of CAMB server each played by the stand-in IN A PROCESS OF
 * ITS OWN (standInCli.ts), reached over loopback only, so neither contender shares an event loop
 * with the server:
 *
 *   free           no limit
 *   shed           at most 8 requests in service, 503 at once beyond (no Retry-After)
 *   noisy          no limit, 3% of answers 503 at random
 *   limited        token bucket 20/s (burst 20), 429 with Retry-After: 1
 *   limited-bare   the same without Retry-After
 *   free-inproc    `free` played inside this harness process (as `npm run bench` does): the
 *                  difference is what sharing the harness's event loop costs each contender
 *
 * N task ids, a third SUCCESS, PENDING, ERROR; each checked once (Fetch Result URLs off, every
 * other option at its default). Round-robin over servers and contenders, median of --repeats.
 * Time = the nodes' own time in n8n's run data. Prints; asserts nothing.
 *
 * Options: --majors 1,2  --n 300  --latency 50  --repeats 3  --servers free,shed,...
 */
import * as os from 'node:os';

import { startSession, type Major, type N8nSession, type RunResult } from '../e2e/n8n';
import { API_KEY, STATUS_NODE_NAME, credentialRecord } from '../fixtures/package';
import { startStandIn } from '../stand-in/cambStandIn';
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
import {
	RATE_PER_SECOND,
	REPLIES,
	SHED_LIMIT,
	SERVERS,
	taskIds,
	type ServerKind,
} from './standInKinds';
import { startStandInChild, type ChildStats } from './standInChild';

type Kind = ServerKind | 'free-inproc';
const PREFIX = 'bench-task-';
/** The node's default Max Requests in Flight. */
const DEFAULT_WINDOW = 64;

interface Server {
	kind: Kind;
	baseUrl: string;
	reset(): Promise<void>;
	stats(): Promise<ChildStats>;
	close(): Promise<void>;
}

interface Options {
	majors: Major[];
	n: number;
	latencyMs: number;
	repeats: number;
	servers: Kind[];
}

function parseOptions(argv: string[]): Options {
	const options: Options = {
		majors: ['1', '2'],
		n: 300,
		latencyMs: 50,
		repeats: 3,
		servers: [...SERVERS, 'free-inproc'],
	};
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value = ''] = [argv[i], argv[i + 1]];
		if (flag === '--majors') options.majors = value.split(',') as Major[];
		else if (flag === '--n') options.n = Number(value);
		else if (flag === '--latency') options.latencyMs = Number(value);
		else if (flag === '--repeats') options.repeats = Number(value);
		else if (flag === '--servers') options.servers = value.split(',') as Kind[];
		else throw new Error(`unknown option ${flag} (see the top of test/bench/realN8nServers.ts)`);
	}
	return options;
}

async function startServer(kind: Kind, options: Options): Promise<Server> {
	if (kind !== 'free-inproc')
		return await startStandInChild(kind, { ...options, prefix: PREFIX, apiKey: API_KEY });
	const standIn = await startStandIn({ apiKey: API_KEY, latencyMs: options.latencyMs });
	const script = () =>
		taskIds(PREFIX, options.n).forEach((id, i) => standIn.task(id, REPLIES[i % 3]));
	script();
	return {
		kind,
		baseUrl: standIn.baseUrl,
		reset: async () => (standIn.reset(), script()),
		stats: async () => ({
			requests: standIn.requests.length,
			unavailable: standIn.unavailable,
			limited: standIn.limited,
			maxConcurrent: standIn.maxConcurrent,
		}),
		close: async () => await standIn.close(),
	};
}

/** What the node can do at best against `kind`, in seconds. */
function limitSeconds(kind: Kind, { n, latencyMs }: Options): number {
	if (kind === 'shed') return (n * latencyMs) / 1000 / SHED_LIMIT;
	if (kind === 'limited' || kind === 'limited-bare') return n / RATE_PER_SECOND;
	return (n * latencyMs) / 1000 / DEFAULT_WINDOW;
}

function nodeWorkflow(ids: string[], credential: Credential) {
	return workflow(
		'bench servers: node at defaults',
		[trigger(), taskIdsNode(ids), statusNode({ fetchResultUrls: false, options: {} }, credential)],
		{ Start: { main: [[to('Task IDs')]] }, 'Task IDs': { main: [[to(STATUS_NODE_NAME)]] } },
	);
}

interface Measure {
	ms: number[];
	out: number[];
	stopped: number;
	stats: ChildStats[];
}

/** Items routed to any output by the last node of the contender (0 when it did not run). */
function itemsOut(result: RunResult, node: string): number {
	const run = result.runsOf(node)[0];
	return run ? run.outputs.reduce((sum, items) => sum + items.length, 0) : 0;
}

const CONTENDERS = [
	{ label: 'this node (defaults)', nodes: [STATUS_NODE_NAME], last: STATUS_NODE_NAME },
	{ label: 'HTTP Request + Switch', nodes: [HTTP_NODE, SWITCH_NODE], last: SWITCH_NODE },
];

async function benchMajor(major: Major, options: Options): Promise<string[][]> {
	const ids = taskIds(PREFIX, options.n);
	const servers: Server[] = [];
	let session: N8nSession | undefined;
	try {
		for (const kind of options.servers) servers.push(await startServer(kind, options));
		session = await startSession(major, { timeoutMs: 300_000 });
		const credentials = servers.map((server, i) => ({
			id: `cambAiServers${String(i).padStart(3, '0')}`,
			name: `CAMB.AI bench, ${server.kind}`,
		}));
		await session.importCredentials(
			servers.map((server, i) => credentialRecord(server.baseUrl, credentials[i])),
		);
		const workflows = servers.flatMap((server, i) => [
			nodeWorkflow(ids, credentials[i]),
			httpSwitchWorkflow(ids, server.baseUrl, credentials[i]),
		]);
		const workflowIds = await session.importWorkflows(workflows);
		const measured: Measure[] = workflows.map(() => ({ ms: [], out: [], stopped: 0, stats: [] }));
		const load = os.loadavg()[0].toFixed(2);
		for (let round = 0; round < options.repeats; round++) {
			for (const [s, server] of servers.entries()) {
				for (const [c, contender] of CONTENDERS.entries()) {
					const m = measured[s * 2 + c];
					await server.reset();
					const result = await session.execute(workflowIds[s * 2 + c], { timeoutMs: 240_000 });
					m.stats.push(await server.stats());
					m.out.push(itemsOut(result, contender.last));
					if (result.status !== 'success') m.stopped++;
					else m.ms.push(nodeSpan(result, contender.nodes).ms);
				}
			}
		}
		console.log(
			`n8n ${session.install.version}: load average ${load} at start, ${os.loadavg()[0].toFixed(2)} at end`,
		);
		return servers.flatMap((server, s) =>
			CONTENDERS.map((contender, c) =>
				row(server.kind, session!.install.version, contender.label, measured, s, c, options),
			),
		);
	} finally {
		await session?.close();
		for (const server of servers) await server.close();
	}
}

function row(
	kind: Kind,
	version: string,
	label: string,
	measured: Measure[],
	s: number,
	c: number,
	options: Options,
): string[] {
	const m = measured[s * 2 + c];
	const http = measured[s * 2 + 1];
	const ms = m.ms.length ? median(m.ms) : undefined;
	const limit = limitSeconds(kind, options);
	const requests = median(m.stats.map((stat) => stat.requests));
	const refused = median(m.stats.map((stat) => stat.unavailable + stat.limited));
	const vsHttp =
		c === 0 && ms !== undefined && http.ms.length === options.repeats
			? `${(median(http.ms) / ms).toFixed(2)} x`
			: '';
	return [
		kind,
		version,
		label,
		ms === undefined ? 'stopped' : (ms / 1000).toFixed(2),
		m.ms.map((value) => (value / 1000).toFixed(2)).join(' ') +
			(m.stopped ? ` (${m.stopped} stopped)` : ''),
		`${median(m.out)} of ${options.n}`,
		String(requests),
		`${refused} (${((refused / Math.max(1, requests)) * 100).toFixed(0)} %)`,
		String(median(m.stats.map((stat) => stat.maxConcurrent))),
		limit.toFixed(2),
		ms === undefined ? '' : `${(ms / 1000 / limit).toFixed(2)} x`,
		vsHttp,
	];
}

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	const started = Date.now();
	console.log(
		`${os.cpus().length} cores, load average ${os
			.loadavg()
			.map((v) => v.toFixed(2))
			.join(' ')}; ` +
			`N = ${options.n}, latency ${options.latencyMs} ms, median of ${options.repeats}, stand-in in its own process (but free-inproc)`,
	);
	const rows: string[][] = [];
	for (const major of options.majors) rows.push(...(await benchMajor(major, options)));
	rows.sort(
		(a, b) => options.servers.indexOf(a[0] as Kind) - options.servers.indexOf(b[0] as Kind),
	);
	printTable(
		[
			'server',
			'n8n',
			'contender',
			'median s',
			'runs s',
			'items out',
			'requests',
			'503/429',
			'peak open',
			'limit s',
			'of limit',
			'vs HTTP+Switch',
		],
		rows,
	);
	console.log(
		`limit: free/noisy N x latency / ${DEFAULT_WINDOW} (the node's window); shed N x latency / ${SHED_LIMIT}; limited N / ${RATE_PER_SECOND} per s`,
	);
	console.log(`whole benchmark: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
