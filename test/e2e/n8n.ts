/**
 * Runs workflows in REAL n8n processes, one pinned release per major (see versions.json and
 * install-n8n.sh), with this package installed the way n8n's Community Nodes panel installs it.
 *
 * One session = one fresh N8N_USER_FOLDER (own SQLite database, own encryption key) with the
 * packed package extracted into .n8n/nodes/node_modules. Each run imports one workflow under a
 * fixed id and executes it with `n8n execute --id <id> --rawOutput`; the run's JSON is parsed
 * out of stdout. Every child gets its own process group, a time limit, and is killed with its
 * whole group (task runners included) when it ends, times out, or the session closes.
 *
 * The parts: installs and packing (n8nInstall.ts), processes (n8nProcesses.ts), run results
 * (n8nRunResults.ts), the REST API (n8nRest.ts), what a run left behind (n8nRunLeftovers.ts) and
 * the example workflows (exampleWorkflows.ts). This file runs sessions and re-exports the parts,
 * so the e2e tests, the queue suite, the dev runner and the benchmarks import from here.
 */
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
	Major,
	N8nInstall,
	findInstall,
	freePort,
	installPackage,
	packTarball,
} from './n8nInstall';
import {
	BackgroundProcess,
	ProcessResult,
	killGroup,
	runProcess,
	startBackgroundProcess,
} from './n8nProcesses';
import { Json, N8nProcessError, RunResult, tail, toRunResult } from './n8nRunResults';

export * from './n8nInstall';
export * from './n8nProcesses';
export * from './n8nRunResults';
export * from './n8nRest';
export * from './n8nRunLeftovers';
export * from './exampleWorkflows';

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

interface ServerOptions {
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

interface SessionOptions {
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
