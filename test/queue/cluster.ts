/**
 * n8n in queue mode, as a media pipeline would run it: one main process (`n8n start`: editor,
 * REST API, webhooks, the timer that resumes parked executions) and `n8n worker` processes that
 * take executions from a Redis queue, all sharing one Postgres database and one encryption key.
 * Each process is its own e2e session (test/e2e/n8n.ts): its own user folder with the package
 * installed as the Community Nodes panel installs it, its own ports (2.x: its own task broker).
 *
 * Executions start through Webhook triggers (`n8n execute` ignores queue mode); results are read
 * from Postgres, cancellations go through the REST API as the owner.
 */
import { createRequire } from 'node:module';

import {
	readRun,
	startSession,
	type CredentialToImport,
	type Json,
	type Major,
	type N8nServer,
	type N8nSession,
	type N8nWorker,
	type RunReader,
} from '../e2e/n8n';
import type { Postgres, Redis } from './services';

export interface ClusterWorker {
	/** w1, w2, … in the order they were started. */
	readonly name: string;
	readonly process: N8nWorker;
	readonly session: N8nSession;
}

/** One row of execution_entity. */
interface ExecutionRow {
	id: string;
	workflowId: string;
	/** new, running, waiting, success, error, crashed, canceled… */
	status: string;
	finished: boolean;
	startedAt: string | null;
	stoppedAt: string | null;
	waitTill: string | null;
}

/** One execution with its run data. */
export interface ExecutionRecord extends ExecutionRow, RunReader {
	/** The run (IRun-like: data.resultData.runData, .error, .lastNodeExecuted). */
	run: Json;
}

export interface QueueCluster {
	readonly major: Major;
	readonly version: string;
	readonly main: N8nServer;
	/** Every worker started so far, killed or not. */
	readonly workers: ClusterWorker[];
	/** The database this cluster uses in the shared Postgres. */
	readonly database: string;
	/** Starts `count` more workers side by side (each waits for the database and Redis more than for the CPU). */
	startWorkers(count: number): Promise<ClusterWorker[]>;
	/** The workers whose log says they started execution `id` (once per job: a resumed execution is a new job). */
	workersThatRan(executionId: string): string[];
	/** POSTs JSON to a production webhook of main; retries while 2.x still answers 404 after start. */
	triggerWebhook(webhookPath: string, body: Json): Promise<void>;
	/** Executions of a workflow, oldest first (without run data). */
	executionsOf(workflowId: string): Promise<ExecutionRow[]>;
	/** One execution with its run data. */
	execution(id: string): Promise<ExecutionRecord>;
	/**
	 * Starts a saved workflow from its Manual Trigger as the editor's "Execute workflow" does
	 * (POST /rest/workflows/:id/run with the canvas's workflow); gives the execution's id.
	 */
	runManually(workflowId: string, workflowData: Json): Promise<string>;
	/** POST /rest/executions/:id/stop as the owner; gives n8n's answer. */
	stopExecution(id: string): Promise<Json>;
	close(): Promise<void>;
}

interface ClusterOptions {
	major: Major;
	postgres: Postgres;
	redis: Redis;
	/** Parent of the shared binary data folder. */
	workDir: string;
	credentials: CredentialToImport[];
	/** Imported and activated before main starts (1.x can only activate on import). */
	workflows: Json[];
	/** Imported, not activated: started from their Manual Trigger (runManually). */
	manualWorkflows?: Json[];
	workers: number;
	concurrency: number;
	/** Extra environment for every process (binary data mode…). */
	env?: Record<string, string>;
}

const OWNER = {
	email: 'owner@example.com',
	firstName: 'Queue',
	lastName: 'Test',
	password: 'Queue-test-0wner-pass',
};

