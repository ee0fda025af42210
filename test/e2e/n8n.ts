/**
 * Runs workflows in REAL n8n processes, one pinned release per major (see versions.json and
 * install-n8n.sh), with this package installed the way n8n's Community Nodes panel installs it.
 *
 * One session = one fresh N8N_USER_FOLDER (own SQLite database, own encryption key) with the
 * packed package extracted into .n8n/nodes/node_modules. Each run imports one workflow under a
 * fixed id and executes it with `n8n execute --id <id> --rawOutput`; the run's JSON is parsed
 * out of stdout. Every child gets its own process group, a time limit, and is killed with its
 * whole group (task runners included) when it ends, times out, or the session closes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_NAME } from '../fixtures/package';

export type Major = '1' | '2';

/** The repository: found upwards, so this works from test/e2e (ts-jest) and from dist-test/test/e2e (compiled scripts). */
function findRepoDir(from: string): string {
	for (let dir = from; ; dir = path.dirname(dir)) {
		const manifest = path.join(dir, 'package.json');
		// dist-test/ holds a copy of package.json too, but not test/e2e/versions.json.
		if (
			fs.existsSync(manifest) &&
			fs.existsSync(path.join(dir, 'test', 'e2e', 'versions.json')) &&
			(JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name ===
				'n8n-nodes-camb-separation'
		) {
			return dir;
		}
		if (path.dirname(dir) === dir)
			throw new Error(`no n8n-nodes-camb-separation package.json above ${from}`);
	}
}
export const REPO_DIR = findRepoDir(__dirname);
const E2E_DIR = path.join(REPO_DIR, 'test', 'e2e');
export const EXAMPLES_DIR = path.join(REPO_DIR, 'examples');

interface VersionPin {
	n8n: string;
	node: string | null;
	overrides?: Record<string, string>;
	env?: Record<string, string>;
}

export function cacheDir(): string {
	return process.env.CAMB_E2E_CACHE || path.join(os.homedir(), '.cache', PACKAGE_NAME);
}

export function versionPins(): Record<Major, VersionPin> {
	const file = path.join(E2E_DIR, 'versions.json');
	return (JSON.parse(fs.readFileSync(file, 'utf8')) as { majors: Record<Major, VersionPin> })
		.majors;
}

export interface N8nInstall {
	major: Major;
	version: string;
	nodeBin: string;
	nodeVersion: string;
	/** n8n's bin/n8n script, run as `<nodeBin> <n8nScript>`. */
	n8nScript: string;
	/** Extra environment this major needs (versions.json). */
	env: Record<string, string>;
}

/**
 * The installed n8n for one major, as install-n8n.sh left it. Throws (never skips) when it is
 * missing or was installed for something else: the e2e tests must fail loudly then.
 */
export function findInstall(major: Major): N8nInstall {
	const pin = versionPins()[major];
	if (!pin) throw new Error(`test/e2e/versions.json pins no n8n ${major}.x`);
	const dir = path.join(cacheDir(), `n8n-${pin.n8n}`);
	const markerFile = path.join(dir, '.camb-e2e-installed.json');
	const hint = `Run \`bash test/e2e/install-n8n.sh ${major}\` (npm run test:e2e does).`;
	if (!fs.existsSync(markerFile)) {
		throw new Error(
			`n8n ${pin.n8n} is not installed in ${dir} (no ${path.basename(markerFile)}). ${hint}`,
		);
	}
	const marker = JSON.parse(fs.readFileSync(markerFile, 'utf8')) as {
		n8n: string;
		nodeBin: string;
		nodeVersion: string;
	};
	if (marker.n8n !== pin.n8n)
		throw new Error(`${dir} holds n8n ${marker.n8n}, versions.json pins ${pin.n8n}. ${hint}`);
	if (pin.node && marker.nodeVersion !== `v${pin.node}`) {
		throw new Error(
			`n8n ${pin.n8n} was installed for Node ${marker.nodeVersion}, versions.json pins ${pin.node}. ${hint}`,
		);
	}
	const n8nScript = path.join(dir, 'node_modules', 'n8n', 'bin', 'n8n');
	for (const file of [marker.nodeBin, n8nScript]) {
		if (!fs.existsSync(file))
			throw new Error(`${file} is missing from the n8n ${pin.n8n} install. ${hint}`);
	}
	return {
		major,
		version: pin.n8n,
		nodeBin: marker.nodeBin,
		nodeVersion: marker.nodeVersion,
		n8nScript,
		env: pin.env ?? {},
	};
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

// ---------------------------------------------------------------------------------------------
// The package under test

/**
 * Packs the package (dist/ must be built) into `destination` and returns the tarball's path.
 * Runs in globalSetup once per test run; packTarball() reuses it.
 */
export function packPackage(destination: string): string {
	for (const file of [
		'dist/nodes/CambSeparationStatus/CambSeparationStatus.node.js',
		'dist/credentials/CambAiApi.credentials.js',
	]) {
		if (!fs.existsSync(path.join(REPO_DIR, file)))
			throw new Error(`${file} is missing: run \`npm run build\` first`);
	}
	fs.mkdirSync(destination, { recursive: true });
	const result = spawnSync('npm', ['pack', '--json', '--pack-destination', destination], {
		cwd: REPO_DIR,
		encoding: 'utf8',
		env: { ...process.env, npm_config_ignore_scripts: 'true' },
	});
	if (result.status !== 0) throw new Error(`npm pack failed (${result.status}): ${result.stderr}`);
	const [packed] = JSON.parse(result.stdout) as Array<{ filename: string }>;
	return path.join(destination, packed.filename);
}

let ownTarball: string | undefined;

/** The tarball globalSetup packed (CAMB_E2E_TARBALL), or one packed now for this process. */
export function packTarball(): string {
	const fromSetup = process.env.CAMB_E2E_TARBALL;
	if (fromSetup && fs.existsSync(fromSetup)) return fromSetup;
	ownTarball ??= packPackage(fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-pack-')));
	return ownTarball;
}

/**
 * Installs the tarball into `<userFolder>/.n8n/nodes` the way the Community Nodes panel does:
 * extract into node_modules/<name> (replacing an earlier install), drop dev/peer/optional dependencies from its package.json,
 * and list it with its exact version in the folder's package.json.
 */
export function installPackage(userFolder: string, tarball: string): string {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	const packageDir = path.join(nodesDir, 'node_modules', PACKAGE_NAME);
	// A reinstall (npm run dev's rebuild) replaces the old files: none may linger from an earlier build.
	fs.rmSync(packageDir, { recursive: true, force: true });
	fs.mkdirSync(packageDir, { recursive: true });
	const tar = spawnSync('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1'], {
		encoding: 'utf8',
	});
	if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);

	const manifestFile = path.join(packageDir, 'package.json');
	const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Record<string, unknown>;
	if (manifest.dependencies && Object.keys(manifest.dependencies).length > 0) {
		throw new Error(
			`the package has runtime dependencies (${Object.keys(manifest.dependencies).join(', ')}); n8n would npm-install them`,
		);
	}
	const kept = { ...manifest };
	for (const field of ['devDependencies', 'peerDependencies', 'optionalDependencies'])
		delete kept[field];
	fs.writeFileSync(manifestFile, JSON.stringify(kept, null, 2));
	fs.writeFileSync(
		path.join(nodesDir, 'package.json'),
		JSON.stringify(
			{
				name: 'installed-nodes',
				private: true,
				dependencies: { [PACKAGE_NAME]: manifest.version },
			},
			null,
			2,
		),
	);

	// n8n puts its own node_modules on NODE_PATH for community packages; a copy of n8n-workflow
	// next to (or inside) the package would be found first and break instanceof checks.
	for (const shadow of [
		path.join(packageDir, 'node_modules'),
		path.join(nodesDir, 'node_modules', 'n8n-workflow'),
	]) {
		if (fs.existsSync(shadow))
			throw new Error(`${shadow} exists and would shadow n8n's own n8n-workflow`);
	}
	return packageDir;
}

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

function killGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// The group is already gone.
	}
}

