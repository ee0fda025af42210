/**
 * `npm run dev`, run the way a user runs it: `npm run dev -- --n8n <major>` as a child in its own
 * process group (like a terminal's foreground job), read what it prints, use the printed URL and
 * login against n8n's REST API, press r + Enter (default major), then Ctrl-C (SIGINT to the whole
 * group, as a terminal sends it) and check that nothing it started is left: n8n and every process
 * below it, the ports, the user folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';

import { DEMO_WORKFLOW_NAME, DEV_AUDIO_FILE, DEV_CREDENTIAL } from '../dev/devWorkflows';
import { API_KEY } from '../fixtures/cambWorkflow';
import { DEMO_TASKS, demoRecording } from '../fixtures/demoScenario';
import {
	descendantsOf,
	findInstall,
	groupGone,
	groupMembers,
	isRunning,
	loadExample,
	N8nRest,
	readRun,
	REPO_DIR,
	type Json,
	type Major,
	type RunReader,
} from './n8n';
import { STATUS_NODE_NAME, STATUS_NODE_TYPE, SUBMIT_NODE_NAME } from '../fixtures/package';

// jest.config.js (unit tests) matches *.test.ts too; this needs jest.e2e.config.js (n8n installed).
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

/** n8n 2.x first: it is the default, and the one whose rebuild is tested. */
const MAJORS: Major[] = ['2', '1'];
const DEFAULT_MAJOR: Major = '2';
const EXAMPLE_NAMES = [
	'check-once-and-route.json',
	'poll-until-done.json',
	'submit-wait-and-download-stems.json',
].map((file) => loadExample(file).name as string);

/** What a user's shell would pass: no jest, no outer npm run, no e2e tarball (dev packs its own). */
function userEnv(): NodeJS.ProcessEnv {
	return Object.fromEntries(
		Object.entries(process.env).filter(
			([name]) => !/^(JEST_|npm_|NODE_ENV$|NODE_OPTIONS$|CAMB_E2E_(TARBALL|PACK_DIR)$)/.test(name),
		),
	);
}

interface Printed {
	url: string;
	email: string;
	password: string;
	n8nPid: number;
	folder: string;
	/** The examples' files (the audio to upload, the stems written). */
	files: string;
	cambUrl: string;
	storageUrl: string;
}

