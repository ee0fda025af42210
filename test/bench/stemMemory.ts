/**
 * `npm run bench:stems`: does downloading stems keep memory flat as the stems grow?
 *
 * For each stem size, a workflow runs through n8n's real engine (test/engine/harness.ts) and the
 * node under test (test/bench/stemNodes.ts) downloads a foreground and a background stem of that
 * size from a local storage stand-in into n8n's binary data store. Every run is a fresh child
 * process (stemMemoryRun.ts), so its peaks are its own: it warms up, collects garbage, takes a
 * baseline, then samples process.memoryUsage() every 20 ms during the run and reads the kernel's
 * peak RSS afterwards. The stand-ins (CAMB and storage) live in this parent process, so serving
 * the bytes costs the measured process nothing.
 *
 * Runs in n8n's 'filesystem' binary data mode for every size, and in 'default' (in-memory) mode
 * for the smaller ones, side by side. Prints a table and a verdict; exits 1 if a run failed or
 * memory in filesystem mode grows with the stem size.
 *
 * Options: --sizes 8,32,128,512   stem sizes in MiB, filesystem mode
 *          --default-sizes 8,32,128   stem sizes in MiB, default mode ('' for none)
 *          --node camb   the node under test, a key of NODES_UNDER_TEST in stemNodes.ts
 *          --budget 270   seconds for the whole benchmark; later runs are skipped past it
 * Only 127.0.0.1 is used. Temporary files go to the OS temp folder and are removed.
 */
import { fork } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { resultPath, startStandIn, type StandIn } from '../stand-in/cambStandIn';
import type { HarnessBinaryDataMode } from '../engine/harness';
import type { ChildMessage, RunResult, RunSpec } from './stemMemoryRun';
import { NODES_UNDER_TEST, type StemBenchInput } from './stemNodes';

const MiB = 1024 * 1024;
const SAMPLE_MS = 20;
const WARMUP_STEM_BYTES = 64 * 1024;
/** Longest one run may take (512 MiB stems take a few seconds here). */
const RUN_TIMEOUT_MS = 120_000;
/** A run is not started with less than this left of the budget. */
const MIN_RUN_MS = 15_000;
const CAMB_API_KEY = 'bench-camb-key-5d1e0c7a';
/**
 * Memory counts as flat when the peak growth of the largest run exceeds that of the smallest by
 * less than NOISE_BYTES plus FLAT_SLOPE times the extra bytes downloaded. (A constant part of the
 * growth, the socket read buffers that wait for a GC, does not depend on the size.)
 */
const FLAT_SLOPE = 0.05;
const NOISE_BYTES = 8 * MiB;

interface Options {
	sizes: number[];
	defaultSizes: number[];
	node: string;
	budgetMs: number;
}

interface Case {
	mode: HarnessBinaryDataMode;
	stemMiB: number;
}

interface Outcome {
	case: Case;
	result?: RunResult;
	error?: string;
	skipped?: boolean;
}

function parseOptions(argv: string[]): Options {
	const options: Options = {
		sizes: [8, 32, 128, 512],
		defaultSizes: [8, 32, 128],
		node: 'camb',
		budgetMs: 270_000,
	};
	const sizes = (value: string) =>
		value
			.split(',')
			.filter((part) => part.trim() !== '')
			.map((part) => {
				const size = Number(part);
				if (!(size > 0 && size <= 4096)) throw new Error(`bad size "${part}" (MiB, up to 4096)`);
				return size;
			});
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value] = [argv[i], argv[i + 1] ?? ''];
		if (flag === '--sizes') options.sizes = sizes(value);
		else if (flag === '--default-sizes') options.defaultSizes = sizes(value);
		else if (flag === '--node') options.node = value;
		else if (flag === '--budget') options.budgetMs = Number(value) * 1000;
		else throw new Error(`unknown option "${flag}" (see the top of test/bench/stemMemory.ts)`);
	}
	if (!NODES_UNDER_TEST[options.node]) {
		throw new Error(
			`unknown --node "${options.node}" (have: ${Object.keys(NODES_UNDER_TEST).join(', ')})`,
		);
	}
	if (!(options.budgetMs > 0 && options.budgetMs <= 290_000))
		throw new Error('--budget must be 1 to 290 seconds');
	return options;
}

