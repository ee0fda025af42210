/**
 * The harness's side of standInCli.ts: starts the stand-in in a child process and talks to it
 * over its stdin and stdout (commands) and loopback (the requests under test), so neither
 * contender of a benchmark shares an event loop with the server it is measured against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

import type { MultipartRecord } from '../stand-in/cambStandIn';
import type { ServerKind } from './standInKinds';

export interface ChildStats {
	requests: number;
	unavailable: number;
	limited: number;
	maxConcurrent: number;
}

/** What the stand-in recorded of the uploads since the last reset: lengths and sha256s, never bytes. */
export interface ChildUploads {
	uploads: Array<{
		method: string;
		path: string;
		bodyComplete: boolean;
		multipart?: MultipartRecord;
		withKey: boolean;
	}>;
	tasksCreated: number;
}

export interface StandInChild {
	readonly kind: ServerKind;
	readonly baseUrl: string;
	readonly pid: number;
	reset(): Promise<void>;
	stats(): Promise<ChildStats>;
	/** The uploads received since the last reset (standInCli's `uploads`). */
	uploads(): Promise<ChildUploads>;
	close(): Promise<void>;
}

export async function startStandInChild(
	kind: ServerKind,
	options: { latencyMs: number; n: number; prefix: string; apiKey: string; pending?: number },
): Promise<StandInChild> {
	const cli = path.join(__dirname, 'standInCli.js');
	const args = [cli, '--server', kind, '--latency', String(options.latencyMs)];
	args.push('--n', String(options.n), '--prefix', options.prefix, '--api-key', options.apiKey);
	if (options.pending) args.push('--pending', String(options.pending));
	const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
	const lines = readline.createInterface({ input: child.stdout! });
	const waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
	lines.on('line', (line) => waiting.shift()?.resolve(line));
	child.once('exit', (code) => {
		for (const { reject } of waiting.splice(0))
			reject(new Error(`stand-in ${kind} exited (${code})`));
	});
	const next = () =>
		new Promise<string>((resolve, reject) => {
			if (child.exitCode !== null) reject(new Error(`stand-in ${kind} has exited`));
			else waiting.push({ resolve, reject });
		});
	const ask = async (command: string) => {
		const answer = next();
		child.stdin!.write(`${command}\n`);
		return JSON.parse(await answer) as Record<string, unknown>;
	};
	const { port } = JSON.parse(await next()) as { port: number };
	return {
		kind,
		baseUrl: `http://127.0.0.1:${port}`,
		pid: child.pid ?? -1,
		reset: async () => void (await ask('reset')),
		stats: async () => (await ask('stats')) as unknown as ChildStats,
		uploads: async () => (await ask('uploads')) as unknown as ChildUploads,
		close: async () =>
			await new Promise<void>((resolve) => {
				if (child.exitCode !== null) return resolve();
				child.once('exit', () => resolve());
				child.stdin!.end();
			}),
	};
}