// Last line of defence: whatever way this process ends, no n8n it started outlives it, and the
// tarball packTarball() made for this process (scripts without jest's global setup) goes too.
process.once('exit', () => {
	for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
	if (ownTarball) fs.rmSync(path.dirname(ownTarball), { recursive: true, force: true });
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
	const child = spawn(file, args, {
		cwd: options.cwd,
		env: options.env,
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	const pid = child.pid;
	if (pid !== undefined) liveGroups.add(pid);
	options.children?.add(child);
	if (pid !== undefined) options.onSpawn?.(pid);
	let stdout = '';
	let stderr = '';
	child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
	child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

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
			stdout,
			stderr,
			durationMs: Date.now() - started,
			timedOut,
		};
	} finally {
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

// ---------------------------------------------------------------------------------------------
// Run output

export type Json = Record<string, any>;

export interface N8nItem {
	json: Json;
	binary?: Json;
	error?: Json;
	pairedItem?: unknown;
}

export interface NodeRun {
	/** data.main: one array of items per output ([] for an output n8n left null). */
	outputs: N8nItem[][];
	error?: Json;
	executionStatus?: string;
	/** Epoch ms when this run of the node started, and how long it ran (ms), as n8n recorded them. */
	startTime?: number;
	executionTime?: number;
}

export interface RunResult extends ProcessResult, RunReader {
	workflowId: string;
	/** The parsed run (IRun): status, finished, data.resultData... */
	run: Json;
	/** 'success', 'error', ... as n8n reports it. */
	status: string;
	/** data.resultData.error: what stopped the execution, if anything did. */
	error?: Json;
	/** stdout and stderr, for assertion messages. */
	transcript(): string;
}

/**
 * The run's JSON in `n8n execute --rawOutput` stdout. 1.x prints it alone on success and after
 * "Execution was NOT successful... ====" on failure; 2.x prints log lines before it. It is
 * pretty-printed, so it starts with a line "{" and ends with a line "}".
 */
export function parseRunJson(stdout: string): Json | undefined {
	const lines = stdout.split(/\r?\n/);
	for (let start = 0; start < lines.length; start++) {
		if (lines[start] !== '{') continue;
		for (let end = start + 1; end < lines.length; end++) {
			if (lines[end] !== '}') continue;
			try {
				const parsed = JSON.parse(lines.slice(start, end + 1).join('\n')) as Json;
				if (parsed && typeof parsed === 'object' && parsed.data?.resultData) return parsed;
			} catch {
				// Not the whole object yet: look for a later closing line.
			}
		}
	}
	return undefined;
}

/** An n8n command that gave no usable result; `result` has what it printed. */
export class N8nProcessError extends Error {
	constructor(
		message: string,
		readonly result: ProcessResult,
	) {
		super(
			`${message}\n${tail(`$ ${result.command}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`)}`,
		);
		this.name = 'N8nProcessError';
	}
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

/** Per-node, per-output reading of a run (IRun / IExecution): from `n8n execute`, n8n's REST API or its database. */
export interface RunReader {
	/** Every run of one node, in order (a node inside a loop runs several times). */
	runsOf(nodeName: string): NodeRun[];
	/** The items on one output of one run of a node ([] when there were none). */
	items(nodeName: string, output?: number, runIndex?: number): N8nItem[];
	/** The JSON of those items. */
	json(nodeName: string, output?: number, runIndex?: number): Json[];
	/** The names of the nodes that ran. */
	nodesThatRan(): string[];
}

/** Reads `run.data.resultData.runData` (the same shape in every way n8n hands out a run). */
export function readRun(run: Json): RunReader {
	const runData = (run.data?.resultData?.runData ?? {}) as Record<string, Json[]>;
	const runsOf = (nodeName: string): NodeRun[] =>
		(runData[nodeName] ?? []).map((taskData) => ({
			outputs: ((taskData.data?.main ?? []) as Array<N8nItem[] | null>).map((items) => items ?? []),
			error: taskData.error,
			executionStatus: taskData.executionStatus,
			startTime: taskData.startTime,
			executionTime: taskData.executionTime,
		}));
	const items = (nodeName: string, output = 0, runIndex = 0): N8nItem[] =>
		runsOf(nodeName)[runIndex]?.outputs[output] ?? [];
	return {
		runsOf,
		items,
		json: (nodeName, output, runIndex) =>
			items(nodeName, output, runIndex).map((item) => item.json),
		nodesThatRan: () => Object.keys(runData),
	};
}

function toRunResult(processResult: ProcessResult, workflowId: string): RunResult {
	const transcript = () =>
		`$ ${processResult.command}\n--- stdout ---\n${processResult.stdout}\n--- stderr ---\n${processResult.stderr}`;
	if (processResult.timedOut)
		throw new N8nProcessError('n8n execute did not finish in time and was killed', processResult);
	const run = parseRunJson(processResult.stdout);
	if (!run)
		throw new N8nProcessError(
			`no run JSON in the output of n8n execute (exit ${processResult.exitCode})`,
			processResult,
		);
	return {
		...processResult,
		...readRun(run),
		workflowId,
		run,
		status: run.status,
		error: run.data.resultData.error,
		transcript,
	};
}

/** Fails with n8n's whole output, so a broken run explains itself. */
export function expectRun(result: RunResult, status: 'success' | 'error', exitCode: number): void {
	if (result.status !== status || result.exitCode !== exitCode) {
		throw new Error(
			`expected n8n to report "${status}" and exit ${exitCode}, got "${result.status}" and exit ${result.exitCode}\n` +
				`error: ${JSON.stringify(result.error, null, 2)}\n${result.transcript().slice(-8000)}`,
		);
	}
}

function tail(text: string, max = 6000): string {
	return text.length > max ? `…${text.slice(-max)}` : text;
}

// ---------------------------------------------------------------------------------------------
// Sessions

export interface CredentialToImport {
	id: string;
	name: string;
	type: string;
	/** Plain values: n8n encrypts them on import. */
	data: Record<string, unknown>;
}

export interface N8nSession {
	readonly install: N8nInstall;
	readonly userFolder: string;
	/** Imports credentials into this session's database. */
	importCredentials(credentials: CredentialToImport[]): Promise<void>;
	/** Imports the workflow under a fresh fixed id and executes it. */
	run(workflow: Json, options?: RunOptions): Promise<RunResult>;
	/**
	 * Imports several workflows with one n8n command (each under a fresh fixed id); gives their ids
	 * in order. `activate`: make their triggers (webhooks) live once `n8n start` runs: 1.x imports
	 * them active (`--activeState=fromJson`, which 2.x refuses), 2.x publishes each
	 * (`n8n publish:workflow --id`, about 2.4 s apiece). Import before startServer().
	 */
	importWorkflows(workflows: Json[], options?: { activate?: boolean }): Promise<string[]>;
	/** Executes a workflow imported before (importWorkflows). */
	execute(workflowId: string, options?: RunOptions): Promise<RunResult>;
	/**
	 * Starts `n8n start` (editor and REST API on 127.0.0.1 and the session's free port) and waits
	 * until its REST API answers. The server runs in its own process group until stop() or close().
	 */
	startServer(options?: ServerOptions): Promise<N8nServer>;
	/**
	 * Starts `n8n worker --concurrency=<n>` (queue mode: give the session EXECUTIONS_MODE=queue and
	 * the database and Redis settings) with its health check on 127.0.0.1 and a free port, and
	 * waits until the health check answers. Runs in its own process group until stop(), kill() or close().
	 */
	startWorker(options: { concurrency: number; readyTimeoutMs?: number }): Promise<N8nWorker>;
	/** Kills whatever is still running and deletes the user folder. */
	close(): Promise<void>;
}

export interface ServerOptions {
	/** How long to wait for the REST API; default 120 s. */
	readyTimeoutMs?: number;
	/** Gets everything the server prints (stdout and stderr), as it comes: e.g. to keep a log file. */
	onOutput?: (text: string) => void;
}

export interface N8nServer extends BackgroundProcess {
	/** e.g. http://127.0.0.1:45678 */
	readonly baseUrl: string;
}

export interface N8nWorker extends BackgroundProcess {
	/** The worker's health check, e.g. http://127.0.0.1:45679/healthz */
	readonly healthUrl: string;
}

export interface RunOptions {
	/** This run's time limit; default the session's. */
	timeoutMs?: number;
	/** Called with the pid of `n8n execute` once it runs (it leads its own process group). */
	onSpawn?: (pid: number) => void;
	/** Extra environment for this run only, over the session's: e.g. another N8N_DEFAULT_BINARY_DATA_MODE. */
	env?: Record<string, string>;
}

export interface SessionOptions {
	/** Per n8n command; default 120 s. */
	timeoutMs?: number;
	/** Extra environment for every n8n command of the session, e.g. N8N_DEFAULT_BINARY_DATA_MODE. */
	env?: Record<string, string>;
	/** Keep the user folder after close (debugging). Also CAMB_E2E_KEEP=1. */
	keep?: boolean;
	/** The packed package to install; default packTarball()'s. */
	tarball?: string;
	/** Start of the user folder's name in the temp dir; default `camb-e2e-n8n<major>-`. */
	folderPrefix?: string;
}

/** Env names a parent may have set that would change how n8n behaves (jest sets NODE_ENV=test). */
const DROPPED_ENV =
	/^(N8N_|DB_|NODE_ENV$|NODE_OPTIONS$|NODE_PATH$|EXECUTIONS_|QUEUE_|GENERIC_TIMEZONE$|JEST_|npm_)/;

async function sessionEnv(
	install: N8nInstall,
	userFolder: string,
	extra: Record<string, string> = {},
): Promise<NodeJS.ProcessEnv> {
	const inherited = Object.fromEntries(
		Object.entries(process.env).filter(([name]) => !DROPPED_ENV.test(name)),
	);
	return {
		...inherited,
		PATH: `${path.dirname(install.nodeBin)}${path.delimiter}${process.env.PATH ?? ''}`,
		NODE_ENV: 'production',
		N8N_USER_FOLDER: userFolder,
		N8N_ENCRYPTION_KEY: 'camb-e2e-encryption-key-not-a-secret',
		N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_HIRING_BANNER_ENABLED: 'false',
		N8N_LOG_LEVEL: 'info',
		N8N_LOG_OUTPUT: 'console',
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_PORT: String(await freePort()),
		N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
		N8N_RUNNERS_BROKER_PORT: String(await freePort()),
		GENERIC_TIMEZONE: 'UTC',
		...install.env,
		...extra,
	};
}

let workflowCounter = 0;

/** A fresh user folder with the package installed, ready to import and run workflows. */
export async function startSession(
	major: Major,
	options: SessionOptions = {},
): Promise<N8nSession> {
	const install = findInstall(major);
	const tarball = options.tarball ?? packTarball();
	const userFolder = fs.mkdtempSync(
		path.join(os.tmpdir(), options.folderPrefix ?? `camb-e2e-n8n${major}-`),
	);
	installPackage(userFolder, tarball);
	const env = await sessionEnv(install, userFolder, options.env);
	const children = new Set<ChildProcess>();
	const background = new Set<BackgroundProcess>();
	const defaultTimeout = options.timeoutMs ?? 120_000;
	const keep = options.keep ?? process.env.CAMB_E2E_KEEP === '1';

	const n8n = async (
		args: string[],
		timeoutMs = defaultTimeout,
		onSpawn?: (pid: number) => void,
		extraEnv: Record<string, string> = {},
	) =>
		await runProcess(install.nodeBin, [install.n8nScript, ...args], {
			cwd: userFolder,
			env: { ...env, ...extraEnv },
			timeoutMs,
			children,
			onSpawn,
		});
	const mustSucceed = (result: ProcessResult, what: string) => {
		if (result.exitCode !== 0)
			throw new N8nProcessError(
				`${what} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''})`,
				result,
			);
	};
	const writeJson = (name: string, value: unknown) => {
		const file = path.join(userFolder, name);
		fs.writeFileSync(file, JSON.stringify(value, null, 2));
		return file;
	};

	/** Starts a long-running n8n command and waits until `ready()` says yes (or it exits, or time runs out). */
	const startBackground = async (
		args: string[],
		extraEnv: Record<string, string>,
		ready: () => Promise<boolean>,
		readyTimeoutMs: number,
		onOutput?: (text: string) => void,
	): Promise<BackgroundProcess> => {
		const started = startBackgroundProcess(install.nodeBin, [install.n8nScript, ...args], {
			cwd: userFolder,
			env: { ...env, ...extraEnv },
			onOutput,
		});
		background.add(started);
		const deadline = Date.now() + readyTimeoutMs;
		for (;;) {
			if (started.exited())
				throw new Error(
					`n8n ${args.join(' ')} exited before it was ready:\n${tail(started.output())}`,
				);
			if (await ready().catch(() => false)) return started;
			if (Date.now() >= deadline) {
				await started.stop();
				throw new Error(
					`n8n ${args.join(' ')} was not ready after ${readyTimeoutMs / 1000} s:\n${tail(started.output())}`,
				);
			}
			await new Promise((resolve) => setTimeout(resolve, 500));
		}
	};
	const answers = async (url: string) =>
		(await fetch(url, { signal: AbortSignal.timeout(2000) })).ok;

	const startServer = async ({
		readyTimeoutMs = 120_000,
		onOutput,
	}: ServerOptions = {}): Promise<N8nServer> => {
		const baseUrl = `http://127.0.0.1:${env.N8N_PORT}`;
		const server = await startBackground(
			['start'],
			{ N8N_HOST: '127.0.0.1', N8N_SECURE_COOKIE: 'false', N8N_EDITOR_BASE_URL: `${baseUrl}/` },
			// /healthz answers before the REST API is mounted; /rest/settings (no login needed) after.
			// While it starts, n8n 1.x answers every path with 200 "n8n is starting up. Please wait": wait for JSON.
			async () => {
				const response = await fetch(`${baseUrl}/rest/settings`, {
					signal: AbortSignal.timeout(2000),
				});
				return response.ok && Boolean((JSON.parse(await response.text()) as Json | null)?.data);
			},
			readyTimeoutMs,
			onOutput,
		);
		return { ...server, baseUrl };
	};

	const startWorker = async ({
		concurrency,
		readyTimeoutMs = 120_000,
	}: {
		concurrency: number;
		readyTimeoutMs?: number;
	}): Promise<N8nWorker> => {
		const healthPort = String(await freePort());
		const healthUrl = `http://127.0.0.1:${healthPort}/healthz`;
		const worker = await startBackground(
			['worker', `--concurrency=${concurrency}`],
			{
				QUEUE_HEALTH_CHECK_ACTIVE: 'true',
				QUEUE_HEALTH_CHECK_PORT: healthPort,
				N8N_WORKER_SERVER_ADDRESS: '127.0.0.1',
			},
			// The worker's server (health check) starts once it is connected to the database and Redis.
			() => answers(healthUrl),
			readyTimeoutMs,
		);
		return { ...worker, healthUrl };
	};

	const importWorkflows = async (
		workflows: Json[],
		{ activate = false } = {},
	): Promise<string[]> => {
		// Each session has its own database, so a counter is enough to keep ids apart.
		const withIds = workflows.map((workflow) => {
			workflowCounter += 1;
			return {
				...workflow,
				id: `cambE2eWf${String(workflowCounter).padStart(7, '0')}`,
				active: activate && install.major === '1',
			};
		});
		const ids = withIds.map((workflow) => workflow.id);
		// import:workflow takes one workflow or an array of them.
		const file = writeJson(
			`workflow-${ids[0]}${ids.length > 1 ? `-${ids.length}` : ''}.json`,
			withIds.length === 1 ? withIds[0] : withIds,
		);
		const activeState = activate && install.major === '1' ? ['--activeState=fromJson'] : [];
		mustSucceed(
			await n8n(['import:workflow', `--input=${file}`, ...activeState]),
			`n8n ${install.version} import:workflow`,
		);
		if (activate && install.major !== '1') {
			for (const id of ids)
				mustSucceed(
					await n8n(['publish:workflow', `--id=${id}`]),
					`n8n ${install.version} publish:workflow`,
				);
		}
		return ids;
	};
	const execute = async (workflowId: string, runOptions: RunOptions = {}): Promise<RunResult> => {
		const executed = await n8n(
			['execute', `--id=${workflowId}`, '--rawOutput'],
			runOptions.timeoutMs,
			runOptions.onSpawn,
			runOptions.env,
		);
		// Kept with the user folder under CAMB_E2E_KEEP=1, for reading what n8n printed.
		fs.writeFileSync(path.join(userFolder, `run-${workflowId}.stdout.txt`), executed.stdout);
		fs.writeFileSync(path.join(userFolder, `run-${workflowId}.stderr.txt`), executed.stderr);
		return toRunResult(executed, workflowId);
	};

	return {
		install,
		userFolder,
		async importCredentials(credentials) {
			const file = writeJson(`credentials-${Date.now()}.json`, credentials);
			try {
				mustSucceed(
					await n8n(['import:credentials', `--input=${file}`]),
					`n8n ${install.version} import:credentials`,
				);
			} finally {
				// The plain-text input is this runner's, not n8n's: gone, only n8n's encrypted copy stays (tests scan the folder for keys).
				fs.rmSync(file, { force: true });
			}
		},
		run: async (workflow, runOptions = {}) => {
			const [workflowId] = await importWorkflows([workflow]);
			return await execute(workflowId, runOptions);
		},
		importWorkflows,
		execute,
		startServer,
		startWorker,
		async close() {
			for (const child of children) if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
			await Promise.all([...background].map((started) => started.kill()));
			if (keep) console.log(`n8n ${install.version} user folder kept: ${userFolder}`);
			else fs.rmSync(userFolder, { recursive: true, force: true });
		},
	};
}

// ---------------------------------------------------------------------------------------------
// The REST API the editor uses (after `startServer()`)

/** What n8n's owner set-up takes; the email and password are also the login. */
export interface N8nAccount {
	email: string;
	firstName: string;
	lastName: string;
	/** n8n wants 8+ characters with a digit and an upper-case letter. */
	password: string;
}

export interface RestAnswer {
	status: number;
	headers: http.IncomingHttpHeaders;
	/** The parsed JSON body, if it was JSON; n8n wraps results in `{ data }`. */
	body?: Json;
	text: string;
}

/**
 * Talks to a running n8n's REST API (`/rest/...`) as its editor does: it keeps the `n8n-auth`
 * cookie n8n sets, and sends one fixed `browser-id` header, to which n8n binds that cookie (a
 * cookie shown with another browser id is refused).
 */
export class N8nRest {
	private cookie = '';
	private readonly browserId = `camb-e2e-${randomUUID()}`;

	constructor(readonly baseUrl: string) {}

	async request(method: string, apiPath: string, body?: unknown): Promise<RestAnswer> {
		return await this.send(method, `/rest${apiPath}`, body);
	}

	/**
	 * Any path of the server (e.g. `/types/nodes.json`, which also wants the login), as the logged-in
	 * editor asks for it. One connection per request (no keep-alive): reusing a kept-alive socket races
	 * with the server closing it when idle, which a busy machine turns into "other side closed".
	 */
	async send(method: string, pathFromRoot: string, body?: unknown): Promise<RestAnswer> {
		const payload = body === undefined ? undefined : JSON.stringify(body);
		const { status, headers, text } = await new Promise<{
			status: number;
			headers: http.IncomingHttpHeaders;
			text: string;
		}>((resolve, reject) => {
			const request = http.request(
				`${this.baseUrl}${pathFromRoot}`,
				{
					method,
					agent: false,
					timeout: 60_000,
					headers: {
						'content-type': 'application/json',
						'browser-id': this.browserId,
						...(this.cookie ? { cookie: this.cookie } : {}),
						...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }),
					},
				},
				(response) => {
					let received = '';
					response.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
					response.once('end', () =>
						resolve({
							status: response.statusCode ?? 0,
							headers: response.headers,
							text: received,
						}),
					);
					response.once('error', reject);
				},
			);
			request.once('timeout', () =>
				request.destroy(new Error(`${method} ${pathFromRoot}: no answer from n8n in 60 s`)),
			);
			request.once('error', reject);
			request.end(payload);
		});
		const authCookie = (headers['set-cookie'] ?? []).find((cookie) =>
			cookie.startsWith('n8n-auth='),
		);
		if (authCookie) this.cookie = authCookie.split(';')[0];
		let parsed: Json | undefined;
		try {
			parsed = JSON.parse(text) as Json;
		} catch {
			parsed = undefined; // Not JSON (an HTML error page, say): `text` has it.
		}
		return { status, headers, body: parsed, text };
	}

	/** The answer's `data`; throws with the status and body unless n8n answered 2xx. */
	async data(method: string, apiPath: string, body?: unknown): Promise<any> {
		const answer = await this.request(method, apiPath, body);
		if (answer.status < 200 || answer.status > 299) {
			throw new Error(
				`n8n answered ${method} /rest${apiPath} with ${answer.status}: ${answer.text.slice(0, 1000)}`,
			);
		}
		return answer.body?.data;
	}

	/** Creates the instance owner (only possible once per user folder) and logs in as it. */
	async setUpOwner(owner: N8nAccount): Promise<void> {
		await this.data('POST', '/owner/setup', owner);
	}

	async login(email: string, password: string): Promise<void> {
		await this.data('POST', '/login', { emailOrLdapLoginId: email, password });
	}
}

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
export function processMemory(pid: number): Omit<MemorySample, 'at'> | undefined {
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
	{ everyMs, ...runOptions }: RunOptions & { everyMs: number },
): Promise<{ result: RunResult; samples: MemorySample[] }> {
	const samples: MemorySample[] = [];
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

// ---------------------------------------------------------------------------------------------
// Example workflows

/** A fresh copy of examples/<name>. */
export function loadExample(name: string): Json {
	return JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, name), 'utf8')) as Json;
}

