/**
 * `npm run bench:upload`: does uploading a file with Camb Separate Audio keep n8n's memory flat
 * as the file grows?
 *
 * Measured in REAL n8n (2.x by default, `--major 1` for 1.x), where users' memory goes: one
 * session (test/e2e/n8n.ts) with N8N_DEFAULT_BINARY_DATA_MODE=filesystem, this package installed
 * as a community package. For each size a file of the deterministic pattern is written
 * (writePatternFile) to a temp folder outside the clone, the only folder n8n may read
 * (N8N_RESTRICT_FILE_ACCESS_TO), and a workflow Read/Write Files from Disk → Camb Separate Audio
 * uploads it to the CAMB stand-in in THIS process (so parsing and hashing the upload costs the
 * measured process nothing). The `n8n execute` process's VmRSS and VmHWM (/proc/<pid>/status)
 * are sampled every --sample ms; the baseline is the last sample before Camb Separate Audio
 * started (the Read node has stored the file by then), the peak the highest while it ran (its
 * startTime and executionTime in n8n's run data). The stand-in checks every upload: one task, the
 * file's sha256 and length, name and type.
 *
 * `--link 8` plays a slow uplink: the stand-in reads the upload at 8 MB/s (10^6 bytes), so 1 GiB
 * takes over two minutes, at the node's default Request Timeout (60 s, an idle time-out: an upload
 * that keeps moving never times out).
 *
 * Prints a table and a verdict; asserts nothing for `npm test` (exit 1 only if a run failed or an
 * upload did not arrive whole). The files, and n8n's stored copies, are deleted after each run.
 *
 * Options: --major 1|2 (default 2)   --sizes 8,64,256,1024 (MiB)   --sample 50 (ms)
 *          --link MB/s (default: loopback at full speed)
 * Only 127.0.0.1 is used.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
	executeSampling,
	startSession,
	storedBinaryFile,
	type Major,
	type MemorySample,
	type N8nSession,
	type RunResult,
} from '../e2e/n8n';
import { READ_NODE, uploadWorkflow } from '../e2e/uploadWorkflow';
import {
	startStandIn,
	UPLOAD_PATH,
	uploadProblems,
	writePatternFile,
	type StandIn,
} from '../stand-in/cambStandIn';
import { API_KEY, credentialRecord, SUBMIT_NODE_NAME } from '../fixtures/package';

const MiB = 1024 * 1024;
/** One run's limit: the Read node copies the file into n8n's store, then it is uploaded. */
const RUN_TIMEOUT_MS = 900_000;
/**
 * "Flat": the largest file's peak growth exceeds the smallest's by less than FLAT_NOISE_MIB plus
 * FLAT_SHARE of the extra bytes. A Node process of a few hundred MiB moves by several MiB between
 * samples whatever it does (GC, JIT, socket buffers); a node that kept even 2% of what it sent
 * (one chunk in fifty) would pass that at 1 GiB.
 */
const FLAT_NOISE_MIB = 8;
const FLAT_SHARE = 0.02;

interface Options {
	major: Major;
	sizesMiB: number[];
	sampleMs: number;
	/** The uplink's pace in MB/s (10^6 bytes); undefined: full speed. */
	linkMBps?: number;
}

function parseOptions(argv: string[]): Options {
	const options: Options = { major: '2', sizesMiB: [8, 64, 256, 1024], sampleMs: 50 };
	for (let i = 0; i < argv.length; i += 2) {
		const [flag, value] = [argv[i], argv[i + 1] ?? ''];
		if (flag === '--major') {
			if (value !== '1' && value !== '2') throw new Error('--major takes 1 or 2');
			options.major = value;
		} else if (flag === '--sizes') {
			options.sizesMiB = value.split(',').map((part) => {
				const size = Number(part);
				if (!(size > 0 && size <= 4096)) throw new Error(`bad size "${part}" (MiB, up to 4096)`);
				return size;
			});
		} else if (flag === '--link') {
			options.linkMBps = Number(value);
			if (!(options.linkMBps > 0)) throw new Error('--link takes a pace in MB/s above 0');
		} else if (flag === '--sample') {
			options.sampleMs = Number(value);
			if (!(options.sampleMs >= 10)) throw new Error('--sample takes 10 ms or more');
		} else throw new Error(`unknown option "${flag}" (see the top of test/bench/uploadMemory.ts)`);
	}
	return options;
}

