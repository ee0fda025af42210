/**
 * The package in n8n's queue mode, per major: one main, two workers, private Postgres and Redis,
 * the package installed in every process's user folder as the Community Nodes panel installs it,
 * CAMB and the storage host played by the stand-in on 127.0.0.1. Executions start through Webhook
 * triggers; results come from Postgres; cancellation goes through the REST API.
 *
 * The 66 s parks are real time, so the crash scenario starts first and the others run on fresh
 * workers while its executions are parked:
 *   1. a parked polling loop (b), parked stems (c) and a node waiting inside (f) start; once
 *      parked, both workers get kill -9 and two new ones start;
 *   2. (a) routing across workers, (g) a run started as the editor's "Execute workflow" does
 *      (on a worker: OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS=true, as n8n 3.0 always does), (d) cancel;
 *   3. (b) and (c) resume on a new worker, with free slots, so their lateness is n8n's own;
 *   4. (e) 50 executions on two workers; (f) as each major handles it (1.x re-runs it ~1 min
 *      after the kill);
 *   5. (e) the same 50 on one worker.
 * Later tests use what earlier ones set up: run the file whole (`npm run test:queue`).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
	resultPath,
	startStandIn,
	streamPattern,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import { loadExample, withPollTaskId, type Json, type Major, type N8nItem } from '../e2e/n8n';
import {
	startQueueCluster,
	type ClusterWorker,
	type ExecutionRecord,
	type QueueCluster,
} from './cluster';
import { queueMajors } from './majors';
import { makeWorkDir, startPostgres, startRedis, type Postgres, type Redis } from './services';
import {
	pollWorkflow,
	stemsThenParkWorkflow,
	STEMS_WRITTEN_NODE,
	tasksBody,
	WAIT_NODE,
	withLoopWait,
	withStatusOptions,
} from './workflows';
import { API_KEY, credentialRecord, STATUS_NODE_NAME } from '../fixtures/package';
import { demoRecording } from '../fixtures/demoScenario';

/** Long and distinctive, so a search of n8n's output for it cannot miss a leak. */
/** n8n parks a Wait only when the time left is 65 s or more: 66 s parks for sure. */
const PARK_SECONDS = 66;
const WORKERS = 2;
/** n8n's default; every execution waiting inside the node or in a short Wait holds one of these. */
const CONCURRENCY = 10;
const FIFTY = 50;
/** CAMB_QUEUE_STEM_BYTES: the size of each stem, for measuring memory with large ones. */
const STEM_BYTES = process.env.CAMB_QUEUE_STEM_BYTES
	? {
			foreground: Number(process.env.CAMB_QUEUE_STEM_BYTES),
			background: Number(process.env.CAMB_QUEUE_STEM_BYTES),
		}
	: { foreground: 3_000_000, background: 2_000_000 };
/**
 * CAMB_QUEUE_BINARY_MODE=database measures n8n's other queue-mode option (2.x's default there):
 * binary data in Postgres, no shared folder. The default is what the README recommends.
 */
const BINARY_MODE = process.env.CAMB_QUEUE_BINARY_MODE ?? 'filesystem';
if (!['filesystem', 'database'].includes(BINARY_MODE))
	throw new Error(`CAMB_QUEUE_BINARY_MODE must be filesystem or database, not ${BINARY_MODE}`);

/** The most memory a process has used so far (VmHWM), in MB. */
function peakRssMb(pid: number): number {
	const kb = Number(
		/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1],
	);
	return Math.round(kb / 1024);
}