/** Smallest first; per size, default mode before filesystem mode, so the table pairs them. */
function cases(options: Options): Case[] {
	const all: Case[] = [
		...options.defaultSizes.map((stemMiB) => ({ mode: 'default' as const, stemMiB })),
		...options.sizes.map((stemMiB) => ({ mode: 'filesystem' as const, stemMiB })),
	];
	return all.sort((a, b) => a.stemMiB - b.stemMiB || (a.mode === 'default' ? -1 : 1));
}

/**
 * Scripts CAMB (status SUCCESS with a run_id, and that run's result URLs) and the storage host
 * (the two stems) for one run, so a node may start from the task id or from the URLs.
 */
function scriptStems(
	camb: StandIn,
	storage: StandIn,
	bulk: Record<number, object>,
	name: string,
	runId: number,
	stemBytes: number,
): StemBenchInput {
	const urls = ['fg_audio.flac', 'bg_audio.flac'].map((file) => {
		const path = `/separation/${name}/${file}`;
		storage.on('GET', path, { stream: { bytes: stemBytes, contentType: 'audio/flac' } });
		return `${storage.baseUrl}${path}?X-Amz-Expires=3600&X-Amz-Signature=bench`;
	});
	const taskId = `bench-${name}`;
	camb.task(taskId, {
		json: { status: 'SUCCESS', run_id: runId, exception_reason: null, message: null },
	});
	const result = { foreground_audio_url: urls[0], background_audio_url: urls[1] };
	camb.on('GET', resultPath(runId), { json: result });
	// The bulk route knows every run scripted so far, as CAMB would.
	bulk[runId] = result;
	camb.on('POST', '/audio-separation-results', { json: { ...bulk } });
	return {
		task_id: taskId,
		run_id: runId,
		foreground_audio_url: urls[0],
		background_audio_url: urls[1],
	};
}

/** Forks one measured run and waits for its report, killing it if it outlives `timeoutMs`. */
function runChild(
	spec: RunSpec,
	timeoutMs: number,
): Promise<{ result?: RunResult; error?: string }> {
	return new Promise((resolve) => {
		const child = fork(join(__dirname, 'stemMemoryRun.js'), [JSON.stringify(spec)], {
			execArgv: ['--expose-gc'],
			stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
		});
		let output = '';
		const keep = (chunk: Buffer) => {
			output = (output + chunk.toString('utf8')).slice(-8000);
		};
		child.stdout?.on('data', keep);
		child.stderr?.on('data', keep);

		let userFolder: string | undefined;
		let result: RunResult | undefined;
		let error: string | undefined;
		const timer = setTimeout(() => {
			error = `timed out after ${Math.round(timeoutMs / 1000)} s`;
			child.kill('SIGKILL');
		}, timeoutMs);

		child.on('message', (message: ChildMessage) => {
			if (message.type === 'started') userFolder = message.userFolder;
			else if (message.type === 'result') result = message.result;
			else error ??= message.error;
		});
		child.on('error', (cause) => {
			error ??= `could not run the child: ${cause.message}`;
		});
		child.on('exit', (code, signal) => {
			clearTimeout(timer);
			// A killed child could not clean up after itself; its user folder may hold stems.
			if (userFolder && existsSync(userFolder))
				rmSync(userFolder, { recursive: true, force: true });
			if (!result && !error)
				error = `the child exited (${signal ?? `code ${code}`}) without a report`;
			if (error && output.trim()) error += `\n--- child output ---\n${output.trim()}`;
			resolve(error ? { error } : { result });
		});
	});
}

