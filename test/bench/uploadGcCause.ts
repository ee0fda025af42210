/**
 * `npm run bench:uploads:gc`: the cause of n8n 2.x's slower uploads, outside n8n. Reads a file the
 * way n8n 2.41's filesystem binary data store hands it to a node (`fileHandle.createReadStream()`,
 * a fresh 64 KiB Buffer per read, see @n8n/blob-storage fs-byte-store.js), frames it in 64 KiB
 * views as Camb Separate Audio does (Readable.from of an async generator) and POSTs it to a sink
 * in a process of its own on 127.0.0.1, first with a small heap, then with --ballast MiB of live
 * JS objects (n8n 2.x's heap is several hundred MiB). Prints MB/s, CPU seconds per GiB
 * (process.cpuUsage: every thread, GC helpers included) and the garbage collections during the
 * upload (perf_hooks 'gc' entries), once per Node binary given with --node (default: the Node
 * running this and the one n8n 2.x runs on, from the e2e install),
 * each with and without --external-memory-accounted-in-global-limit (v8.setFlagsFromString at
 * start-up, as cpuProfileHook.ts does in n8n). Asserts nothing.
 *
 *   npm run bench:uploads:gc -- --mib 256 --ballast 300 --repeats 2 [--node /path/a,/path/b]
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import * as v8 from 'node:v8';

import { findInstall } from '../e2e/n8nInstall';
import { writePatternFile } from '../stand-in/cambStandIn';

const MiB = 1024 * 1024;
const FLAG = '--external-memory-accounted-in-global-limit';
const GC_KINDS: Record<number, string> = {
	[constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
	[constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
	[constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
	[constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function option(argv: string[], flag: string, fallback: string): string {
	const at = argv.indexOf(flag);
	return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback;
}

/** The sink: counts the body's bytes and answers with the count. */
function serveSink(): void {
	const server = http.createServer((req, res) => {
		let bytes = 0;
		req.on('data', (chunk: Buffer) => (bytes += chunk.length));
		req.on('end', () => res.end(String(bytes)));
	});
	server.listen(0, '127.0.0.1', () => {
		process.stdout.write(`${(server.address() as { port: number }).port}\n`);
	});
	process.stdin.on('end', () => process.exit(0));
	process.stdin.resume();
}

async function* framed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
	for await (const chunk of source)
		for (let offset = 0; offset < chunk.length; offset += 64 * 1024)
			yield chunk.subarray(offset, offset + 64 * 1024);
}