// jest.config.js (unit tests) ignores test/queue; this needs jest.queue.config.js, whose global
// setup checks the n8n installs, packs the package and installs Postgres and Redis.
const describeQueue = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const FINAL = new Set(['success', 'error', 'crashed', 'canceled']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function waitFor<T>(
	what: string,
	timeoutMs: number,
	probe: () => Promise<T | undefined>,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() >= deadline)
			throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${what}`);
		await sleep(250);
	}
}

const camb = (status: string, extra: Json = {}): Reply => ({
	json: { status, run_id: null, exception_reason: null, message: null, ...extra },
});
const PENDING = camb('PENDING');

let work: ReturnType<typeof makeWorkDir>;
let postgres: Postgres;
let redis: Redis;
let cambApi: StandIn;
let storage: StandIn;
let runIds = 1000;

/** Scripts a task that answers `before` first, then SUCCESS with links to stems on the storage host. */
function scriptSuccess(
	taskId: string,
	before: Reply[] = [],
	stems?: { foreground: string; background: string },
): number {
	const runId = ++runIds;
	cambApi.task(taskId, ...before, camb('SUCCESS', { run_id: runId }));
	const links = stems ?? {
		foreground: `https://storage.example.invalid/${runId}/fg_audio.flac`,
		background: `https://storage.example.invalid/${runId}/bg_audio.flac`,
	};
	cambApi.on('GET', resultPath(runId), {
		json: { foreground_audio_url: links.foreground, background_audio_url: links.background },
	});
	return runId;
}

/**
 * The item's check_count against the requests the stand-in got for its task: equal, unless the
 * node retried a request (a time-out on a starved machine), which is one check but two requests.
 * Never more checks than requests: no check counted twice, none invented.
 */
function expectChecksCounted(json: Json): void {
	const requests = cambApi.requestsForTask(json.task_id).length;
	expect({ [json.task_id]: json.check_count }).toEqual({ [json.task_id]: expect.any(Number) });
	expect(json.check_count).toBeGreaterThanOrEqual(1);
	expect(json.check_count).toBeLessThanOrEqual(requests);
}

/** Every item that reached a NoOp (over all its runs). */
function itemsOf(execution: ExecutionRecord, nodeName: string): N8nItem[] {
	return execution.runsOf(nodeName).flatMap((run) => run.outputs[0] ?? []);
}

