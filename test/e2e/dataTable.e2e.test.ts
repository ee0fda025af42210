/**
 * Scheduled polling from an n8n Data Table (issue 22), in REAL n8n 1.x and 2.x with this package
 * installed as a community package, against the CAMB stand-in on 127.0.0.1.
 *
 * examples/submit-to-data-table.json records uploaded tasks as PENDING rows;
 * examples/scheduled-polling-data-table.json checks the due rows and writes the outcome back. Both
 * run unchanged (but for the table id and a shorter Max Checks) on a live `n8n start`, from their
 * Manual Trigger as the editor runs them (`n8n execute` cannot use Data Tables: see dataTables.ts). The stand-in is
 * scripted run by run so tasks finish in different runs, one run fails halfway (a rejected key
 * under the node's default Stop Workflow), and one task never finishes. After every run the test
 * reads the whole table back through n8n's REST API and asserts on each row.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
	resultPath,
	startStandIn,
	taskStatusPath,
	UPLOAD_PATH,
	type Reply,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	loadExample,
	nodeNamed,
	startSession,
	type Json,
	type Major,
	type N8nSession,
} from './n8n';
import {
	startWithDataTable,
	TABLE_PLACEHOLDER,
	withDataTable,
	withStatusOptions,
	type DataTableServer,
	type EditorRun,
} from './dataTables';
import { API_KEY, credentialRecord, STATUS_NODE_NAME } from '../fixtures/package';
import { demoRecording } from '../fixtures/demoScenario';

const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const POLL_EXAMPLE = 'scheduled-polling-data-table.json';
const SUBMIT_EXAMPLE = 'submit-to-data-table.json';
const TABLE_COLUMNS = [
	{ name: 'task_id', type: 'string' },
	{ name: 'status', type: 'string' },
	{ name: 'check_count', type: 'number' },
	{ name: 'next_check_at', type: 'date' },
	{ name: 'reason', type: 'string' },
	{ name: 'message', type: 'string' },
	{ name: 'foreground_audio_url', type: 'string' },
	{ name: 'background_audio_url', type: 'string' },
] as const;
/** Max Checks in the test: a task that never finishes fails on the third run that checks it. */
const MAX_CHECKS = 3;

const pending: Reply = {
	json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
};
const success = (runId: number): Reply => ({
	json: { status: 'SUCCESS', run_id: runId, exception_reason: null, message: null },
});
const links = (runId: number) => ({
	foreground_audio_url: `https://storage.example.invalid/${runId}/fg_audio.flac`,
	background_audio_url: `https://storage.example.invalid/${runId}/bg_audio.flac`,
});

describe('examples/ for scheduled polling from a Data Table', () => {
	it('both start with a Manual Trigger and address the table by the shipped placeholder id', () => {
		for (const name of [POLL_EXAMPLE, SUBMIT_EXAMPLE]) {
			const workflow = loadExample(name);
			expect(workflow.nodes[0].type).toBe('n8n-nodes-base.manualTrigger');
			const tables = (workflow.nodes as Json[]).filter(
				(node) => node.type === 'n8n-nodes-base.dataTable',
			);
			expect(tables.length).toBeGreaterThan(0);
			for (const node of tables) {
				expect(node.parameters.dataTableId).toMatchObject({
					__rl: true,
					mode: 'list',
					value: TABLE_PLACEHOLDER,
				});
			}
		}
	});

	it('the polling example: the Schedule Trigger feeds the same chain, Max Checks is set, every output updates the row by task_id', () => {
		const workflow = loadExample(POLL_EXAMPLE);
		const schedule = (workflow.nodes as Json[]).find(
			(node) => node.type === 'n8n-nodes-base.scheduleTrigger',
		);
		expect(schedule).toBeDefined();
		const target = (name: string) => workflow.connections[name].main[0][0].node;
		expect(target(schedule!.name)).toBe(target(workflow.nodes[0].name));
		const status = nodeNamed(workflow, STATUS_NODE_NAME);
		expect(status.parameters.fetchResultUrls).toBe(true);
		expect(status.parameters.options.maxChecks).toBe(20);
		const outputs = workflow.connections[STATUS_NODE_NAME].main as Json[][];
		expect(outputs).toHaveLength(3);
		for (const [output] of outputs) {
			const update = nodeNamed(workflow, output.node);
			expect(update.parameters.operation).toBe('update');
			expect(update.parameters.filters.conditions).toEqual([
				{ keyName: 'task_id', condition: 'eq', keyValue: '={{ $json.task_id }}' },
			]);
			expect(update.parameters.columns.value.check_count).toBe('={{ $json.check_count }}');
		}
	});
});

