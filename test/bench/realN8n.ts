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
 *
 * The parts: the workflows (realN8nWorkflows.ts), measuring (realN8nMeasure.ts), benchmarks a-c
 * (realN8nSpeed.ts) and r, w, p (realN8nLimits.ts); this file reads the options and runs them.
 */
import * as os from 'node:os';

import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { startSession, type Major, type N8nSession } from '../e2e/n8n';
import { startStandIn } from '../stand-in/cambStandIn';
import { API_KEY, credentialRecord } from '../fixtures/package';
import { CREDENTIAL, FAST, LIMITED, LIMITED_BARE, RATE_LIMIT } from './realN8nWorkflows';
import { Context } from './realN8nMeasure';
import { benchStems, benchThroughput, benchWait } from './realN8nSpeed';
import { benchCpu, benchRateLimit, benchWaitLimited } from './realN8nLimits';

export interface Options {
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

// ---- main ----------------------------------------------------------------------------------------

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
