/**
 * Child processes of the e2e runner (n8n.ts): each in its own process group with a time limit,
 * killed with its whole group (task runners included); and what is left of a group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------------------------
// Processes

export interface ProcessResult {
	command: string;
	/** Also the id of the process group it led. */
	pid?: number;
	exitCode: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	durationMs: number;
	timedOut: boolean;
}

const liveGroups = new Set<number>();

export function killGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}

// Last line of defence: whatever way this process ends, no n8n it started outlives it (and the
// tarball packTarball() made goes too, see n8nInstall.ts).
process.once('exit', () => {
	for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
});

/** Runs one command in its own process group; kills the group on timeout, and once it ends. */
export async function runProcess(
	file: string,
	args: string[],
	options: {
		cwd: string;
		env: NodeJS.ProcessEnv;
		timeoutMs: number;
		children?: Set<ChildProcess>;
		/** Called once the child runs, with its pid (also its process group id): e.g. to sample its memory. */
		onSpawn?: (pid: number) => void;
	},
): Promise<ProcessResult> {
	const started = Date.now();
	const command = [file, ...args].join(' ');
	// stdout goes to a file, not a pipe: Node writes to a file synchronously, so a command that
	// prints megabytes (n8n's run JSON with in-memory binary data) and then calls process.exit()
	// loses nothing. Into a pipe, whatever the reader had not taken yet was cut off on a busy machine.
	const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-out-'));
	const outFile = path.join(outDir, 'stdout');
	const outFd = fs.openSync(outFile, 'w');
	const child = spawn(file, args, {
		cwd: options.cwd,
		env: options.env,
		detached: true,
		stdio: ['ignore', outFd, 'pipe'],
	});
	fs.closeSync(outFd);
	const pid = child.pid;
	if (pid !== undefined) liveGroups.add(pid);
	options.children?.add(child);
	if (pid !== undefined) options.onSpawn?.(pid);
	let stderr = '';
	child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

	let timedOut = false;
	let hardKill: NodeJS.Timeout | undefined;
	const timer = setTimeout(() => {
		timedOut = true;
		if (pid === undefined) return;
		killGroup(pid, 'SIGTERM');
		hardKill = setTimeout(() => killGroup(pid, 'SIGKILL'), 5000);
	}, options.timeoutMs);

	try {
		const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
			(resolve, reject) => {
				child.once('error', reject);
				// A helper that outlived n8n could hold stdout open and delay 'close': end the group first.
				child.once('exit', () => pid !== undefined && killGroup(pid, 'SIGKILL'));
				child.once('close', (code, sig) => resolve([code, sig]));
			},
		);
		return {
			command,
			pid,
			exitCode,
			signal,
			stdout: fs.readFileSync(outFile, 'utf8'),
			stderr,
			durationMs: Date.now() - started,
			timedOut,
		};
	} finally {
		fs.rmSync(outDir, { recursive: true, force: true });
		clearTimeout(timer);
		if (hardKill) clearTimeout(hardKill);
		// n8n may leave helpers behind (2.x's task runner): end the whole group every time.
		if (pid !== undefined) {
			killGroup(pid, 'SIGKILL');
			liveGroups.delete(pid);
		}
		options.children?.delete(child);
	}
}

/** A long-running command (n8n start or worker, a database) in its own process group. */
export interface BackgroundProcess {
	/** Also the id of its process group (n8n's task runners, postgres' backends included). */
	readonly pid: number;
	/** What it printed so far, stdout and stderr interleaved (the last 200 kB). */
	output(): string;
	/** Whether the process has exited. */
	exited(): boolean;
	/** Resolves when the process has exited, for whatever reason (stop() included). */
	readonly whenExited: Promise<void>;
	/** `signal` (default SIGTERM: n8n shuts down gracefully) to the group, SIGKILL after `graceMs`; resolves once the group is gone. */
	stop(graceMs?: number, signal?: NodeJS.Signals): Promise<void>;
	/** SIGKILL to the whole group at once, as a crash or an OOM kill would; resolves once the group is gone. */
	kill(): Promise<void>;
}

/**
 * Starts a command that runs until stopped, in its own process group. The group is killed when
 * the command exits and when this process exits, so nothing it started can outlive the tests.
 */
export function startBackgroundProcess(
	file: string,
	args: string[],
	options: { cwd: string; env: NodeJS.ProcessEnv; onOutput?: (text: string) => void },
): BackgroundProcess {
	const child = spawn(file, args, {
		cwd: options.cwd,
		env: options.env,
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const pid = child.pid;
	if (pid === undefined) throw new Error(`${file} did not start`);
	liveGroups.add(pid);
	let printed = '';
	const keepOutput = (chunk: Buffer) => {
		const text = chunk.toString('utf8');
		printed = (printed + text).slice(-200_000);
		options.onOutput?.(text);
	};
	child.stdout.on('data', keepOutput);
	child.stderr.on('data', keepOutput);
	let exited = false;
	const exit = new Promise<void>((resolve) =>
		child.once('exit', () => {
			exited = true;
			killGroup(pid, 'SIGKILL');
			liveGroups.delete(pid);
			resolve();
		}),
	);
	return {
		pid,
		output: () => printed,
		exited: () => exited,
		whenExited: exit,
		async stop(graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM') {
			if (!exited) {
				killGroup(pid, signal);
				const hardKill = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
				await exit;
				clearTimeout(hardKill);
			}
			await groupGone(pid);
		},
		async kill() {
			killGroup(pid, 'SIGKILL');
			await exit;
			await groupGone(pid);
		},
	};
}

/** The processes of group `pgid` that are still running (zombies waiting to be reaped do not count). */
export function groupMembers(pgid: number): number[] {
	const members: number[] = [];
	for (const entry of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		let stat: string;
		try {
			stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
		} catch {
			continue; // Gone in the meantime.
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
		const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
	}
	return members;
}

/** The running processes below `pid` (children, their children…), read from /proc's parent pids. */
export function descendantsOf(pid: number): number[] {
	const parentOf = new Map<number, number>();
	for (const entry of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
			const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			if (state !== 'Z' && state !== 'X') parentOf.set(Number(entry), Number(ppid));
		} catch {
			// Gone in the meantime.
		}
	}
	const found: number[] = [];
	const below = new Set([pid]);
	for (let grew = true; grew; ) {
		grew = false;
		for (const [child, parent] of parentOf) {
			if (below.has(parent) && !below.has(child)) {
				below.add(child);
				found.push(child);
				grew = true;
			}
		}
	}
	return found;
}

/** True while a process with this pid runs (a zombie waiting to be reaped does not count). */
export function isRunning(pid: number): boolean {
	try {
		const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
		const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
		return state !== 'Z' && state !== 'X';
	} catch {
		return false;
	}
}

/** Waits until no process of group `pgid` runs any more; gives what is left after `timeoutMs`. */
export async function groupGone(pgid: number, timeoutMs = 5000): Promise<number[]> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const left = groupMembers(pgid);
		if (left.length === 0 || Date.now() >= deadline) return left;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}