describeE2e.each(['1', '2'] as Major[])(
	'n8n %s.x: scheduled polling from a Data Table',
	(major) => {
		let session: N8nSession;
		let camb: StandIn;
		let filesDir: string;
		let n8n: DataTableServer;
		const timings: string[] = [];
		const taskIds = ['task-a', 'task-b', 'task-c', 'task-d'];

		let submitId: string;
		let pollId: string;

		/** One whole run of an example from its Manual Trigger, then the table. */
		async function runAndRead(
			workflowId: string,
			label: string,
		): Promise<{ run: EditorRun; rows: Json[]; startedAt: number }> {
			const startedAt = Date.now();
			const run = await n8n.runFromManualTrigger(workflowId);
			const rows = await n8n.readRows();
			timings.push(
				`${label}: run ${(run.durationMs / 1000).toFixed(1)} s (${run.status}), reading the table ${((Date.now() - startedAt - run.durationMs) / 1000).toFixed(1)} s`,
			);
			expect(JSON.stringify(run.error ?? null)).not.toContain(API_KEY);
			return { run, rows, startedAt };
		}
		const expectStatus = (run: EditorRun, status: string) =>
			expect({ status: run.status, error: run.error }).toMatchObject({ status });
		const idsOn = (run: EditorRun, output: number) =>
			run.reader.json(STATUS_NODE_NAME, output).map((json) => json.task_id);

		const rowOf = (rows: Json[], taskId: string) => {
			const matching = rows.filter((row) => row.task_id === taskId);
			expect(matching).toHaveLength(1);
			return matching[0];
		};
		const statusRequests = (taskId: string) =>
			camb.requests.filter((request) => request.path === taskStatusPath(taskId)).length;
		/** The row of a task still waiting: PENDING, no outcome written. */
		const expectStillPending = (rows: Json[], taskId: string, checkCount: number) =>
			expect(rowOf(rows, taskId)).toMatchObject({
				status: 'PENDING',
				check_count: checkCount,
				reason: null,
				foreground_audio_url: null,
			});
		/** Past the 1 s check interval, so every pending row is due again. */
		const untilDue = async () => await new Promise((resolve) => setTimeout(resolve, 1100));

		beforeAll(async () => {
			const started = Date.now();
			camb = await startStandIn({ apiKey: API_KEY });
			filesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-data-table-files-'));
			session = await startSession(major, {
				env: {
					N8N_RESTRICT_FILE_ACCESS_TO: filesDir,
					// 2.x calls out to n8n's servers at start-up with it; 1.x does not have it.
					...(major === '2' ? { N8N_DISABLED_MODULES: 'mcp-registry' } : {}),
				},
			});
			await session.importCredentials([credentialRecord(camb.baseUrl)]);
			n8n = await startWithDataTable(
				session,
				{ name: 'camb_separation_tasks', columns: [...TABLE_COLUMNS] },
				(tableId) => {
					const submit = withDataTable(loadExample(SUBMIT_EXAMPLE), tableId);
					const read = nodeNamed(submit, 'Read audio file');
					if (!String(read.parameters.fileSelector).includes('REPLACE-WITH-YOUR-AUDIO'))
						throw new Error('"Read audio file" no longer reads the shipped placeholder');
					read.parameters.fileSelector = path.join(filesDir, '*.wav');
					// A 1 s check interval, so every row is due again by the next run.
					const poll = withStatusOptions(withDataTable(loadExample(POLL_EXAMPLE), tableId), {
						maxChecks: MAX_CHECKS,
						firstIntervalSeconds: 1,
						maxIntervalSeconds: 1,
					});
					return [submit, poll];
				},
			);
			[submitId, pollId] = n8n.workflowIds;
			timings.push(
				`n8n ${session.install.version}: user folder, credentials, owner, data table, workflows ${((Date.now() - started) / 1000).toFixed(1)} s`,
			);
		}, 300_000);

		afterAll(async () => {
			await session?.close();
			await camb?.close();
			if (filesDir) fs.rmSync(filesDir, { recursive: true, force: true });
			if (timings.length) console.log(timings.join('\n'));
		});

		beforeEach(() => camb.reset());

		it('submit-to-data-table: every uploaded task becomes a PENDING row with check_count 0, due now', async () => {
			const wav = demoRecording();
			for (const name of ['a', 'b', 'c', 'd'])
				fs.writeFileSync(path.join(filesDir, `${name}.wav`), wav);
			camb.on('POST', UPLOAD_PATH, ...taskIds.map((taskId) => ({ json: { task_id: taskId } })));

			const { run, rows, startedAt } = await runAndRead(submitId, 'submit 4 files');

			expectStatus(run, 'success');
			expect(camb.requests.filter((request) => request.path === UPLOAD_PATH)).toHaveLength(4);
			expect(rows.map((row) => row.task_id).sort()).toEqual(taskIds);
			for (const row of rows) {
				expect(row).toMatchObject({ status: 'PENDING', check_count: 0, reason: null });
				expect(Date.parse(row.next_check_at)).toBeGreaterThanOrEqual(startedAt - 1000);
				expect(Date.parse(row.next_check_at)).toBeLessThanOrEqual(Date.now());
			}
		});

		it('run 1: a finished task is marked SUCCESS with its stem links; pending ones count one check and get a next check time', async () => {
			await untilDue();
			camb.task('task-a', success(1));
			camb.on('GET', resultPath(1), { json: links(1) });
			for (const taskId of ['task-b', 'task-c', 'task-d']) camb.task(taskId, pending);

			const { run, rows, startedAt } = await runAndRead(pollId, 'poll run 1');

			expectStatus(run, 'success');
			expect([idsOn(run, 0), idsOn(run, 1).sort(), idsOn(run, 2)]).toEqual([
				['task-a'],
				['task-b', 'task-c', 'task-d'],
				[],
			]);
			expect(rowOf(rows, 'task-a')).toMatchObject({
				status: 'SUCCESS',
				check_count: 1,
				reason: null,
				...links(1),
			});
			for (const taskId of ['task-b', 'task-c', 'task-d']) {
				expectStillPending(rows, taskId, 1);
				expect(Date.parse(rowOf(rows, taskId).next_check_at)).toBeGreaterThan(startedAt);
			}
			for (const taskId of taskIds) expect(statusRequests(taskId)).toBe(1);
		});

		it('run 2 fails halfway (CAMB.AI rejects the key for one task, Stop Workflow): no row is written, the finished task is not checked again', async () => {
			await untilDue();
			camb.task('task-b', { status: 401, json: { detail: 'Invalid API key' } });
			camb.task('task-c', pending);
			// Done at CAMB.AI, but the run stops before any row is written: it must stay PENDING.
			camb.task('task-d', success(4));
			camb.on('GET', resultPath(4), { json: links(4) });

			const { run, rows } = await runAndRead(pollId, 'poll run 2 (key rejected)');

			expectStatus(run, 'error');
			expect(JSON.stringify(run.error)).toMatch(/rejected the API key/);
			for (const name of ['Mark done', 'Schedule next check', 'Mark failed'])
				expect(run.reader.nodesThatRan()).not.toContain(name);
			expect(statusRequests('task-b')).toBe(1);
			expect(statusRequests('task-a')).toBe(0);
			expect(rowOf(rows, 'task-a')).toMatchObject({ status: 'SUCCESS', check_count: 1 });
			for (const taskId of ['task-b', 'task-c', 'task-d']) expectStillPending(rows, taskId, 1);
		});

		it('run 3: the rest finish in this run (SUCCESS, and FAILED with CAMB.AI’s reason); the never-ending task counts its second check', async () => {
			await untilDue();
			camb.task('task-b', success(2));
			camb.on('GET', resultPath(2), { json: links(2) });
			camb.task('task-c', pending);
			camb.task('task-d', {
				json: {
					status: 'ERROR',
					run_id: null,
					exception_reason: 'PROCESSING_ERROR',
					message: 'The separation failed',
				},
			});

			const { run, rows } = await runAndRead(pollId, 'poll run 3');

			expectStatus(run, 'success');
			expect(rowOf(rows, 'task-b')).toMatchObject({
				status: 'SUCCESS',
				check_count: 2,
				...links(2),
			});
			expect(rowOf(rows, 'task-d')).toMatchObject({
				status: 'FAILED',
				check_count: 2,
				reason: 'PROCESSING_ERROR',
				foreground_audio_url: null,
			});
			expectStillPending(rows, 'task-c', 2);
			expect(rowOf(rows, 'task-a')).toMatchObject({ status: 'SUCCESS', check_count: 1 });
			expect(statusRequests('task-a')).toBe(0);
		});

		it(`run 4: the task still pending after Max Checks (${MAX_CHECKS}) runs is marked FAILED with reason STILL_PENDING`, async () => {
			await untilDue();
			camb.task('task-c', pending);

			const { run, rows } = await runAndRead(pollId, 'poll run 4');

			expectStatus(run, 'success');
			expect([idsOn(run, 0), idsOn(run, 1), idsOn(run, 2)]).toEqual([[], [], ['task-c']]);
			expect(run.reader.json(STATUS_NODE_NAME, 2)[0]).toMatchObject({
				reason: 'STILL_PENDING',
				check_count: MAX_CHECKS,
			});
			expect(rowOf(rows, 'task-c')).toMatchObject({
				status: 'FAILED',
				check_count: MAX_CHECKS,
				reason: 'STILL_PENDING',
				foreground_audio_url: null,
			});
			expect(camb.requests.map((request) => request.path)).toEqual(
				Array(statusRequests('task-c')).fill(taskStatusPath('task-c')),
			);
		});

		it('run 5: nothing is pending any more: no request reaches CAMB.AI and no row changes', async () => {
			await untilDue();
			const before = await n8n.readRows();

			const { run, rows } = await runAndRead(pollId, 'poll run 5');

			expectStatus(run, 'success');
			expect(run.reader.nodesThatRan()).not.toContain(STATUS_NODE_NAME);
			expect(camb.requests).toEqual([]);
			expect(rows).toEqual(before);
			const byTask = [...rows].sort((a, b) => String(a.task_id).localeCompare(b.task_id));
			expect(byTask.map((row) => [row.task_id, row.status, row.check_count, row.reason])).toEqual([
				['task-a', 'SUCCESS', 1, null],
				['task-b', 'SUCCESS', 2, null],
				['task-c', 'FAILED', MAX_CHECKS, 'STILL_PENDING'],
				['task-d', 'FAILED', 2, 'PROCESSING_ERROR'],
			]);
		});
	},
);