/** Peak number of executions one worker ran at once, from its "started"/"finished" log lines. */
function peakConcurrency(
	worker: ClusterWorker,
	executionIds: Set<string>,
): { ran: number; peak: number } {
	let running = 0;
	let peak = 0;
	let ran = 0;
	for (const match of worker.process
		.output()
		.matchAll(/Worker (started|finished) execution (\d+) \(job/g)) {
		if (!executionIds.has(match[2])) continue;
		if (match[1] === 'started') {
			ran++;
			peak = Math.max(peak, ++running);
		} else running--;
	}
	return { ran, peak };
}

beforeAll(async () => {
	work = makeWorkDir('camb-queue-');
	[postgres, redis, cambApi, storage] = await Promise.all([
		startPostgres(work.dir),
		startRedis(work.dir),
		startStandIn({ apiKey: API_KEY }),
		startStandIn(),
	]);
}, 180_000);

afterAll(async () => {
	await Promise.allSettled([postgres?.stop(), redis?.stop(), cambApi?.close(), storage?.close()]);
	work?.remove();
});

describeQueue.each(queueMajors())(
	'n8n %s.x in queue mode: main + two workers, Postgres, Redis',
	(major: Major) => {
		let suiteStarted = 0;
		const figures: string[] = [];
		const task = (name: string) => `q${major}-${name}`;
		let cluster: QueueCluster;
		let binaryDataDir: string;
		const workflow: Record<'routing' | 'fifty' | 'park' | 'stems' | 'inside' | 'cancel', string> =
			{} as never;
		let editorWorkflow: Json;
		let editorWorkflowId: string;

		/** The executions of a workflow that are not in `before`, once there are `count` of them. */
		async function newExecutions(
			workflowId: string,
			before: Set<string>,
			count: number,
		): Promise<string[]> {
			return await waitFor(`${count} executions of ${workflowId}`, 60_000, async () => {
				const ids = (await cluster.executionsOf(workflowId))
					.map((row) => row.id)
					.filter((id) => !before.has(id));
				return ids.length >= count ? ids : undefined;
			});
		}
		const existing = async (workflowId: string) =>
			new Set((await cluster.executionsOf(workflowId)).map((row) => row.id));
		async function finished(id: string, timeoutMs: number): Promise<ExecutionRecord> {
			return await waitFor(`execution ${id} to finish`, timeoutMs, async () => {
				const execution = await cluster.execution(id);
				return FINAL.has(execution.status) ? execution : undefined;
			});
		}
		const expectSuccess = (execution: ExecutionRecord) => {
			if (execution.status !== 'success') {
				throw new Error(
					`execution ${execution.id} ended "${execution.status}": ${JSON.stringify(execution.run.data?.resultData?.error ?? {}).slice(0, 1500)}`,
				);
			}
		};

		beforeAll(async () => {
			const started = Date.now();
			suiteStarted = started;
			binaryDataDir = path.join(work.dir, `binary-data-${major}`);
			fs.mkdirSync(binaryDataDir);
			// The stems example reads its audio from disk and writes the stems next to it: n8n may use this folder only.
			const filesDir = path.join(work.dir, `files-${major}`);
			fs.mkdirSync(filesDir);
			fs.writeFileSync(path.join(filesDir, `${major}.wav`), demoRecording());
			// Short waits (in the worker's memory) keep routing and throughput quick; parking is what
			// the crash scenario proves, with the example's own Wait amount.
			const quickLoop = (webhookPath: string) =>
				withLoopWait(
					withStatusOptions(pollWorkflow(webhookPath), {
						maxWaitSeconds: 3,
						firstIntervalSeconds: 1,
					}),
					1,
				);
			const workflows = {
				routing: quickLoop(`${major}-routing`),
				fifty: quickLoop(`${major}-fifty`),
				// As shipped (Wait for Completion on the first pass, then a Wait that parks), with a first pass of 4 s instead of a minute.
				park: withStatusOptions(pollWorkflow(`${major}-park`), { maxWaitSeconds: 4 }),
				stems: stemsThenParkWorkflow(
					`${major}-stems`,
					{ folder: filesDir, audioFile: `${major}.wav` },
					PARK_SECONDS,
				),
				// The node waiting inside for minutes: what a worker crash does to that.
				inside: withStatusOptions(pollWorkflow(`${major}-inside`), {
					maxWaitSeconds: 240,
					firstIntervalSeconds: 2,
					maxIntervalSeconds: 3,
				}),
				cancel: withStatusOptions(pollWorkflow(`${major}-cancel`), {
					maxWaitSeconds: 240,
					firstIntervalSeconds: 1,
					maxIntervalSeconds: 2,
				}),
			};
			const names = Object.keys(workflows) as Array<keyof typeof workflows>;
			// The shipped example as the editor runs it (its Manual Trigger), quick as above, saved
			// with its task id (2.x's workers run the saved workflow, not the one the request carries).
			const editorLoop = (taskId: string) =>
				withLoopWait(
					withStatusOptions(withPollTaskId(loadExample('poll-until-done.json'), taskId), {
						maxWaitSeconds: 3,
						firstIntervalSeconds: 1,
					}),
					1,
				);
			editorWorkflow = editorLoop(task('editor'));
			const {
				cluster: started_,
				workflowIds,
				manualWorkflowIds,
			} = await startQueueCluster({
				major,
				postgres,
				redis,
				workDir: work.dir,
				credentials: [credentialRecord(cambApi.baseUrl)],
				workflows: names.map((name) => workflows[name]),
				manualWorkflows: [editorWorkflow],
				workers: WORKERS,
				concurrency: CONCURRENCY,
				env: {
					// n8n 3.0 removes the variable and always runs manual executions on workers.
					OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS: 'true',
					N8N_RESTRICT_FILE_ACCESS_TO: filesDir,
					...(BINARY_MODE === 'filesystem'
						? // The binary data mode the README recommends for queue mode: files, in ONE folder every process shares.
							{
								N8N_DEFAULT_BINARY_DATA_MODE: 'filesystem',
								N8N_BINARY_DATA_STORAGE_PATH: binaryDataDir,
							}
						: // 1.x offers database mode only when told to; each process keeps its own (unused) folder.
							{
								N8N_DEFAULT_BINARY_DATA_MODE: 'database',
								N8N_AVAILABLE_BINARY_DATA_MODES: 'filesystem,database',
							}),
				},
			});
			cluster = started_;
			names.forEach((name, i) => (workflow[name] = workflowIds[i]));
			editorWorkflowId = manualWorkflowIds[0];
			figures.push(
				`n8n ${cluster.version}: Postgres database, imports, main and ${WORKERS} workers up in ${seconds(Date.now() - started)}`,
			);
		}, 600_000);

		afterAll(async () => {
			// The key must never reach n8n's logs, in any process.
			const leaks = cluster
				? [cluster.main, ...cluster.workers.map((worker) => worker.process)].filter((process) =>
						process.output().includes(API_KEY),
					)
				: [];
			await cluster?.close();
			figures.push(`n8n ${major}.x queue suite: ${seconds(Date.now() - suiteStarted)}`);
			console.log(figures.join('\n'));
			if (leaks.length) throw new Error('the API key appeared in the output of an n8n process');
		}, 120_000);

		// ---- 1. crash scenario, started first so its 66 s parks overlap the other tests ---------------

		const crash = {
			ids: { park: '', stems: '', inside: '' },
			killed: [] as string[],
			killedAt: 0,
			insideRequestsAtKill: 0,
			ranBefore: {} as Record<'park' | 'stems' | 'inside', string[]>,
			/** When n8n will resume the parked loop (execution_entity.waitTill). */
			parkWaitTill: 0,
			/** Peak memory of the worker that downloaded the stems, MB. */
			stemsWorkerPeakMb: 0,
		};

		it('crash set-up: a loop parks in its Wait, stems park after the download, a node waits inside; then kill -9 of both workers', async () => {
			const park = task('park');
			const inside = task('inside');
			const uploaded = task('stems');
			cambApi.task(park, PENDING);
			cambApi.task(inside, PENDING);
			cambApi.on('POST', '/audio-separation', { json: { task_id: uploaded } });
			const stemUrl = (file: string) =>
				`${storage.baseUrl}/stems/${major}/${file}?X-Amz-Signature=queue`;
			for (const [property, file] of [
				['foreground', 'fg_audio.flac'],
				['background', 'bg_audio.flac'],
			] as const) {
				storage.on('GET', `/stems/${major}/${file}`, {
					stream: { bytes: STEM_BYTES[property], contentType: 'audio/flac' },
				});
			}
			scriptSuccess(uploaded, [PENDING], {
				foreground: stemUrl('fg_audio.flac'),
				background: stemUrl('bg_audio.flac'),
			});

			const before = {
				park: await existing(workflow.park),
				stems: await existing(workflow.stems),
				inside: await existing(workflow.inside),
			};
			await Promise.all([
				cluster.triggerWebhook(`${major}-park`, tasksBody([park])),
				cluster.triggerWebhook(`${major}-stems`, {}),
				cluster.triggerWebhook(`${major}-inside`, tasksBody([inside])),
			]);
			for (const name of ['park', 'stems', 'inside'] as const)
				[crash.ids[name]] = await newExecutions(workflow[name], before[name], 1);

			// Parked: status "waiting" in the database, the job done on the worker.
			for (const name of ['park', 'stems'] as const) {
				await waitFor(`execution ${crash.ids[name]} (${name}) to park`, 120_000, async () =>
					(await cluster.execution(crash.ids[name])).status === 'waiting' ? true : undefined,
				);
			}
			await waitFor(`the node waiting inside to check ${inside} twice`, 60_000, async () =>
				cambApi.requestsForTask(inside).length >= 2 ? true : undefined,
			);
			for (const name of ['park', 'stems', 'inside'] as const) {
				crash.ranBefore[name] = cluster.workersThatRan(crash.ids[name]);
				expect({ [name]: crash.ranBefore[name] }).toEqual({
					[name]: [expect.stringMatching(/^w[12]$/)],
				});
			}
			crash.parkWaitTill = Date.parse(String((await cluster.execution(crash.ids.park)).waitTill));
			// After the park the task is done: the check that follows it sees SUCCESS.
			scriptSuccess(park);

			// A crash of both workers (kill -9 of each whole process group, task runners included).
			const victims = cluster.workers.filter((worker) => !worker.process.exited());
			crash.stemsWorkerPeakMb = peakRssMb(
				victims.find((worker) => worker.name === crash.ranBefore.stems[0])!.process.pid,
			);
			crash.killedAt = Date.now();
			crash.insideRequestsAtKill = cambApi.requestsForTask(inside).length;
			await Promise.all(victims.map((worker) => worker.process.kill()));
			crash.killed = victims.map((worker) => worker.name);
			// What a re-run of the whole execution (1.x) sees: one more pending, then done.
			scriptSuccess(inside, [PENDING]);
			const replaced = Date.now();
			await cluster.startWorkers(WORKERS);
			figures.push(
				`crash: ${crash.killed.join(', ')} killed (parked: park on ${crash.ranBefore.park}, stems on ${crash.ranBefore.stems}; waiting inside: on ${crash.ranBefore.inside}); ` +
					`${WORKERS} new workers up in ${seconds(Date.now() - replaced)}`,
			);
		}, 300_000);

		// ---- 2. on the new workers, while those executions are parked ---------------------------------

		it('(a) the polling loop routes every item right, whichever worker runs it', async () => {
			const EXECUTIONS = 8;
			const expected: Array<{ done: string[]; failed: Array<[string, string]> }> = [];
			const bodies: Json[] = [];
			for (let n = 0; n < EXECUTIONS; n++) {
				const id = (kind: string) => task(`a${n}-${kind}`);
				scriptSuccess(id('now'));
				scriptSuccess(id('later'), [PENDING, PENDING]);
				// Still pending after the first pass: goes round the loop (Pending → Wait → back) twice.
				scriptSuccess(id('slow'), Array(6).fill(PENDING));
				cambApi.task(
					id('error'),
					camb('ERROR', { exception_reason: 'PROCESSING_ERROR', message: 'boom' }),
				);
				cambApi.task(id('timeout'), camb('TIMEOUT'));
				// id('unknown') is not scripted: the stand-in answers 404.
				expected.push({
					done: [id('now'), id('later'), id('slow')].sort(),
					failed: [
						[id('error'), 'PROCESSING_ERROR'],
						[id('timeout'), 'TIMEOUT'],
						[id('unknown'), 'TASK_NOT_FOUND'],
					].sort() as Array<[string, string]>,
				});
				bodies.push(
					tasksBody([
						id('now'),
						id('error'),
						id('later'),
						id('unknown'),
						id('slow'),
						id('timeout'),
					]),
				);
			}
			const before = await existing(workflow.routing);
			await Promise.all(bodies.map((body) => cluster.triggerWebhook(`${major}-routing`, body)));
			const ids = await newExecutions(workflow.routing, before, EXECUTIONS);
			const executions = await Promise.all(ids.map((id) => finished(id, 180_000)));

			const perWorker: Record<string, number> = {};
			for (const execution of executions) {
				expectSuccess(execution);
				// Waits under 65 s stay in the worker's memory: the whole execution runs on one worker, once.
				const ran = cluster.workersThatRan(execution.id);
				expect({ [execution.id]: ran }).toEqual({ [execution.id]: [expect.any(String)] });
				const done = itemsOf(execution, 'Done').map((item) => item.json);
				const failed = itemsOf(execution, 'Failed').map((item) => item.json);
				// Which of the 8 request bodies this execution got: by its task ids.
				const n = Number(/-a(\d+)-/.exec(String(done[0]?.task_id ?? failed[0]?.task_id))?.[1]);
				expect(done.map((json) => json.task_id).sort()).toEqual(expected[n].done);
				expect(failed.map((json) => [json.task_id, json.reason]).sort()).toEqual(
					expected[n].failed,
				);
				for (const json of [...done, ...failed]) expectChecksCounted(json);
				expect(execution.runsOf(WAIT_NODE).length).toBeGreaterThanOrEqual(2);
				perWorker[ran[0]] = (perWorker[ran[0]] ?? 0) + 1;
			}
			figures.push(
				`(a) routing: ${EXECUTIONS} executions × 6 items, all routed right; per worker ${JSON.stringify(perWorker)}`,
			);
		}, 300_000);

		it("(g) Execute workflow in the editor: the polling example runs on a worker (OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS=true, 3.0's only way) and ends on Done", async () => {
			const id = task('editor');
			// Still pending after the first pass: goes round the loop once or more.
			scriptSuccess(id, Array(6).fill(PENDING));
			const executionId = await cluster.runManually(editorWorkflowId, editorWorkflow);
			const execution = await finished(executionId, 120_000);

			expectSuccess(execution);
			expect(cluster.workersThatRan(executionId)).toEqual([expect.any(String)]);
			const done = itemsOf(execution, 'Done').map((item) => item.json);
			expect(done.map((json) => [json.task_id, json.status])).toEqual([[id, 'SUCCESS']]);
			expectChecksCounted(done[0]);
			expect(execution.runsOf(WAIT_NODE).length).toBeGreaterThanOrEqual(1);
			figures.push(
				`(g) editor run ${executionId} on worker ${cluster.workersThatRan(executionId)[0]}, ${execution.runsOf(WAIT_NODE).length} pass(es) through the Wait`,
			);
		}, 180_000);

		it('(d) stopping an execution through the REST API stops the node waiting inside; no request after the stop', async () => {
			const id = task('cancel');
			cambApi.task(id, PENDING);
			const before = await existing(workflow.cancel);
			await cluster.triggerWebhook(`${major}-cancel`, tasksBody([id]));
			const [executionId] = await newExecutions(workflow.cancel, before, 1);
			// Stop right after a check arrives, so the next one (1-2 s later) would clearly be "after".
			await waitFor(`3 checks of ${id}`, 60_000, async () =>
				cambApi.requestsForTask(id).length >= 3 ? true : undefined,
			);
			const seen = cambApi.requestsForTask(id).length;
			await waitFor(`another check of ${id}`, 10_000, async () =>
				cambApi.requestsForTask(id).length > seen ? true : undefined,
			);
			const stopSent = Date.now();
			await cluster.stopExecution(executionId);
			const stopped = await finished(executionId, 30_000);
			const endedIn = Date.now() - stopSent;
			expect(stopped.status).toBe('canceled');
			// Three times the longest pause: a timer the stop missed would have fired by now.
			await sleep(6_000);
			expect(cambApi.requestsForTask(id).filter((request) => request.at > stopSent)).toEqual([]);
			expect(cluster.workersThatRan(executionId)).toHaveLength(1);
			figures.push(
				`(d) cancel: "canceled" in the database ${seconds(endedIn)} after POST /rest/executions/${executionId}/stop; no request after it`,
			);
		}, 120_000);

		// ---- 3. the parked executions' results, measured while the workers are otherwise idle ----------

		/** The killed worker ran the first part; a worker started after the kill ran the rest. */
		function expectKilledThenNew(ran: string[], before: string[]): void {
			const newWorkers = cluster.workers
				.filter((worker) => !crash.killed.includes(worker.name))
				.map((worker) => worker.name);
			expect(ran).toHaveLength(2);
			expect(ran[0]).toBe(before[0]);
			expect(crash.killed).toContain(ran[0]);
			expect(newWorkers).toContain(ran[1]);
		}

		it(`(b) the loop parked in its ${PARK_SECONDS} s Wait survived kill -9 of its worker and finished on another`, async () => {
			const park = task('park');
			const execution = await finished(crash.ids.park, 240_000);
			expectSuccess(execution);
			const ran = cluster.workersThatRan(execution.id);
			// Two jobs: the first pass on the killed worker, the rest after the park on a new one.
			expectKilledThenNew(ran, crash.ranBefore.park);
			expect(execution.runsOf(STATUS_NODE_NAME)).toHaveLength(2);
			expect(execution.runsOf(WAIT_NODE)).toHaveLength(1);
			const checks = cambApi.requestsForTask(park);
			// The first pass waited inside (several checks), the pass after the park checked once.
			const firstPass = execution.json(STATUS_NODE_NAME, 1, 0)[0]?.check_count;
			expect(firstPass).toBeGreaterThanOrEqual(2);
			expect(checks).toHaveLength(firstPass + 1);
			expect(
				itemsOf(execution, 'Done').map((item) => [
					item.json.task_id,
					item.json.status,
					item.json.check_count,
				]),
			).toEqual([[park, 'SUCCESS', checks.length]]);
			// The check after the park came when the Wait was over, not before.
			const parkedFor = checks[checks.length - 1].at - checks[checks.length - 2].at;
			expect(parkedFor).toBeGreaterThanOrEqual(PARK_SECONDS * 1000);
			const late = checks[checks.length - 1].at - crash.parkWaitTill;
			figures.push(
				`(b) parked loop: resumed on ${ran[1]}; its next check came ${seconds(parkedFor)} after the one before (Wait ${PARK_SECONDS} s), ${seconds(late)} after the time n8n had set (waitTill)`,
			);
		}, 300_000);

		it(`(c) stems downloaded on one worker were read by a node on another after the park (${BINARY_MODE === 'filesystem' ? 'filesystem mode, one shared storage path' : 'database mode'})`, async () => {
			const execution = await finished(crash.ids.stems, 240_000);
			expectSuccess(execution);
			const ran = cluster.workersThatRan(execution.id);
			expectKilledThenNew(ran, crash.ranBefore.stems);
			const [ready] = itemsOf(execution, STEMS_WRITTEN_NODE);
			for (const property of ['foreground', 'background'] as const) {
				expect(String(ready.binary?.[property]?.id)).toMatch(
					BINARY_MODE === 'filesystem' ? /^filesystem(-v2)?:/ : /^database:/,
				);
				const [hashed] = execution.json(`Hash ${property}`);
				const expected = createHash('sha256')
					.update(streamPattern(0, STEM_BYTES[property]))
					.digest('hex');
				expect({ [property]: hashed?.[`${property}_sha256`] }).toEqual({ [property]: expected });
			}
			for (const request of storage.requests) expect(request.headers['x-api-key']).toBeUndefined();
			figures.push(
				`(c) stems, ${BINARY_MODE} mode: ${(STEM_BYTES.foreground / 1e6).toFixed(1)} + ${(STEM_BYTES.background / 1e6).toFixed(1)} MB downloaded on ${ran[0]} (its peak memory ${crash.stemsWorkerPeakMb} MB), hashed on ${ran[1]} after the park, bytes identical`,
			);
		}, 300_000);

		/** Starts FIFTY executions of the quick polling loop at once; checks every item; gives the wall time and per-worker figures. */
		async function fiftyAtOnce(label: string, workers: ClusterWorker[]): Promise<string> {
			const bodies: Json[] = [];
			for (let n = 0; n < FIFTY; n++) {
				const id = (kind: string) => task(`${label}-${n}-${kind}`);
				scriptSuccess(id('now'));
				scriptSuccess(id('later'), [PENDING, PENDING]);
				scriptSuccess(id('slow'), Array(6).fill(PENDING));
				cambApi.task(id('error'), camb('ERROR', { exception_reason: 'PROCESSING_ERROR' }));
				bodies.push(tasksBody([id('now'), id('later'), id('slow'), id('error')]));
			}
			const before = await existing(workflow.fifty);
			const started = Date.now();
			await Promise.all(bodies.map((body) => cluster.triggerWebhook(`${major}-fifty`, body)));
			const ids = await newExecutions(workflow.fifty, before, FIFTY);
			const executions = await Promise.all(ids.map((id) => finished(id, 300_000)));
			const wallMs = Date.now() - started;

			const done = new Set<string>();
			const failed = new Set<string>();
			for (const execution of executions) {
				expectSuccess(execution);
				// Taken by one worker, once (a job run twice would repeat its checks).
				expect({ [execution.id]: cluster.workersThatRan(execution.id).length }).toEqual({
					[execution.id]: 1,
				});
				for (const item of itemsOf(execution, 'Done')) {
					expect(done.has(item.json.task_id)).toBe(false);
					done.add(item.json.task_id);
					expectChecksCounted(item.json);
				}
				for (const item of itemsOf(execution, 'Failed')) {
					expect(failed.has(item.json.task_id)).toBe(false);
					failed.add(item.json.task_id);
				}
			}
			const all = (kinds: string[]) =>
				Array.from({ length: FIFTY }, (_, n) => kinds.map((kind) => task(`${label}-${n}-${kind}`)))
					.flat()
					.sort();
			expect([...done].sort()).toEqual(all(['now', 'later', 'slow']));
			expect([...failed].sort()).toEqual(all(['error']));

			const idSet = new Set(ids);
			const perWorker = workers.map((worker) => ({
				name: worker.name,
				...peakConcurrency(worker, idSet),
			}));
			expect(perWorker.reduce((sum, worker) => sum + worker.ran, 0)).toBe(FIFTY);
			for (const worker of perWorker) {
				expect(worker.ran).toBeGreaterThan(0);
				// A worker never runs more than --concurrency executions at once.
				expect(worker.peak).toBeLessThanOrEqual(CONCURRENCY);
			}
			return `${FIFTY} executions × 4 items on ${workers.length} worker${workers.length > 1 ? 's' : ''} (--concurrency=${CONCURRENCY}): ${seconds(wallMs)}, every item accounted for; ${perWorker.map((worker) => `${worker.name} ran ${worker.ran}, at most ${worker.peak} at once`).join('; ')}`;
		}

		// ---- 4. throughput, and what the crash did to the node waiting inside ------------------------

		it(`(e) ${FIFTY} executions of the polling loop started at once on two workers account for every item`, async () => {
			figures.push(
				`(e) ${await fiftyAtOnce(
					'e2w',
					cluster.workers.filter((worker) => !worker.process.exited()),
				)}`,
			);
		}, 420_000);

		it('(f) a node waiting inside when its worker dies: 1.x runs the whole execution again, 2.x marks it failed', async () => {
			const inside = task('inside');
			const execution = await finished(crash.ids.inside, 240_000);
			const ran = cluster.workersThatRan(execution.id);
			const after = cambApi
				.requestsForTask(inside)
				.filter((request) => request.at > crash.killedAt);
			if (major === '1') {
				// Bull notices the dead worker's lock expire and hands the job to another worker, which starts from the top.
				expectSuccess(execution);
				expectKilledThenNew(ran, crash.ranBefore.inside);
				expect(after).toHaveLength(2);
				// The item's check_count starts from zero again: the first run's checks are lost with it.
				expect(itemsOf(execution, 'Done').map((item) => item.json.check_count)).toEqual([2]);
				figures.push(
					`(f) waiting inside, worker killed: ran again from the start on ${ran[1]}, first check ${seconds(after[0].at - crash.killedAt)} after the kill (${crash.insideRequestsAtKill} checks before it lost)`,
				);
			} else {
				expect(execution.status).not.toBe('success');
				expect(ran).toEqual(crash.ranBefore.inside);
				expect(after).toEqual([]);
				const reason = String(
					execution.run.data?.resultData?.error?.message ?? 'no error recorded',
				).slice(0, 200);
				figures.push(
					`(f) waiting inside, worker killed: execution ended "${execution.status}" ("${reason}") ${seconds(Date.parse(String(execution.stoppedAt)) - crash.killedAt)} after the kill, not run again`,
				);
			}
		}, 300_000);

		// ---- 5. the same fifty on one worker --------------------------------------------------------

		it(`(e) the same ${FIFTY} executions on one worker`, async () => {
			const live = cluster.workers.filter((worker) => !worker.process.exited());
			// A graceful stop: the worker finishes what it runs (nothing now) and leaves the queue.
			for (const worker of live.slice(1)) await worker.process.stop(30_000);
			figures.push(`(e) ${await fiftyAtOnce('e1w', [live[0]])}`);
		}, 420_000);
	},
);
