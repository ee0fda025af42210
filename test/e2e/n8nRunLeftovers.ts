/**
 * What an n8n run left behind, for the e2e runner (n8n.ts): the files binary data was stored in,
 * files containing a secret, and the memory of the n8n process sampled while it ran.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { N8nSession, RunOptions } from './n8n';
import type { Json, RunResult } from './n8nRunResults';

// ---------------------------------------------------------------------------------------------
// What a run left behind: binary data, files, memory

/**
 * The file n8n stored a binary in, in filesystem mode ("filesystem-v2:workflows/<id>/executions/<id>/
 * binary_data/<uuid>" under <user folder>/.n8n/binaryData in 1.x, .n8n/storage in 2.x); undefined
 * for a binary held inline (base64 in the run JSON) or a file n8n has already deleted.
 */
export function storedBinaryFile(
	session: N8nSession,
	binary: Json | undefined,
): string | undefined {
	const relative = /^filesystem(?:-v2)?:(.+)$/.exec(String(binary?.id ?? ''))?.[1];
	if (!relative) return undefined;
	return ['binaryData', 'storage']
		.map((folder) => path.join(session.userFolder, '.n8n', folder, relative))
		.find((file) => fs.existsSync(file));
}

/** The bytes of one binary property of an n8n item: inline base64 (default mode) or the file n8n stored (filesystem mode). */
export function binaryBytes(session: N8nSession, binary: Json): Buffer {
	if (typeof binary.data === 'string' && !/^filesystem(-v2)?$/.test(binary.data))
		return Buffer.from(binary.data, 'base64');
	const file = storedBinaryFile(session, binary);
	if (!file)
		throw new Error(
			`binary data neither inline nor in the session's filesystem store: ${JSON.stringify(binary).slice(0, 300)}`,
		);
	return fs.readFileSync(file);
}

/** Every file under `dir` whose bytes contain `secret` (e.g. the API key in n8n's user folder). */
export function filesContaining(dir: string, secret: string): string[] {
	const found: string[] = [];
	const needle = Buffer.from(secret, 'utf8');
	for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
		if (!entry.isFile()) continue;
		const file = path.join(entry.parentPath, entry.name);
		if (fs.readFileSync(file).includes(needle)) found.push(file);
	}
	return found;
}

export interface MemorySample {
	/** Date.now() of the sample. */
	at: number;
	/** VmRSS and VmHWM (the kernel's high-water mark of RSS) of /proc/<pid>/status, in KiB. */
	rssKiB: number;
	hwmKiB: number;
}

/** A process's resident memory now and its peak so far; undefined once it is gone. */
function processMemory(pid: number): Omit<MemorySample, 'at'> | undefined {
	try {
		const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
		const field = (name: string) =>
			Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
		const rssKiB = field('VmRSS');
		const hwmKiB = field('VmHWM');
		return Number.isFinite(rssKiB) && Number.isFinite(hwmKiB) ? { rssKiB, hwmKiB } : undefined;
	} catch {
		return undefined; // The process is gone.
	}
}

/**
 * Executes a workflow imported before while sampling the memory of the `n8n execute` process (the
 * one that runs the nodes) every `everyMs`. The samples cover the whole process, start-up included:
 * pick the ones inside a node's run with its startTime and executionTime.
 */
export async function executeSampling(
	session: N8nSession,
	workflowId: string,
	{
		everyMs,
		samples = [],
		...runOptions
	}: RunOptions & {
		everyMs: number;
		/** Where the samples go; pass one to keep them when the run throws (time-out, crash). */
		samples?: MemorySample[];
	},
): Promise<{ result: RunResult; samples: MemorySample[] }> {
	let sampler: NodeJS.Timeout | undefined;
	try {
		const result = await session.execute(workflowId, {
			...runOptions,
			onSpawn: (pid) => {
				runOptions.onSpawn?.(pid);
				sampler = setInterval(() => {
					const memory = processMemory(pid);
					if (memory) samples.push({ at: Date.now(), ...memory });
				}, everyMs);
			},
		});
		return { result, samples };
	} finally {
		if (sampler) clearInterval(sampler);
	}
}