interface Row {
	sizeMiB: number;
	uploadMs: number;
	baselineKiB: number;
	peakKiB: number;
	hwmKiB: number;
	/** Highest RSS in the first and in the last quarter of the upload: bytes kept would make the second grow with the file. */
	firstQuarterKiB: number;
	lastQuarterKiB: number;
	samples: number;
}

/** The Submit node's run as n8n recorded it, and the memory samples inside it. */
function measure(result: RunResult, samples: MemorySample[], sampleMs: number) {
	const [submit] = result.runsOf(SUBMIT_NODE_NAME);
	if (submit?.startTime === undefined || submit.executionTime === undefined)
		throw new Error('n8n recorded no start time or execution time for Camb Separate Audio');
	const start = submit.startTime;
	const duration = submit.executionTime;
	const end = start + duration;
	const before = samples.filter((sample) => sample.at <= start).at(-1);
	const during = samples.filter(
		(sample) => sample.at >= start - sampleMs && sample.at <= end + sampleMs,
	);
	if (!before || during.length === 0)
		throw new Error(
			`no memory samples around the upload (${samples.length} in all, ${during.length} during it)`,
		);
	const quarter = (from: number, to: number) => {
		const inside = during.filter(
			(sample) => sample.at >= start + from * duration && sample.at <= start + to * duration,
		);
		// A run shorter than four samples: its nearest sample stands for the quarter.
		const pool = inside.length > 0 ? inside : [from === 0 ? during[0] : during[during.length - 1]];
		return Math.max(...pool.map((sample) => sample.rssKiB));
	};
	return {
		uploadMs: duration,
		baselineKiB: before.rssKiB,
		peakKiB: Math.max(...during.map((sample) => sample.rssKiB)),
		hwmKiB: Math.max(...samples.map((sample) => sample.hwmKiB)),
		firstQuarterKiB: quarter(0, 0.25),
		lastQuarterKiB: quarter(0.75, 1),
		samples: during.length,
	};
}

async function runSize(
	session: N8nSession,
	camb: StandIn,
	folder: string,
	sizeMiB: number,
	sampleMs: number,
): Promise<Row> {
	const bytes = Math.round(sizeMiB * MiB);
	const fileName = `upload-${sizeMiB}mib.mp3`;
	const file = path.join(folder, fileName);
	await writePatternFile(file, bytes);
	camb.reset();
	let result: RunResult | undefined;
	try {
		const [workflowId] = await session.importWorkflows([
			uploadWorkflow({ name: `bench upload ${path.basename(file)}`, fileSelector: file }),
		]);
		const sampled = await executeSampling(session, workflowId, {
			timeoutMs: RUN_TIMEOUT_MS,
			everyMs: sampleMs,
		});
		result = sampled.result;
		if (result.status !== 'success')
			throw new Error(
				`the run ended ${result.status}: ${JSON.stringify(result.error)?.slice(0, 500)}`,
			);
		const uploads = camb.requests.filter((request) => request.path === UPLOAD_PATH);
		const problems = [
			...(camb.tasksCreated.length === 1 ? [] : [`${camb.tasksCreated.length} tasks created`]),
			...(uploads.length === 1 ? [] : [`${uploads.length} uploads`]),
			...(uploads[0]?.headers['x-api-key'] === API_KEY ? [] : ['the upload lacked the key']),
			...(uploads[0]
				? uploadProblems(uploads[0], {
						fields: {},
						file: { fileName, contentType: 'audio/mpeg', patternBytes: bytes },
					})
				: []),
		];
		if (problems.length)
			throw new Error(`the upload did not arrive as sent: ${problems.join('; ')}`);
		return { sizeMiB, ...measure(result, sampled.samples, sampleMs) };
	} finally {
		fs.rmSync(file, { force: true });
		// n8n's copy of the file in its binary data store: gone too, so the temp disk stays small.
		const stored = result && storedBinaryFile(session, result.items(READ_NODE)[0]?.binary?.data);
		if (stored) fs.rmSync(stored, { force: true });
	}
}