/** One upload in this process (a child of the parent's run), printed as one JSON line. */
async function uploadOnce(port: number, file: string, ballastMiB: number): Promise<void> {
	if (process.env.CAMB_V8_FLAGS) v8.setFlagsFromString(process.env.CAMB_V8_FLAGS);
	// About 64 bytes an object: ballastMiB of live objects, kept reachable to the end.
	const ballast: unknown[] = [];
	for (let i = 0; i < ballastMiB * 16 * 1024; i++)
		ballast.push({ a: i, b: `x${i}`, c: [i, i + 1] });
	await new Promise((resolve) => setTimeout(resolve, 1500));
	const gcs: Array<{ kind: string; ms: number }> = [];
	const observer = new PerformanceObserver((list) => {
		for (const entry of list.getEntries()) {
			const detail = (entry as unknown as { detail?: { kind: number } }).detail;
			gcs.push({ kind: GC_KINDS[detail?.kind ?? 0] ?? '?', ms: entry.duration });
		}
	});
	observer.observe({ entryTypes: ['gc'] });
	const size = fs.statSync(file).size;
	const handle = await fsp.open(file, 'r');
	const source = handle.createReadStream();
	const started = Date.now();
	const cpu = process.cpuUsage();
	await new Promise<void>((resolve, reject) => {
		const request = http.request(
			{ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-length': size } },
			(response) => {
				let answer = '';
				response.on('data', (chunk: Buffer) => (answer += chunk.toString()));
				response.on('end', () =>
					Number(answer) === size ? resolve() : reject(new Error(`sink got ${answer}`)),
				);
			},
		);
		request.on('error', reject);
		Readable.from(framed(source)).pipe(request);
	});
	const used = process.cpuUsage(cpu);
	const ms = Date.now() - started;
	observer.disconnect();
	const count = (kind: string) => gcs.filter((gc) => gc.kind === kind).length;
	process.stdout.write(
		`${JSON.stringify({
			node: process.version,
			heapMiB: Math.round(process.memoryUsage().heapUsed / MiB),
			ms,
			mbps: size / 1e6 / (ms / 1000),
			cpuPerGiB: (used.user + used.system) / 1e6 / (size / (1024 * MiB)),
			major: count('major'),
			minor: count('minor'),
			gcPauseMs: gcs.reduce((sum, gc) => sum + gc.ms, 0),
			kept: ballast.length,
		})}\n`,
	);
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	if (argv[0] === '--sink') return serveSink();
	if (argv[0] === '--upload') return await uploadOnce(Number(argv[1]), argv[2], Number(argv[3]));
	// Default: the Node running this (the system's 20.x, n8n 1.x's) and the one n8n 2.x runs on.
	const nodes = option(argv, '--node', `${process.execPath},${findInstall('2').nodeBin}`).split(
		',',
	);
	const sizeMiB = Number(option(argv, '--mib', '256'));
	const ballasts = [0, Number(option(argv, '--ballast', '300'))];
	const repeats = Number(option(argv, '--repeats', '2'));
	const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-gc-cause-'));
	const file = path.join(folder, 'upload.bin');
	await writePatternFile(file, sizeMiB * MiB);
	const sink = spawn(process.execPath, [__filename, '--sink'], {
		stdio: ['pipe', 'pipe', 'inherit'],
	});
	const port = await new Promise<number>((resolve) =>
		sink.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim()))),
	);
	console.log(
		`Upload outside n8n, ${new Date().toISOString()}: ${sizeMiB} MiB read with fileHandle.createReadStream() ` +
			`(64 KiB Buffers), framed in 64 KiB views, POSTed to a sink in its own process (127.0.0.1:${port}); ` +
			`load average ${os
				.loadavg()
				.map((l) => l.toFixed(2))
				.join(' ')}; ${repeats} run(s) each, median.\n`,
	);
	const rows: string[][] = [];
	try {
		for (const nodeBin of nodes)
			for (const ballastMiB of ballasts)
				for (const flags of ['', FLAG]) {
					const results = [];
					for (let i = 0; i < repeats; i++) {
						const run = spawnSync(
							nodeBin,
							[__filename, '--upload', String(port), file, String(ballastMiB)],
							{
								env: { ...process.env, CAMB_V8_FLAGS: flags },
								encoding: 'utf8',
							},
						);
						if (run.status !== 0) throw new Error(`${nodeBin}: ${run.stderr}`);
						results.push(JSON.parse(run.stdout.trim().split('\n').at(-1)!));
					}
					results.sort((a, b) => a.ms - b.ms);
					const mid = results[Math.floor((results.length - 1) / 2)];
					rows.push([
						mid.node,
						`${ballastMiB} MiB (heap ${mid.heapMiB} MiB)`,
						flags || '(none)',
						mid.mbps.toFixed(0),
						mid.cpuPerGiB.toFixed(2),
						String(mid.major),
						String(mid.minor),
						mid.gcPauseMs.toFixed(0),
					]);
				}
	} finally {
		sink.stdin!.end();
		fs.rmSync(folder, { recursive: true, force: true });
	}
	const header = [
		'Node',
		'ballast',
		'V8 flag',
		'MB/s',
		'CPU s/GiB',
		'major GCs',
		'minor GCs',
		'GC pause ms',
	];
	const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
	const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
	console.log(
		[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join(
			'\n',
		),
	);
	console.log(
		'\nMedian by time. CPU: process.cpuUsage over the upload (all threads), per GiB. GCs: perf_hooks gc entries during the upload; pause: their summed main-thread duration.',
	);
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