export function nodeNamed(workflow: Json, name: string): Json {
	const node = (workflow.nodes as Json[]).find((candidate) => candidate.name === name);
	if (!node) throw new Error(`the workflow has no node "${name}"`);
	return node;
}

/** Sets the ids the "Task IDs" Code node of check-once-and-route.json emits (one item `{ task_id }` each). */
export function withTaskIds(workflow: Json, taskIds: string[]): Json {
	const node = nodeNamed(workflow, 'Task IDs');
	const line = /^const taskIds = \[.*\];$/m;
	if (!line.test(node.parameters.jsCode))
		throw new Error('the "Task IDs" Code node no longer has a `const taskIds = [...];` line');
	node.parameters.jsCode = node.parameters.jsCode.replace(
		line,
		`const taskIds = ${JSON.stringify(taskIds)};`,
	);
	return workflow;
}

/** Sets the task id in the "Task ID" Set node of poll-until-done.json. */
export function withPollTaskId(workflow: Json, taskId: string): Json {
	const [assignment] = nodeNamed(workflow, 'Task ID').parameters.assignments.assignments as Json[];
	if (assignment?.name !== 'task_id')
		throw new Error('the "Task ID" Set node no longer assigns task_id first');
	assignment.value = taskId;
	return workflow;
}

/** Where submit-wait-and-download-stems.json reads and writes as shipped: n8n 2.x's default file folder in n8n's Docker image. */
export const SHIPPED_FILES_FOLDER = '/home/node/.n8n-files/';

