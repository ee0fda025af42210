/**
 * `npm run bench:uploads`: upload speed and CPU cost of Camb Separate Audio against n8n's own HTTP
 * Request node sending the same file as multipart/form-data, side by side, in real n8n 1.x and
 * 2.x (issue 24, item 5).
 *
 * One session per major (test/e2e/n8n.ts: `n8n execute`, this package installed as a community
 * package), N8N_DEFAULT_BINARY_DATA_MODE=filesystem. Each size's file (the deterministic pattern,
 * writePatternFile) is written once to a temp folder outside the clone, the only folder n8n may
 * read (N8N_RESTRICT_FILE_ACCESS_TO). Two workflows per size:
 *
 *   camb   Manual Trigger → Read/Write Files from Disk → Camb Separate Audio (every option at its default)
 *   http   Manual Trigger → Read/Write Files from Disk → HTTP Request 4.2: POST <stand-in>/audio-separation,
 *          the CAMB credential (predefined credential type), Body Content Type "Form-Data", one
 *          "n8n Binary File" parameter media_file from the binary field `data`, options at defaults
 *
 * Both go to the same CAMB stand-in, which runs IN A PROCESS OF ITS OWN (standInCli.ts, loopback
 * 127.0.0.1 only, no added latency) and checks every upload: one file in media_file, whole, its
 * length and sha256 those of the pattern, the api key sent. Round robin: repeat → size → major →
 * contender, one n8n process at a time; median of --repeats.
 *
 * Per run, over the upload node's own span (its startTime and executionTime in n8n's run data):
 * MB/s (10^6 bytes a second) and CPU seconds per GiB of the `n8n execute` process (the one that
 * runs the nodes; task runners, which play no part here, are not counted) and of the stand-in's.
 * CPU: utime + stime of /proc/<pid>/stat (clock ticks, 100 a second here) read every --sample ms
 * with Date.now(); the CPU at the span's start and end is interpolated linearly between the two
 * samples around each. Also the peak VmRSS (/proc/<pid>/status) during the span and the 1-minute
 * load average before each run; the load average is printed at the start and at the end.
 *
 * Prints tables; asserts nothing (exit 1 only if a run failed or an upload did not arrive whole).
 * The files and n8n's stored copies are deleted afterwards.
 *
 * Options: --majors 1,2   --sizes 64,256,1024 (MiB)   --repeats 3   --sample 20 (ms)
 *          --contenders camb,http   --profile <dir>: a CPU profile of each n8n process kept there
 *          (cpuProfileHook.ts; it costs some speed: a profiled run's figures are not for the tables)
 *          --v8-flags "<flags>": each uploader runs twice, without and with these V8 flags set in the
 *          n8n process at start-up (cpuProfileHook.ts), side by side, e.g.
 *          --external-memory-accounted-in-global-limit (see BENCHMARKS.md, uploads in 2.x)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { startSession, storedBinaryFile, type Major, type N8nSession } from '../e2e/n8n';
import type { RunResult } from '../e2e/n8nRunResults';
import { READ_NODE, uploadWorkflow } from '../e2e/uploadWorkflow';
import { API_KEY, CREDENTIAL, SUBMIT_NODE_NAME, credentialRecord } from '../fixtures/package';
import { uploadProblems, writePatternFile } from '../stand-in/cambStandIn';
import { median, printTable } from './realN8nMeasure';
import { node, to, trigger, workflow } from './realN8nWorkflows';
import { startStandInChild, type StandInChild } from './standInChild';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const HTTP_UPLOAD_NODE = 'Upload (HTTP Request)';
const RUN_TIMEOUT_MS = 900_000;
/** Clock ticks a second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux x86-64). */
const CLK_TCK = 100;
const CONTENDERS = ['camb', 'http'] as const;
type Contender = (typeof CONTENDERS)[number];
const CONTENDER_LABEL: Record<Contender, string> = {
	camb: 'Camb Separate Audio',
	http: 'HTTP Request (form-data)',
};

interface Options {
	majors: Major[];
	sizesMiB: number[];
	repeats: number;
	sampleMs: number;
	contenders: Contender[];
	profileDir?: string;
	/** Each uploader is also run with these V8 flags set in the n8n process at start-up (cpuProfileHook.ts). */
	v8Flags?: string;
}