/** Checks a finished run's report: two stems, each the right size and content, stored as the mode stores. */
function problems(c: Case, result: RunResult): string[] {
	const found: string[] = [];
	const bytes = c.stemMiB * MiB;
	if (result.stems.length !== 2) found.push(`${result.stems.length} stems instead of 2`);
	for (const stem of result.stems) {
		if (stem.bytes !== bytes) found.push(`a stem of ${stem.bytes} bytes instead of ${bytes}`);
		if (stem.firstMismatch !== undefined)
			found.push(`a stem differs from what was sent at byte ${stem.firstMismatch}`);
		const expected = c.mode === 'filesystem' ? 'file' : 'inline';
		if (stem.stored !== expected) found.push(`a stem stored ${stem.stored}, expected ${expected}`);
	}
	return found;
}

// ---- report ---------------------------------------------------------------------------------

const mib = (bytes: number) => (bytes / MiB).toFixed(1);

function growth(result: RunResult) {
	const rss = result.peak.rss - result.baseline.rss;
	return {
		rss,
		heap: result.peak.heapUsed - result.baseline.heapUsed,
		external: result.peak.external - result.baseline.external,
		// The kernel's high-water mark over the whole child; if the run set no new high it is an upper bound.
		kernel: Math.max(0, result.kernelMaxRss - result.baseline.rss),
		kernelIsUpperBound: result.kernelMaxRss === result.kernelMaxRssBefore,
	};
}

function table(outcomes: Outcome[]): string {
	const header = [
		'mode',
		'stem MiB',
		'total MiB',
		'wall s',
		'MiB/s',
		'peak RSS +MiB',
		'kernel peak RSS +MiB',
		'peak heap +MiB',
		'peak external +MiB',
		'RSS growth / total',
		'samples',
	];
	const notes: string[] = [];
	const rows = outcomes.map(({ case: c, result, error, skipped }) => {
		const total = 2 * c.stemMiB * MiB;
		const lead = [c.mode, String(c.stemMiB), mib(total)];
		if (!result) {
			// The first line says what went wrong; the stack would only say where in the child.
			const reason = (error ?? '').split('\n    at ')[0];
			notes.push(
				`${c.mode} ${c.stemMiB} MiB: ${skipped ? 'skipped, over the time budget' : `FAILED: ${reason}`}`,
			);
			return [...lead, ...header.slice(lead.length).map(() => (skipped ? 'skipped' : 'FAILED'))];
		}
		const g = growth(result);
		return [
			...lead,
			(result.wallMs / 1000).toFixed(2),
			(total / MiB / (result.wallMs / 1000)).toFixed(0),
			mib(g.rss),
			`${g.kernelIsUpperBound ? '<=' : ''}${mib(g.kernel)}`,
			mib(g.heap),
			mib(g.external),
			(g.rss / total).toFixed(3),
			String(result.samples),
		];
	});
	const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
	const line = (cells: string[]) =>
		`| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
	return [
		line(header),
		`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
		...rows.map(line),
		...notes,
	].join('\n');
}

/** How the peak growth changes from the smallest to the largest run of a mode. */
function trend(outcomes: Outcome[], mode: HarnessBinaryDataMode) {
	const done = outcomes.filter((o) => o.case.mode === mode && o.result);
	if (done.length < 2) return undefined;
	const [small, large] = [done[0], done[done.length - 1]];
	const extraBytes = 2 * (large.case.stemMiB - small.case.stemMiB) * MiB;
	const g = (o: Outcome) => growth(o.result!);
	// The worse of the sampled and the kernel's peak, so a peak between two samples is not missed.
	const increase = Math.max(g(large).rss - g(small).rss, g(large).kernel - g(small).kernel);
	return {
		small,
		large,
		increase,
		perByte: increase / extraBytes,
		flat: increase < NOISE_BYTES + FLAT_SLOPE * extraBytes,
	};
}