/**
 * submit-wait-and-download-stems.json reading its audio from `folder`/`audioFile` and writing the
 * stems into `folder` (as shipped: a placeholder file under /home/node/.n8n-files). n8n must be
 * allowed to use `folder` (N8N_RESTRICT_FILE_ACCESS_TO: 2.x allows only ~/.n8n-files by default).
 * Throws if the shipped paths changed, so a rewrite can never silently miss one.
 */
export function withLocalFiles(
	workflow: Json,
	{ folder, audioFile }: { folder: string; audioFile: string },
): Json {
	const read = nodeNamed(workflow, 'Read audio file');
	if (!String(read.parameters.fileSelector).startsWith(`${SHIPPED_FILES_FOLDER}REPLACE-`))
		throw new Error(
			`"Read audio file" reads ${read.parameters.fileSelector}, not the shipped placeholder`,
		);
	read.parameters.fileSelector = path.join(folder, audioFile);
	for (const name of ['Write foreground stem', 'Write background stem']) {
		const write = nodeNamed(workflow, name);
		const shipped = `=${SHIPPED_FILES_FOLDER}`;
		if (!String(write.parameters.fileName).startsWith(shipped))
			throw new Error(`"${name}" writes ${write.parameters.fileName}, not under ${shipped}`);
		write.parameters.fileName = `=${path.join(folder, String(write.parameters.fileName).slice(shipped.length))}`;
	}
	return workflow;
}