function parseOptions(argv: string[]): Options {
	const options: Options = {
		majors: ['1', '2'],
		sizesMiB: [64, 256, 1024],
		repeats: 3,
		sampleMs: 20,
		contenders: [...CONTENDERS],
	};
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value = ''] = [argv[i], argv[i + 1]];
		if (flag === '--majors') {
			options.majors = value.split(',') as Major[];
			if (options.majors.some((major) => major !== '1' && major !== '2'))
				throw new Error('--majors takes 1, 2 or 1,2');
		} else if (flag === '--sizes') {
			options.sizesMiB = value.split(',').map((part) => {
				const size = Number(part);
				if (!(size > 0 && size <= 4096)) throw new Error(`bad size "${part}" (MiB, up to 4096)`);
				return size;
			});
		} else if (flag === '--repeats') {
			options.repeats = Number(value);
			if (!(options.repeats >= 1)) throw new Error('--repeats takes 1 or more');
		} else if (flag === '--sample') {
			options.sampleMs = Number(value);
			if (!(options.sampleMs >= 5)) throw new Error('--sample takes 5 ms or more');
		} else if (flag === '--contenders') {
			options.contenders = value.split(',') as Contender[];
			if (options.contenders.some((c) => !CONTENDERS.includes(c)))
				throw new Error('--contenders takes camb, http or camb,http');
		} else if (flag === '--v8-flags') {
			options.v8Flags = value;
		} else if (flag === '--profile') {
			options.profileDir = path.resolve(value);
		} else throw new Error(`unknown option "${flag}" (see the top of test/bench/uploadSpeed.ts)`);
	}
	return options;
}

// ---- sampling /proc ---------------------------------------------------------------------------

interface ProcSample {
	at: number;
	/** utime + stime in seconds. */
	cpuS: number;
	rssKiB: number;
}

function procSample(pid: number): ProcSample | undefined {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		// Fields after the command name (which may hold spaces) start after the last ')'.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		// utime and stime are fields 14 and 15 of stat: 12 and 13 after "pid (comm) ".
		const ticks = Number(fields[11]) + Number(fields[12]);
		const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
		const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
		return { at: Date.now(), cpuS: ticks / CLK_TCK, rssKiB };
	} catch {
		return undefined; // Gone.
	}
}

/** Samples `pid` every `everyMs` until stop(). */
function sampler(everyMs: number) {
	const samples: ProcSample[] = [];
	let timer: NodeJS.Timeout | undefined;
	return {
		samples,
		start(pid: number) {
			const take = () => {
				const sample = procSample(pid);
				if (sample) samples.push(sample);
			};
			take();
			timer = setInterval(take, everyMs);
		},
		stop() {
			if (timer) clearInterval(timer);
		},
	};
}

/** CPU seconds at `at`, interpolated between the samples around it. */
function cpuAt(samples: ProcSample[], at: number): number {
	const after = samples.findIndex((sample) => sample.at >= at);
	if (after < 0) throw new Error('no CPU sample after the span');
	if (after === 0) return samples[0].cpuS;
	const [a, b] = [samples[after - 1], samples[after]];
	return a.cpuS + ((b.cpuS - a.cpuS) * (at - a.at)) / Math.max(1, b.at - a.at);
}

// ---- workflows --------------------------------------------------------------------------------

function httpUploadWorkflow(file: string, baseUrl: string) {
	return workflow(
		`bench uploads: HTTP Request ${path.basename(file)}`,
		[
			trigger(),
			node(READ_NODE, 'n8n-nodes-base.readWriteFile', 1, {
				operation: 'read',
				fileSelector: file,
				options: {},
			}),
			node(
				HTTP_UPLOAD_NODE,
				'n8n-nodes-base.httpRequest',
				4.2,
				{
					method: 'POST',
					url: `${baseUrl}/audio-separation`,
					authentication: 'predefinedCredentialType',
					nodeCredentialType: 'cambAiApi',
					sendBody: true,
					contentType: 'multipart-form-data',
					bodyParameters: {
						parameters: [
							{ parameterType: 'formBinaryData', name: 'media_file', inputDataFieldName: 'data' },
						],
					},
					options: {},
				},
				{ credentials: { cambAiApi: CREDENTIAL } },
			),
		],
		{ Start: { main: [[to(READ_NODE)]] }, [READ_NODE]: { main: [[to(HTTP_UPLOAD_NODE)]] } },
	);
}