/** Reads the banner `npm run dev` prints once everything is up. */
function parseBanner(text: string): Printed {
	const field = (pattern: RegExp) => {
		const match = pattern.exec(text);
		if (!match) throw new Error(`npm run dev printed no ${pattern}:\n${text}`);
		return match[1];
	};
	return {
		url: field(/^ {2}Editor: +(http:\/\/127\.0\.0\.1:\d+)$/m),
		email: field(/^ {2}Email: +(\S+)$/m),
		password: field(/^ {2}Password: +(\S+)$/m),
		n8nPid: Number(field(/^ {2}n8n pid: +(\d+)/m)),
		folder: field(/^ {2}Folder: +(\S+) \(deleted on exit\)$/m),
		files: field(/^ {2}Files: +(\S+) \(/m),
		cambUrl: field(/points at the CAMB stand-in (http:\/\/127\.0\.0\.1:\d+)$/m),
		storageUrl: field(/the storage stand-in (http:\/\/127\.0\.0\.1:\d+)\./m),
	};
}

/** Resolves once `predicate` holds for everything the child printed so far; rejects on timeout or exit. */
async function waitForOutput(
	child: ChildProcess,
	output: () => string,
	predicate: (text: string) => boolean,
	timeoutMs: number,
): Promise<string> {
	const deadline = Date.now() + timeoutMs;
	while (!predicate(output())) {
		if (child.exitCode !== null || child.signalCode !== null)
			throw new Error(`npm run dev exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
		if (Date.now() > deadline)
			throw new Error(
				`npm run dev did not print what was expected within ${timeoutMs / 1000} s:\n${output().slice(-6000)}`,
			);
		await new Promise((resolve) => setTimeout(resolve, 250));
	}
	return output();
}

/** True when nothing listens on the URL's port any more (a connection is refused). */
async function portClosed(url: string): Promise<boolean> {
	const { hostname, port } = new URL(url);
	return await new Promise((resolve) => {
		const socket = net.connect({ host: hostname, port: Number(port) });
		socket.setTimeout(5000, () => socket.destroy());
		socket.once('connect', () => {
			socket.destroy();
			resolve(false);
		});
		socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
		socket.once('close', () => resolve(false));
	});
}

/** The workflows the logged-in owner sees (1.x answers an array, newer ones may page it). */
async function workflowsSeen(rest: N8nRest): Promise<Json[]> {
	const data = await rest.data('GET', '/workflows');
	return (Array.isArray(data) ? data : data.data) as Json[];
}

/**
 * Runs a saved workflow as the editor's "Execute workflow" button does and reads its run once the
 * execution ended. n8n keeps run data serialised with `flatted`: it is read with the copy the n8n
 * under test ships.
 */
async function executeAsEditor(
	rest: N8nRest,
	major: Major,
	workflowId: string,
): Promise<RunReader> {
	const workflow = (await rest.data('GET', `/workflows/${workflowId}`)) as Json;
	const started = (await rest.data('POST', `/workflows/${workflowId}/run`, {
		workflowData: workflow,
		triggerToStartFrom: { name: workflow.nodes[0].name },
	})) as Json;
	const deadline = Date.now() + 120_000;
	for (;;) {
		const execution = (await rest.data('GET', `/executions/${started.executionId}`)) as Json;
		if (execution && !['new', 'running'].includes(execution.status)) {
			const { parse } = createRequire(findInstall(major).n8nScript)('flatted') as {
				parse: (text: string) => Json;
			};
			const run = parse(execution.data as string);
			// n8n 1.x on SQLite writes an ended execution's status and its data in two updates, not
			// one transaction (ExecutionRepository.updateExistingExecution): between them the status
			// has ended but the data is still that of the start. Poll on until the data has ended too.
			const dataEnded =
				run.resultData.lastNodeExecuted !== undefined || run.resultData.error !== undefined;
			if (dataEnded && execution.status !== 'success')
				throw new Error(
					`the execution ended ${execution.status}: ${JSON.stringify(run.resultData.error)}`,
				);
			if (dataEnded) return readRun({ data: run });
		}
		if (Date.now() > deadline)
			throw new Error(
				`execution ${started.executionId} still ${execution?.status} (or its data still that of the start) after 120 s`,
			);
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
}

describeE2e.each(MAJORS)('npm run dev -- --n8n %s', (major) => {
	let dev: ChildProcess | undefined;
	let printed: Printed | undefined;
	const timings: string[] = [];

	afterAll(async () => {
		if (timings.length) console.log(`npm run dev -- --n8n ${major}:\n${timings.join('\n')}`);
		// Only if the test failed half-way: end whatever is left, the same way Ctrl-C would, then for sure.
		if (dev?.pid !== undefined && groupMembers(dev.pid).length > 0) {
			process.kill(-dev.pid, 'SIGINT');
			if ((await groupGone(dev.pid, 30_000)).length > 0) process.kill(-dev.pid, 'SIGKILL');
		}
		if (printed && groupMembers(printed.n8nPid).length > 0)
			process.kill(-printed.n8nPid, 'SIGKILL');
		if (printed) fs.rmSync(printed.folder, { recursive: true, force: true });
	}, 60_000);

	it('prints a login that works, serves the editor with the package, credential and workflows, and Ctrl-C leaves nothing running', async () => {
		let output = '';
		const startedAt = Date.now();
		const took = (what: string) =>
			timings.push(
				`${what}: ${((Date.now() - startedAt) / 1000).toFixed(1)} s after npm run dev started`,
			);
		dev = spawn('npm', ['run', 'dev', '--', '--n8n', major], {
			cwd: REPO_DIR,
			env: userEnv(),
			detached: true,
			stdio: ['pipe', 'pipe', 'pipe'],
		});
		dev.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
		dev.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
		const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
			dev?.once('exit', (code, signal) => resolve([code, signal])),
		);

		// Build, pack, fresh user folder, imports, n8n start, owner: a few minutes at most on a busy machine.
		await waitForOutput(
			dev,
			() => output,
			(text) => text.includes('Ctrl-C stops n8n'),
			300_000,
		);
		took(
			`banner printed (build, then ${/ready in ([\d.]+ s)/.exec(output)?.[1]} for pack, user folder, imports, n8n start, owner)`,
		);
		printed = parseBanner(output);
		expect(output).toMatch(new RegExp(`^n8n ${major}\\.\\d+\\.\\d+ \\(Node v\\d+`, 'm'));
		expect(isRunning(printed.n8nPid)).toBe(true);

		// The editor answers with n8n's page.
		const rest = new N8nRest(printed.url);
		const page = await rest.send('GET', '/');
		expect(page.status).toBe(200);
		expect(page.headers['content-type']).toMatch(/text\/html/);
		expect(page.text).toMatch(/<title>n8n/i);

		// The printed account logs in; it sees the package's node, the credential and the workflows.
		await rest.login(printed.email, printed.password);
		const nodeTypes = (await rest.send('GET', '/types/nodes.json')).body as Json[];
		expect(nodeTypes.map((type) => type.name)).toContain(STATUS_NODE_TYPE);
		const credentials = (await rest.data('GET', '/credentials')) as Json[];
		expect(credentials.map(({ id, name, type }) => ({ id, name, type }))).toEqual([DEV_CREDENTIAL]);
		const workflows = await workflowsSeen(rest);
		expect(workflows.map((workflow) => workflow.name).sort()).toEqual(
			[DEMO_WORKFLOW_NAME, ...EXAMPLE_NAMES].sort(),
		);
		for (const { id, name } of workflows) {
			const workflow = (await rest.data('GET', `/workflows/${id}`)) as Json;
			const statusNodes = (workflow.nodes as Json[]).filter(
				(node) => node.type === STATUS_NODE_TYPE,
			);
			expect([name, statusNodes.length]).toEqual([name, 1]);
			expect(statusNodes[0].credentials).toEqual({
				cambAiApi: { id: DEV_CREDENTIAL.id, name: DEV_CREDENTIAL.name },
			});
			// Nothing in a workflow points anywhere but the stand-ins (the shipped examples point at CAMB.AI).
			for (const url of JSON.stringify(workflow.nodes).match(/https?:\/\/[^"'\s\\]+/g) ?? []) {
				expect([name, url]).toEqual([name, expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\//)]);
			}
		}

		// Execute on the demo workflow: every output of the node gets the demo tasks the README promises.
		const demo = workflows.find((workflow) => workflow.name === DEMO_WORKFLOW_NAME) as Json;
		const outputs = (await executeAsEditor(rest, major, demo.id as string)).runsOf(
			STATUS_NODE_NAME,
		)[0].outputs;
		const expected = ['Success', 'Pending', 'Failure'].map((output) =>
			DEMO_TASKS.filter((task) => task.expected === output).map((task) => task.task_id),
		);
		expect(outputs.map((items) => items.map((item) => item.json.task_id))).toEqual(expected);
		// Finished tasks with a run carry both stems, downloaded from the storage stand-in.
		const withStems = DEMO_TASKS.filter((task) => task.stems).map((task) => task.task_id);
		expect(
			outputs[0]
				.filter((item) => item.binary?.foreground && item.binary?.background)
				.map((item) => item.json.task_id),
		).toEqual(withStems);

		// Execute on submit-wait-and-download-stems: the recording in the files folder goes up through
		// Camb Separate Audio, the task (pending twice) finishes, both stems are written next to it.
		const example = workflows.find((workflow) => workflow.name === EXAMPLE_NAMES[2]) as Json;
		const pipeline = await executeAsEditor(rest, major, example.id as string);
		expect(pipeline.json(SUBMIT_NODE_NAME)).toEqual([
			expect.objectContaining({ task_id: 'sep-uploaded', file_name: DEV_AUDIO_FILE }),
		]);
		expect(pipeline.json(STATUS_NODE_NAME, 0).map((json) => json.task_id)).toEqual([
			'sep-uploaded',
		]);
		const filesFolder = printed.files;
		expect(fs.readFileSync(path.join(filesFolder, DEV_AUDIO_FILE))).toEqual(demoRecording());
		const written = fs.readdirSync(filesFolder).sort();
		expect(written).toEqual(
			[DEV_AUDIO_FILE, 'sep-uploaded-bg_audio.flac', 'sep-uploaded-fg_audio.flac'].sort(),
		);
		// devWorkflows.ts finishes the uploaded task with the second demo run that has stems.
		const stems = DEMO_TASKS.flatMap((task) => (task.stems ? [task.stems] : []))[1];
		expect(
			['fg', 'bg'].map(
				(stem) => fs.statSync(path.join(filesFolder, `sep-uploaded-${stem}_audio.flac`)).size,
			),
		).toEqual([stems.foregroundBytes, stems.backgroundBytes]);

		if (major === DEFAULT_MAJOR) {
			// r + Enter: rebuild, reinstall, restart on the same URL; the login survives.
			const oldPid = printed.n8nPid;
			dev.stdin?.write('r\n');
			const afterRebuild = await waitForOutput(
				dev,
				() => output,
				(text) => /n8n is back \(pid \d+/.test(text),
				240_000,
			);
			const newPid = Number(/n8n is back \(pid (\d+)/.exec(afterRebuild)?.[1]);
			expect(newPid).not.toBe(oldPid);
			expect(await groupGone(oldPid)).toEqual([]);
			took('rebuilt and restarted after r + Enter');
			printed = { ...printed, n8nPid: newPid };
			expect(await workflowsSeen(rest)).toHaveLength(workflows.length);
		}

		// Ctrl-C, as a terminal sends it: SIGINT to the whole foreground group (npm and node).
		const below = [
			printed.n8nPid,
			...descendantsOf(printed.n8nPid),
			...descendantsOf(dev.pid as number),
		];
		process.kill(-(dev.pid as number), 'SIGINT');
		const [code, signal] = await exited;
		took('exited after Ctrl-C');
		expect({
			code,
			signal,
			said: /Stopped; the temporary user folder is deleted\./.test(output),
		}).toEqual({ code: 0, signal: null, said: true });

		expect(await groupGone(printed.n8nPid)).toEqual([]);
		expect(await groupGone(dev.pid as number)).toEqual([]);
		expect(below.filter(isRunning)).toEqual([]);
		for (const url of [printed.url, printed.cambUrl, printed.storageUrl])
			expect([url, await portClosed(url)]).toEqual([url, true]);
		expect(fs.existsSync(printed.folder)).toBe(false);
		expect(fs.existsSync(printed.files)).toBe(false);
		// The credential's key is the stand-in's, but still a key: it is never printed.
		expect(output).not.toContain(API_KEY);
	}, 600_000);
});
