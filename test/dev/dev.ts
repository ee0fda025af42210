/**
 * `npm run dev [-- --n8n 1|2] [--port N]`: this package on a real n8n canvas, offline.
 *
 * Starts real n8n from the e2e cache (test/e2e/install-n8n.sh installs it on first use) on
 * 127.0.0.1, with this package packed and installed as a community package in a fresh user folder
 * in the temp dir; the demo's CAMB stand-in and storage stand-in on loopback
 * (test/fixtures/demoScenario.ts); a "CAMB.AI API" credential pointing at the stand-in; the demo
 * workflow and the examples imported (devWorkflows.ts); and an owner account. Prints the URL and
 * login. "r" + Enter rebuilds the package, reinstalls it and restarts n8n. Ctrl-C (SIGINT) or
 * SIGTERM stops n8n's whole process group and the stand-ins, deletes the temp folders, exits 0.
 *
 * Default n8n 2.x: the current major, what a newcomer installs today and what the README's
 * screenshot shows; it runs on the Node 24 the cache holds, so the system's Node 20 does not matter.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';

import { demoRecording, startDemoCamb, type DemoCamb } from '../fixtures/demoScenario';
import {
	findInstall,
	freePort,
	installPackage,
	N8nRest,
	packPackage,
	REPO_DIR,
	startSession,
	type Major,
	type N8nAccount,
	type N8nInstall,
	type N8nServer,
	type N8nSession,
} from '../e2e/n8n';
import {
	DEMO_WORKFLOW_NAME,
	DEV_AUDIO_FILE,
	DEV_CREDENTIAL,
	devCredential,
	devWorkflows,
} from './devWorkflows';
import { PACKAGE_NAME } from '../fixtures/package';

/** Local only, in a user folder that is deleted on exit: a fixed password lets the browser remember it. */
const DEV_OWNER: N8nAccount = {
	email: 'dev@example.com',
	firstName: 'Camb',
	lastName: 'Developer',
	password: 'Camb-dev-0wner',
};
const PREFERRED_PORT = 5678;

const USAGE = `Usage: npm run dev [-- --n8n 1|2] [--port N]
  --n8n 1|2   n8n major (default 2: n8n 2.x on the cached Node 24; 1: n8n 1.x on this Node)
  --port N    editor port on 127.0.0.1 (default ${PREFERRED_PORT} if free, else any free port)`;

function options(): { major: Major; port?: number } {
	const { values } = parseArgs({
		options: {
			n8n: { type: 'string', default: '2' },
			port: { type: 'string' },
			help: { type: 'boolean' },
		},
	});
	if (values.help) {
		console.log(USAGE);
		process.exit(0);
	}
	const major = values.n8n.replace(/^(\d+)(\.x)?$/, '$1');
	if (major !== '1' && major !== '2') throw new Error(`--n8n ${values.n8n}: pick 1 or 2\n${USAGE}`);
	const port = values.port === undefined ? undefined : Number(values.port);
	if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
		throw new Error(`--port ${values.port} is not a port\n${USAGE}`);
	return { major, port };
}

async function portIsFree(port: number): Promise<boolean> {
	return await new Promise((resolve) => {
		const probe = net.createServer();
		probe.once('error', () => resolve(false));
		probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
	});
}

/** The cached n8n of this major, installed first if it is not there yet (minutes, once). */
function ensureInstall(major: Major): N8nInstall {
	try {
		return findInstall(major);
	} catch (missing) {
		console.log(
			`${(missing as Error).message.split('\n')[0]}\nInstalling it now (a few minutes, once)…`,
		);
		const installed = spawnSync(
			'bash',
			[path.join(REPO_DIR, 'test', 'e2e', 'install-n8n.sh'), major],
			{ stdio: 'inherit' },
		);
		if (installed.status !== 0)
			throw new Error(`install-n8n.sh ${major} failed (exit ${installed.status})`);
		return findInstall(major);
	}
}

/** Everything started, so any exit path can end it. */
const started: { demo?: DemoCamb; session?: N8nSession; server?: N8nServer; tempDirs: string[] } = {
	tempDirs: [],
};
let stopping = false;
let restarting = false;

function packIntoTemp(): string {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-dev-pack-'));
	started.tempDirs.push(dir);
	return packPackage(dir);
}

async function startN8n(session: N8nSession, logFile: string): Promise<N8nServer> {
	const server = await session.startServer({
		onOutput: (text) => fs.appendFileSync(logFile, text),
	});
	started.server = server;
	void server.whenExited.then(() => {
		if (stopping || restarting || started.server !== server) return;
		console.error(
			`\nn8n exited by itself. The end of its log (${logFile}):\n${server.output().slice(-3000)}`,
		);
		void shutdown(1);
	});
	return server;
}

async function shutdown(exitCode: number): Promise<void> {
	if (stopping) return;
	stopping = true;
	console.log('\nStopping n8n and the stand-ins…');
	await started.server?.stop().catch((error: unknown) => console.error(error));
	await started.session?.close().catch((error: unknown) => console.error(error));
	await started.demo?.close().catch((error: unknown) => console.error(error));
	for (const dir of started.tempDirs) fs.rmSync(dir, { recursive: true, force: true });
	console.log('Stopped; the temporary user folder is deleted.');
	process.exit(exitCode);
}