/** The environment that preloads cpuProfileHook.ts into n8n, when profiling or setting V8 flags. */
function hookEnv(options: Options, profileBase: string, flagged: boolean): Record<string, string> {
	if (!options.profileDir && !flagged) return {};
	return {
		NODE_OPTIONS: `--require ${path.join(__dirname, 'cpuProfileHook.js')}`,
		...(flagged && options.v8Flags ? { CAMB_V8_FLAGS: options.v8Flags } : {}),
		...(options.profileDir
			? { CAMB_CPU_PROFILE: `${profileBase}.cpuprofile`, CAMB_GC_LOG: `${profileBase}.gc.jsonl` }
			: {}),
	};
}

// ---- one run ----------------------------------------------------------------------------------

interface Run {
	major: Major;
	contender: Contender;
	/** Run with options.v8Flags set in the n8n process. */
	flagged: boolean;
	sizeMiB: number;
	ms: number;
	cpuPerGiB: number;
	standInCpuPerGiB: number;
	peakRssMiB: number;
	load1: number;
}

async function runOnce(
	session: N8nSession,
	workflowId: string,
	contender: Contender,
	flagged: boolean,
	sizeMiB: number,
	fileName: string,
	camb: StandInChild,
	options: Options,
): Promise<Run> {
	const load1 = os.loadavg()[0];
	await camb.reset();
	const n8nSampler = sampler(options.sampleMs);
	const cambSampler = sampler(options.sampleMs);
	cambSampler.start(camb.pid);
	let result: RunResult | undefined;
	const nodeName = contender === 'camb' ? SUBMIT_NODE_NAME : HTTP_UPLOAD_NODE;
	const profileBase = path.join(
		options.profileDir ?? '',
		`n8n${session.install.major}-${contender}${flagged ? '-flagged' : ''}-${sizeMiB}mib-${Date.now()}`,
	);
	try {
		result = await session.execute(workflowId, {
			timeoutMs: RUN_TIMEOUT_MS,
			onSpawn: (pid) => n8nSampler.start(pid),
			env: hookEnv(options, profileBase, flagged),
		});
	} finally {
		n8nSampler.stop();
		cambSampler.stop();
	}
	try {
		if (result.status !== 'success')
			throw new Error(
				`the run ended ${result.status}: ${JSON.stringify(result.error)?.slice(0, 500)}`,
			);
		const bytes = Math.round(sizeMiB * MiB);
		const { uploads, tasksCreated } = await camb.uploads();
		const problems = [
			...(uploads.length === 1 ? [] : [`${uploads.length} uploads`]),
			...(tasksCreated === 1 ? [] : [`${tasksCreated} tasks created`]),
			...(uploads[0] && !uploads[0].withKey ? ['the upload lacked the key'] : []),
			...(uploads[0]
				? uploadProblems(uploads[0], { file: { fileName, patternBytes: bytes } })
				: []),
		];
		if (problems.length)
			throw new Error(`the upload did not arrive as sent: ${problems.join('; ')}`);
		const [run] = result.runsOf(nodeName);
		if (run?.startTime === undefined || run.executionTime === undefined)
			throw new Error(`n8n recorded no startTime/executionTime for ${nodeName}`);
		const start = Number(run.startTime);
		const end = start + Number(run.executionTime);
		// Beside the profile: the node's span, to read the profile and the GC log inside it.
		if (options.profileDir)
			fs.writeFileSync(`${profileBase}.span.json`, JSON.stringify({ nodeName, start, end }));
		const gib = bytes / GiB;
		const during = n8nSampler.samples.filter((s) => s.at >= start && s.at <= end);
		return {
			major: session.install.major,
			contender,
			flagged,
			sizeMiB,
			ms: end - start,
			cpuPerGiB: (cpuAt(n8nSampler.samples, end) - cpuAt(n8nSampler.samples, start)) / gib,
			standInCpuPerGiB: (cpuAt(cambSampler.samples, end) - cpuAt(cambSampler.samples, start)) / gib,
			peakRssMiB: Math.max(0, ...during.map((s) => s.rssKiB)) / 1024,
			load1,
		};
	} finally {
		// n8n's copy of the file in its binary data store: gone, so the temp disk stays small.
		const stored = storedBinaryFile(session, result.items(READ_NODE)[0]?.binary?.data);
		if (stored) fs.rmSync(stored, { force: true });
	}
}