function printTable(header: string[], rows: string[][]): void {
	const widths = header.map((cell, i) =>
		Math.max(cell.length, ...rows.map((row) => row[i].length)),
	);
	const line = (cells: string[]) =>
		`| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
	console.log(
		[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join(
			'\n',
		),
	);
}

const mib = (kib: number) => (kib / 1024).toFixed(0);
const sizeLabel = (sizeMiB: number) =>
	sizeMiB >= 1024 ? `${sizeMiB / 1024} GiB` : `${sizeMiB} MiB`;

async function main(): Promise<void> {
	const options = parseOptions(process.argv.slice(2));
	const camb = await startStandIn({
		apiKey: API_KEY,
		readBytesPerSecond: options.linkMBps === undefined ? undefined : options.linkMBps * 1e6,
	});
	const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-bench-upload-'));
	let session: N8nSession | undefined;
	const rows: Row[] = [];
	const failures: string[] = [];
	try {
		session = await startSession(options.major, {
			timeoutMs: RUN_TIMEOUT_MS,
			env: { N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem', N8N_RESTRICT_FILE_ACCESS_TO: folder },
		});
		await session.importCredentials([credentialRecord(camb.baseUrl)]);
		console.log(
			`Upload memory benchmark: n8n ${session.install.version} on Node ${session.install.nodeVersion}, ` +
				`N8N_DEFAULT_BINARY_DATA_MODE=filesystem, Read/Write Files from Disk → Camb Separate Audio → ` +
				`CAMB stand-in ${camb.baseUrl}` +
				(options.linkMBps === undefined ? '' : ` reading uploads at ${options.linkMBps} MB/s`) +
				`; Request Timeout at its default; n8n's RSS sampled every ${options.sampleMs} ms.\n`,
		);
		for (const sizeMiB of options.sizesMiB) {
			process.stdout.write(`  ${sizeLabel(sizeMiB).padStart(8)} ... `);
			try {
				const row = await runSize(session, camb, folder, sizeMiB, options.sampleMs);
				rows.push(row);
				console.log(`uploaded in ${(row.uploadMs / 1000).toFixed(2)} s, sha256 checked`);
			} catch (error) {
				const message = (error as Error).message.split('\n').slice(0, 6).join('\n');
				failures.push(`${sizeLabel(sizeMiB)}: ${message}`);
				console.log(`FAILED: ${message}`);
			}
		}
	} finally {
		await session?.close();
		await camb.close();
		fs.rmSync(folder, { recursive: true, force: true });
	}

	console.log('');
	printTable(
		[
			'file',
			'upload s',
			'MB/s',
			'RSS before MiB',
			'peak RSS MiB',
			'growth MiB',
			'RSS 1st → 4th quarter MiB',
			'process VmHWM MiB',
			'samples',
		],
		rows.map((row) => [
			sizeLabel(row.sizeMiB),
			(row.uploadMs / 1000).toFixed(2),
			((row.sizeMiB * MiB) / 1e6 / (row.uploadMs / 1000)).toFixed(0),
			mib(row.baselineKiB),
			mib(row.peakKiB),
			((row.peakKiB - row.baselineKiB) / 1024).toFixed(1),
			`${mib(row.firstQuarterKiB)} → ${mib(row.lastQuarterKiB)}`,
			mib(row.hwmKiB),
			String(row.samples),
		]),
	);
	console.log(
		"\nupload s: Camb Separate Audio's executionTime in n8n's run data; MB/s: 10^6 bytes per second; RSS before: the last " +
			"sample before the node started; peak: the highest sample while it ran; 1st → 4th quarter: the highest sample in the first and in the last quarter of the upload's time; VmHWM: the process's peak over the whole run " +
			"(start-up and the Read node's copy into the binary data store included).",
	);
	if (rows.length >= 2) {
		const [small, large] = [rows[0], rows[rows.length - 1]];
		const growth = (row: Row) => (row.peakKiB - row.baselineKiB) / 1024;
		const increase = growth(large) - growth(small);
		const allowed = FLAT_NOISE_MIB + FLAT_SHARE * (large.sizeMiB - small.sizeMiB);
		const flat = increase < allowed;
		console.log(
			`\n${sizeLabel(small.sizeMiB)} → ${sizeLabel(large.sizeMiB)}: growth +${growth(small).toFixed(1)} → +${growth(large).toFixed(1)} MiB ` +
				`(${increase >= 0 ? '+' : ''}${increase.toFixed(1)} MiB): ${flat ? 'FLAT' : 'GROWS WITH THE FILE SIZE'} ` +
				`(flat: less than ${FLAT_NOISE_MIB} MiB + ${FLAT_SHARE * 100}% of the extra bytes = ${allowed.toFixed(1)} MiB more growth for the largest file than for the smallest).`,
		);
	}
	if (failures.length) {
		console.log(`\nFailed:\n${failures.join('\n')}`);
		process.exitCode = 1;
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