async function rebuild(session: N8nSession, logFile: string): Promise<void> {
	if (restarting || stopping) return;
	restarting = true;
	try {
		console.log('\nRebuilding: npm run build…');
		const built = await new Promise<number | null>((resolve) =>
			spawn('npm', ['run', 'build'], {
				cwd: REPO_DIR,
				stdio: ['ignore', 'inherit', 'inherit'],
			}).once('close', resolve),
		);
		if (stopping) return;
		if (built !== 0) {
			console.log(
				'The build failed; n8n keeps the package it had. Fix it and press r + Enter again.',
			);
			return;
		}
		const tarball = packIntoTemp();
		console.log('Reinstalling the package and restarting n8n…');
		const restartedAt = Date.now();
		await started.server?.stop();
		installPackage(session.userFolder, tarball);
		const server = await startN8n(session, logFile);
		const seconds = ((Date.now() - restartedAt) / 1000).toFixed(1);
		console.log(
			`n8n is back (pid ${server.pid}, restarted in ${seconds} s) with the rebuilt package: reload the editor tab; you stay logged in.`,
		);
	} catch (error) {
		console.error(`Rebuild failed: ${(error as Error).message}`);
		await shutdown(1);
	} finally {
		restarting = false;
	}
}

async function main(): Promise<void> {
	const startedAt = Date.now();
	const { major, port: askedPort } = options();
	// shutdown() runs once; a second signal (npm passes Ctrl-C on once more) must not kill this process mid-cleanup.
	process.on('SIGINT', () => void shutdown(0));
	process.on('SIGTERM', () => void shutdown(0));

	const install = ensureInstall(major);
	const port =
		askedPort ?? ((await portIsFree(PREFERRED_PORT)) ? PREFERRED_PORT : await freePort());
	if (askedPort !== undefined && !(await portIsFree(askedPort)))
		throw new Error(`port ${askedPort} on 127.0.0.1 is in use`);

	started.demo = await startDemoCamb();
	const demo = started.demo;
	console.log(`Packing ${PACKAGE_NAME} (dist/ as npm run build left it)…`);
	const tarball = packIntoTemp();
	// The files the examples read and write (a recording to upload, the stems): outside n8n's user
	// folder, which n8n keeps its nodes out of, and the only folder they may use, as 2.x's default
	// ~/.n8n-files would be.
	const filesFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-dev-files-'));
	started.tempDirs.push(filesFolder);
	fs.writeFileSync(path.join(filesFolder, DEV_AUDIO_FILE), demoRecording());
	console.log(`Starting n8n ${install.version} on Node ${install.nodeVersion}…`);
	const session = await startSession(major, {
		tarball,
		env: { N8N_PORT: String(port), N8N_RESTRICT_FILE_ACCESS_TO: filesFolder },
		folderPrefix: `camb-dev-n8n${major}-`,
	});
	started.session = session;
	const logFile = path.join(session.userFolder, 'n8n.log');

	await session.importCredentials([devCredential(demo)]);
	const workflows = devWorkflows(demo, filesFolder);
	const workflowIds = await session.importWorkflows(workflows);
	const server = await startN8n(session, logFile);
	await new N8nRest(server.baseUrl).setUpOwner(DEV_OWNER);

	const version = (
		JSON.parse(fs.readFileSync(path.join(REPO_DIR, 'package.json'), 'utf8')) as { version: string }
	).version;
	const lines = [
		'',
		`n8n ${install.version} (Node ${install.nodeVersion}) is running with ${PACKAGE_NAME} ${version} installed as a community package ` +
			`(ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s).`,
		'',
		`  Editor:   ${server.baseUrl}`,
		`  Email:    ${DEV_OWNER.email}`,
		`  Password: ${DEV_OWNER.password}`,
		'',
		'  Workflows (open one, click "Execute workflow", then click a node to see its items):',
		...workflows.map(
			(workflow, index) =>
				`    ${String(workflow.name).padEnd(72)} ${server.baseUrl}/workflow/${workflowIds[index]}`,
		),
		`  Credential "${DEV_CREDENTIAL.name}" (CAMB.AI API) points at the CAMB stand-in ${demo.camb.baseUrl}`,
		`  Stem links point at the storage stand-in ${demo.storage.baseUrl}. Nothing is sent to CAMB.AI.`,
		`  Files:    ${filesFolder} (${DEV_AUDIO_FILE} to upload; the stems are written here; deleted on exit)`,
		'',
		`  n8n pid:  ${server.pid} (its own process group)`,
		`  n8n log:  ${logFile}`,
		`  Folder:   ${session.userFolder} (deleted on exit)`,
		'',
		`Start with "${DEMO_WORKFLOW_NAME}": its Success, Pending and Failure outputs all get items.`,
		'Changed the node? Press r + Enter here: npm run build, reinstall, restart n8n (same URL and login).',
		'Ctrl-C stops n8n and the stand-ins.',
	];
	console.log(lines.join('\n'));

	// terminal: false keeps the terminal out of raw mode, so Ctrl-C still sends SIGINT.
	readline.createInterface({ input: process.stdin, terminal: false }).on('line', (line) => {
		if (line.trim().toLowerCase() === 'r') void rebuild(session, logFile);
		else if (line.trim() !== '')
			console.log('Press r + Enter to rebuild and restart, Ctrl-C to stop.');
	});
}

main().catch(async (error: unknown) => {
	console.error(error instanceof Error ? error.message : error);
	await shutdown(1);
});