/** Starts Postgres-backed main + workers; gives the cluster and the ids the workflows got, in order. */
export async function startQueueCluster(
	options: ClusterOptions,
): Promise<{ cluster: QueueCluster; workflowIds: string[]; manualWorkflowIds: string[] }> {
	const { major, postgres, redis } = options;
	const database = await postgres.createDatabase(`n8n_queue_${major}`);
	const env: Record<string, string> = {
		EXECUTIONS_MODE: 'queue',
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: '127.0.0.1',
		DB_POSTGRESDB_PORT: String(postgres.port),
		DB_POSTGRESDB_DATABASE: database,
		DB_POSTGRESDB_USER: postgres.user,
		DB_POSTGRESDB_PASSWORD: 'trust-auth-needs-none',
		QUEUE_BULL_REDIS_HOST: '127.0.0.1',
		QUEUE_BULL_REDIS_PORT: String(redis.port),
		QUEUE_BULL_PREFIX: `camb-queue-${major}`,
		// Workers report each job they take and finish at info level: that is how a test tells which worker ran what.
		N8N_LOG_LEVEL: 'info',
		...options.env,
	};
	const sessions: N8nSession[] = [];
	const newSession = async () => {
		const session = await startSession(major, { env, timeoutMs: 180_000 });
		sessions.push(session);
		return session;
	};
	const workers: ClusterWorker[] = [];
	let main: N8nServer | undefined;
	try {
		const mainSession = await newSession();
		// The CLI migrates the database on first use; credentials and workflows go in before main starts.
		await mainSession.importCredentials(options.credentials);
		const workflowIds = await mainSession.importWorkflows(options.workflows, { activate: true });
		const manualWorkflowIds = options.manualWorkflows?.length
			? await mainSession.importWorkflows(options.manualWorkflows)
			: [];
		main = await mainSession.startServer({ readyTimeoutMs: 180_000 });
		const startWorkers = async (count: number): Promise<ClusterWorker[]> => {
			// Named in the order asked for, whatever order they come up in.
			const names = Array.from({ length: count }, (_, i) => `w${workers.length + i + 1}`);
			const started = await Promise.all(
				names.map(async (name) => {
					const session = await newSession();
					return {
						name,
						process: await session.startWorker({
							concurrency: options.concurrency,
							readyTimeoutMs: 180_000,
						}),
						session,
					};
				}),
			);
			workers.push(...started);
			return started;
		};
		await startWorkers(options.workers);

		const rest = await ownerSession(main.baseUrl);
		// n8n stores run data with the `flatted` package; use the copy n8n itself ships.
		const flatted = createRequire(mainSession.install.n8nScript)('flatted') as {
			parse(text: string): Json;
		};
		const started = main;
		const cluster: QueueCluster = {
			major,
			version: mainSession.install.version,
			main: started,
			workers,
			database,
			startWorkers,
			workersThatRan(executionId) {
				const line = new RegExp(`Worker started execution ${executionId} \\(job`);
				return workers
					.filter((worker) => line.test(worker.process.output()))
					.map((worker) => worker.name);
			},
			async triggerWebhook(webhookPath, body) {
				const deadline = Date.now() + 60_000;
				for (;;) {
					const response = await fetch(`${started.baseUrl}/webhook/${webhookPath}`, {
						method: 'POST',
						headers: { 'content-type': 'application/json' },
						body: JSON.stringify(body),
					});
					const text = await response.text();
					if (response.ok) return;
					// 2.x registers published webhooks a few seconds after the editor is up.
					if (response.status !== 404 || Date.now() >= deadline)
						throw new Error(
							`webhook ${webhookPath} answered ${response.status}: ${text.slice(0, 500)}`,
						);
					await new Promise((resolve) => setTimeout(resolve, 500));
				}
			},
			async executionsOf(workflowId) {
				const rows = await postgres.query(
					database,
					`SELECT json_agg(e ORDER BY e.id) FROM (SELECT id::text, "workflowId", status, finished, "startedAt", "stoppedAt", "waitTill" FROM execution_entity WHERE "workflowId" = '${workflowId.replace(/'/g, "''")}') e`,
				);
				return (rows ? (JSON.parse(rows) as ExecutionRow[] | null) : null) ?? [];
			},
			async execution(id) {
				if (!/^\d+$/.test(id)) throw new Error(`not an execution id: ${id}`);
				const text = await postgres.query(
					database,
					`SELECT json_build_object('id', e.id::text, 'workflowId', e."workflowId", 'status', e.status, 'finished', e.finished, 'startedAt', e."startedAt", 'stoppedAt', e."stoppedAt", 'waitTill', e."waitTill", 'data', d.data) FROM execution_entity e LEFT JOIN execution_data d ON d."executionId" = e.id WHERE e.id = ${id}`,
				);
				if (!text) throw new Error(`no execution ${id} in the database`);
				const row = JSON.parse(text) as Json;
				const run = { data: row.data ? flatted.parse(row.data) : {} };
				return {
					...readRun(run),
					id: row.id,
					workflowId: row.workflowId,
					status: row.status,
					finished: row.finished,
					startedAt: row.startedAt,
					stoppedAt: row.stoppedAt,
					waitTill: row.waitTill,
					run,
				};
			},
			async runManually(workflowId, workflowData) {
				const trigger = (workflowData.nodes as Json[]).find(
					(node) => node.type === 'n8n-nodes-base.manualTrigger',
				);
				if (!trigger) throw new Error(`${workflowData.name}: no Manual Trigger to start from`);
				const answer = await rest('POST', `/rest/workflows/${workflowId}/run`, {
					workflowData: { ...workflowData, id: workflowId },
					triggerToStartFrom: { name: trigger.name },
				});
				const executionId = (answer.data as Json | undefined)?.executionId;
				if (!executionId)
					throw new Error(
						`the editor's run gave no execution: ${JSON.stringify(answer).slice(0, 500)}`,
					);
				return String(executionId);
			},
			async stopExecution(id) {
				return await rest('POST', `/rest/executions/${id}/stop`);
			},
			async close() {
				await closeAll(sessions);
			},
		};
		return { cluster, workflowIds, manualWorkflowIds };
	} catch (error) {
		await closeAll(sessions);
		throw error;
	}
}

async function closeAll(sessions: N8nSession[]): Promise<void> {
	await Promise.all(sessions.map((session) => session.close()));
}

/** Sets up the owner account, logs in, and gives a REST caller that sends the session cookie. */
async function ownerSession(
	baseUrl: string,
): Promise<(method: string, urlPath: string, body?: Json) => Promise<Json>> {
	const call = async (method: string, urlPath: string, body: Json | undefined, cookie?: string) => {
		const response = await fetch(`${baseUrl}${urlPath}`, {
			method,
			headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		if (!response.ok)
			throw new Error(`${method} ${urlPath} answered ${response.status}: ${text.slice(0, 500)}`);
		return { response, json: text ? (JSON.parse(text) as Json) : {} };
	};
	await call('POST', '/rest/owner/setup', OWNER);
	const { response } = await call('POST', '/rest/login', {
		emailOrLdapLoginId: OWNER.email,
		password: OWNER.password,
	});
	const cookie = response.headers
		.getSetCookie()
		.map((header) => header.split(';')[0])
		.find((pair) => pair.startsWith('n8n-auth='));
	if (!cookie) throw new Error('POST /rest/login set no n8n-auth cookie');
	return async (method, urlPath, body) => (await call(method, urlPath, body, cookie)).json;
}