function verdict(outcomes: Outcome[]): { text: string; ok: boolean } {
	const lines: string[] = [];
	let ok = outcomes.every((o) => o.result || o.skipped);
	for (const mode of ['filesystem', 'default'] as const) {
		const t = trend(outcomes, mode);
		if (!t) continue;
		lines.push(
			`${mode.padEnd(10)}: stems ${t.small.case.stemMiB} -> ${t.large.case.stemMiB} MiB, peak RSS +${mib(growth(t.small.result!).rss)} -> ` +
				`+${mib(growth(t.large.result!).rss)} MiB: ${(t.perByte * 1024).toFixed(0)} MiB more memory per GiB more stem data ` +
				`-> ${t.flat ? 'FLAT' : 'GROWS WITH THE STEM SIZE'}`,
		);
	}
	const fs = trend(outcomes, 'filesystem');
	if (!fs) {
		ok = false;
		lines.push('No verdict: fewer than two filesystem-mode runs finished.');
	} else {
		ok &&= fs.flat;
		lines.push(
			`(flat: the increase stays under ${mib(NOISE_BYTES)} MiB + ${FLAT_SLOPE} x the extra bytes. ` +
				`Exit code ${ok ? '0' : '1'}: ${ok ? 'every run passed its checks and filesystem mode is flat' : 'a run failed, or filesystem mode is not flat'}.)`,
		);
	}
	return { text: lines.join('\n'), ok };
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	const deadline = Date.now() + options.budgetMs;
	const subject = NODES_UNDER_TEST[options.node];
	const camb = await startStandIn({ apiKey: CAMB_API_KEY });
	const storage = await startStandIn();
	const outcomes: Outcome[] = [];
	const bulk: Record<number, object> = {};
	try {
		console.log(`Stem download memory benchmark: ${subject.label}`);
		console.log(
			`n8n-core WorkflowExecute in a fresh child process per run; two stems per run, downloaded from a storage ` +
				`stand-in on ${storage.baseUrl}; memory sampled every ${SAMPLE_MS} ms (Node ${process.version}).\n`,
		);
		for (const [index, c] of cases(options).entries()) {
			const left = deadline - Date.now();
			if (left < MIN_RUN_MS) {
				outcomes.push({ case: c, skipped: true });
				continue;
			}
			const name = `${index}-${c.mode}-${c.stemMiB}mib`;
			const stemBytes = c.stemMiB * MiB;
			const spec: RunSpec = {
				node: options.node,
				binaryDataMode: c.mode,
				stemBytes,
				input: scriptStems(camb, storage, bulk, name, 1000 + index, stemBytes),
				warmup: scriptStems(camb, storage, bulk, `${name}-warmup`, 5000 + index, WARMUP_STEM_BYTES),
				warmupStemBytes: WARMUP_STEM_BYTES,
				hosts: { cambBaseUrl: camb.baseUrl, cambApiKey: CAMB_API_KEY },
				timeoutMs: Math.min(RUN_TIMEOUT_MS, left) - 5000,
				sampleMs: SAMPLE_MS,
			};
			process.stdout.write(`  ${c.mode.padEnd(10)} 2 x ${String(c.stemMiB).padStart(4)} MiB ... `);
			const before = storage.requests.length;
			const { result, error } = await runChild(spec, Math.min(RUN_TIMEOUT_MS, left));
			const found = result ? problems(c, result) : [];
			// Pre-signed URLs must never get the CAMB key.
			const leaked = storage.requests
				.slice(before)
				.filter((r) => r.headers['x-api-key'] !== undefined);
			if (leaked.length)
				found.push(`${leaked.length} storage requests carried an x-api-key header`);
			if (found.length) outcomes.push({ case: c, error: found.join('; ') });
			else outcomes.push({ case: c, result, error });
			console.log(
				result && !found.length ? `${(result.wallMs / 1000).toFixed(2)} s` : 'FAILED (see below)',
			);
		}
	} finally {
		await Promise.all([camb.close(), storage.close()]);
	}
	console.log(`\n${table(outcomes)}\n`);
	console.log(
		'peak RSS/heap/external: highest sampled value during the run minus the baseline taken after gc; kernel peak RSS: ' +
			'getrusage high-water mark minus the same baseline ("<=" when the run set no new high, so it is an upper bound);\n' +
			"external: memory outside the V8 heap, where Buffers and Node's large base64 strings live (so inline binary data " +
			'shows there rather than in heap); RSS growth / total: sampled peak RSS growth divided by both stems together.\n',
	);
	const { text, ok } = verdict(outcomes);
	console.log(text);
	if (!ok) process.exitCode = 1;
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