const uploaderLabel = (contender: Contender, flagged: boolean) =>
	`${CONTENDER_LABEL[contender]}${flagged ? ' + V8 flags' : ''}`;

// ---- main -------------------------------------------------------------------------------------

const sizeLabel = (sizeMiB: number) =>
	sizeMiB >= 1024 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`;
const loadavg = () =>
	os
		.loadavg()
		.map((value) => value.toFixed(2))
		.join(' ');

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	if (options.profileDir) fs.mkdirSync(options.profileDir, { recursive: true });
	const startedAt = new Date().toISOString();
	const loadAtStart = loadavg();
	const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-bench-uploads-'));
	const camb = await startStandInChild('free', {
		latencyMs: 0,
		n: 0,
		prefix: 'u-',
		apiKey: API_KEY,
	});
	const sessions = new Map<Major, N8nSession>();
	const runs: Run[] = [];
	const failures: string[] = [];
	try {
		const files = new Map<number, { file: string; fileName: string }>();
		for (const sizeMiB of options.sizesMiB) {
			const fileName = `upload-${sizeMiB}mib.mp3`;
			const file = path.join(folder, fileName);
			await writePatternFile(file, Math.round(sizeMiB * MiB));
			files.set(sizeMiB, { file, fileName });
		}
		// workflow ids per major, contender and size
		const ids = new Map<string, string>();
		for (const major of options.majors) {
			const session = await startSession(major, {
				timeoutMs: RUN_TIMEOUT_MS,
				env: { N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem', N8N_RESTRICT_FILE_ACCESS_TO: folder },
			});
			sessions.set(major, session);
			await session.importCredentials([credentialRecord(camb.baseUrl)]);
			for (const sizeMiB of options.sizesMiB) {
				const { file } = files.get(sizeMiB)!;
				const [cambId, httpId] = await session.importWorkflows([
					uploadWorkflow({
						name: `bench uploads: Camb ${path.basename(file)}`,
						fileSelector: file,
					}),
					httpUploadWorkflow(file, camb.baseUrl),
				]);
				ids.set(`${major} camb ${sizeMiB}`, cambId);
				ids.set(`${major} http ${sizeMiB}`, httpId);
			}
		}
		console.log(
			`Upload speed benchmark, ${startedAt}: ${[...sessions.values()].map((s) => `n8n ${s.install.version} on Node ${s.install.nodeVersion}`).join(', ')}; ` +
				`N8N_DEFAULT_BINARY_DATA_MODE=filesystem; CAMB stand-in in its own process (pid ${camb.pid}) at ${camb.baseUrl}, ` +
				`no added latency; ${options.repeats} round(s) of size → major → contender; /proc sampled every ${options.sampleMs} ms` +
				`${options.profileDir ? `; n8n CPU-profiled (profiles in ${options.profileDir})` : ''}` +
				`${options.v8Flags ? `; each uploader also run with the V8 flags ${options.v8Flags} set in n8n ("+ V8 flags")` : ''}.\n` +
				`Load average at start (1, 5, 15 min): ${loadAtStart}\n`,
		);
		for (let round = 1; round <= options.repeats; round++) {
			for (const sizeMiB of options.sizesMiB) {
				for (const major of options.majors) {
					for (const [contender, flagged] of options.contenders.flatMap((c) =>
						(options.v8Flags ? [false, true] : [false]).map((f) => [c, f] as const),
					)) {
						const session = sessions.get(major)!;
						const label = `round ${round}, ${sizeLabel(sizeMiB)}, n8n ${session.install.version}, ${uploaderLabel(contender, flagged)}`;
						process.stdout.write(`  ${label} ... `);
						try {
							const run = await runOnce(
								session,
								ids.get(`${major} ${contender} ${sizeMiB}`)!,
								contender,
								flagged,
								sizeMiB,
								files.get(sizeMiB)!.fileName,
								camb,
								options,
							);
							runs.push(run);
							console.log(
								`${(run.ms / 1000).toFixed(2)} s, ${((sizeMiB * MiB) / 1e6 / (run.ms / 1000)).toFixed(0)} MB/s, ` +
									`n8n ${run.cpuPerGiB.toFixed(2)} CPU s/GiB, stand-in ${run.standInCpuPerGiB.toFixed(2)}, ` +
									`peak RSS ${run.peakRssMiB.toFixed(0)} MiB, load ${run.load1.toFixed(2)}; sha256 checked`,
							);
						} catch (error) {
							const message = (error as Error).message.split('\n').slice(0, 6).join('\n');
							failures.push(`${label}: ${message}`);
							console.log(`FAILED: ${message}`);
						}
					}
				}
			}
		}
	} finally {
		for (const session of sessions.values()) await session.close();
		await camb.close();
		fs.rmSync(folder, { recursive: true, force: true });
	}

	console.log(`\nLoad average at end (1, 5, 15 min): ${loadavg()}, ${new Date().toISOString()}\n`);
	const rows: string[][] = [];
	for (const major of options.majors) {
		const version = runs.find((run) => run.major === major);
		for (const [sizeMiB, flagged] of options.sizesMiB.flatMap((size) =>
			(options.v8Flags ? [false, true] : [false]).map((f) => [size, f] as const),
		)) {
			const of = (contender: Contender) =>
				runs.filter(
					(r) =>
						r.major === major &&
						r.sizeMiB === sizeMiB &&
						r.contender === contender &&
						r.flagged === flagged,
				);
			const cells = options.contenders.map((contender) => {
				const mine = of(contender);
				if (mine.length === 0) return undefined;
				const ms = median(mine.map((r) => r.ms));
				return {
					runs: mine.length,
					ms,
					mbps: (sizeMiB * MiB) / 1e6 / (ms / 1000),
					cpu: median(mine.map((r) => r.cpuPerGiB)),
					standIn: median(mine.map((r) => r.standInCpuPerGiB)),
					rss: median(mine.map((r) => r.peakRssMiB)),
					load: `${Math.min(...mine.map((r) => r.load1)).toFixed(1)}-${Math.max(...mine.map((r) => r.load1)).toFixed(1)}`,
				};
			});
			options.contenders.forEach((contender, i) => {
				const cell = cells[i];
				if (!cell) return;
				const other = cells[1 - i];
				rows.push([
					version ? `n8n ${major}.x` : major,
					sizeLabel(sizeMiB),
					uploaderLabel(contender, flagged),
					String(cell.runs),
					(cell.ms / 1000).toFixed(2),
					cell.mbps.toFixed(0),
					cell.cpu.toFixed(2),
					cell.standIn.toFixed(2),
					cell.rss.toFixed(0),
					other && contender === 'camb' ? (other.ms / cell.ms).toFixed(2) : '',
					cell.load,
				]);
			});
		}
	}
	printTable(
		[
			'n8n',
			'file',
			'uploader',
			'runs',
			'median s',
			'MB/s',
			'n8n CPU s/GiB',
			'stand-in CPU s/GiB',
			'peak RSS MiB',
			'HTTP s / Camb s',
			'load (1 min)',
		],
		rows,
	);
	console.log(
		"\nmedian s: the upload node's executionTime in n8n's run data, median of the runs; MB/s: 10^6 bytes over that median; " +
			"n8n CPU s/GiB: utime+stime of the `n8n execute` process over the node's span, per GiB of file, median; " +
			"stand-in CPU: the same for the stand-in's process (parsing and hashing); peak RSS: the highest VmRSS of the n8n process in the span, median; " +
			'HTTP s / Camb s: above 1, Camb Separate Audio is the faster; load: the 1-minute load average before each run, lowest-highest.',
	);
	if (failures.length) {
		console.log(`\nFailed:\n${failures.join('\n')}`);
		process.exitCode = 1;
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
