/**
 * Private Postgres and Redis instances for the queue-mode tests: Debian's packages (installed
 * by installDebianPackages when missing, see globalSetup.ts), each on a free loopback port with its data in a temp dir, owned by
 * the test run and ended with it. Nothing system-wide is started or changed besides the install.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { freePort, runProcess, startBackgroundProcess, type BackgroundProcess } from '../e2e/n8n';

/** The newest Debian Postgres whose server binaries are there (/usr/lib/postgresql/<major>/bin). */
function postgresBinDir(): string | undefined {
	const root = '/usr/lib/postgresql';
	if (!fs.existsSync(root)) return undefined;
	const majors = fs
		.readdirSync(root)
		.filter(
			(name) =>
				/^\d+$/.test(name) &&
				fs.existsSync(path.join(root, name, 'bin', 'initdb')) &&
				fs.existsSync(path.join(root, name, 'bin', 'postgres')),
		)
		.sort((a, b) => Number(b) - Number(a));
	return majors.length ? path.join(root, majors[0], 'bin') : undefined;
}

export interface Postgres {
	readonly port: number;
	readonly user: string;
	/** Creates an empty database and gives its name. */
	createDatabase(name: string): Promise<string>;
	/** Runs SQL through psql in a database; gives psql's unaligned, tuples-only output. */
	query(database: string, sql: string): Promise<string>;
	stop(): Promise<void>;
}

export interface Redis {
	readonly port: number;
	stop(): Promise<void>;
}

async function until(
	what: string,
	timeoutMs: number,
	check: () => Promise<boolean>,
	process: BackgroundProcess,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		if (process.exited())
			throw new Error(`${what} exited before it was ready:\n${process.output().slice(-4000)}`);
		if (await check().catch(() => false)) return;
		if (Date.now() >= deadline) {
			await process.stop();
			throw new Error(
				`${what} was not ready after ${timeoutMs / 1000} s:\n${process.output().slice(-4000)}`,
			);
		}
		await new Promise((resolve) => setTimeout(resolve, 200));
	}
}

/** A directory the `postgres` user can reach: mkdtemp makes 0700 dirs owned by root. */
function postgresOwnedDir(parent: string, name: string): string {
	fs.chmodSync(parent, 0o755);
	const dir = path.join(parent, name);
	fs.mkdirSync(dir, { mode: 0o700 });
	const chown = spawnSync('chown', ['-R', 'postgres:postgres', dir], { encoding: 'utf8' });
	if (chown.status !== 0) throw new Error(`chown postgres ${dir} failed: ${chown.stderr}`);
	return dir;
}

/**
 * initdb and postgres refuse to run as root, so both run as the `postgres` user through runuser.
 * Trust authentication on loopback only; fsync off: a test database need not survive a power cut.
 */
export async function startPostgres(workDir: string): Promise<Postgres> {
	const bin = postgresBinDir();
	if (!bin)
		throw new Error(
			'no Postgres server binaries under /usr/lib/postgresql: call installDebianPackages("postgresql") first',
		);
	const dataDir = postgresOwnedDir(workDir, 'pgdata');
	const socketDir = postgresOwnedDir(workDir, 'pgsocket');
	const asPostgres = (command: string, ...args: string[]) => [
		'-u',
		'postgres',
		'--',
		path.join(bin, command),
		...args,
	];
	const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' };

	const initdb = await runProcess(
		'runuser',
		asPostgres(
			'initdb',
			'-D',
			dataDir,
			'-U',
			'postgres',
			'--auth=trust',
			'-E',
			'UTF8',
			'--no-sync',
		),
		{
			cwd: workDir,
			env,
			timeoutMs: 120_000,
		},
	);
	if (initdb.exitCode !== 0)
		throw new Error(`initdb failed (${initdb.exitCode}):\n${initdb.stdout}\n${initdb.stderr}`);

	const port = await freePort();
	const server = startBackgroundProcess(
		'runuser',
		asPostgres(
			'postgres',
			'-D',
			dataDir,
			'-p',
			String(port),
			'-k',
			socketDir,
			'-c',
			'listen_addresses=127.0.0.1',
			'-c',
			'fsync=off',
			'-c',
			'synchronous_commit=off',
			'-c',
			'full_page_writes=off',
			'-c',
			'max_connections=200',
		),
		{ cwd: workDir, env },
	);
	const psql = (database: string, sql: string) =>
		runProcess(
			path.join(bin, 'psql'),
			[
				'-h',
				'127.0.0.1',
				'-p',
				String(port),
				'-U',
				'postgres',
				'-d',
				database,
				'-v',
				'ON_ERROR_STOP=1',
				'-At',
				'-c',
				sql,
			],
			{
				cwd: workDir,
				env,
				timeoutMs: 60_000,
			},
		);
	await until(
		'postgres',
		60_000,
		async () => (await psql('postgres', 'select 1')).exitCode === 0,
		server,
	);

	const query = async (database: string, sql: string) => {
		const result = await psql(database, sql);
		if (result.exitCode !== 0)
			throw new Error(`psql failed (${result.exitCode}) on ${sql}:\n${result.stderr}`);
		return result.stdout.trim();
	};
	return {
		port,
		user: 'postgres',
		async createDatabase(name) {
			await query('postgres', `CREATE DATABASE "${name}"`);
			return name;
		},
		query,
		// SIGTERM to postgres is a "smart" shutdown that waits for clients; SIGINT ("fast") does not.
		stop: () => server.stop(10_000, 'SIGINT'),
	};
}

/** Answers +PONG to a PING over a raw socket: no client library needed. */
function redisPing(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect(port, '127.0.0.1');
		socket.setTimeout(1000);
		let answer = '';
		socket.on('data', (chunk) => {
			answer += chunk.toString('utf8');
			if (answer.includes('\r\n')) {
				socket.destroy();
				resolve(answer.startsWith('+PONG'));
			}
		});
		socket.on('connect', () => socket.write('PING\r\n'));
		socket.on('error', () => resolve(false));
		socket.on('timeout', () => {
			socket.destroy();
			resolve(false);
		});
	});
}

/** Redis on loopback, nothing written to disk (no RDB snapshots, no append-only file). */
export async function startRedis(workDir: string): Promise<Redis> {
	const port = await freePort();
	const dir = path.join(workDir, 'redis');
	fs.mkdirSync(dir);
	const server = startBackgroundProcess(
		'redis-server',
		[
			'--bind',
			'127.0.0.1',
			'--port',
			String(port),
			'--save',
			'',
			'--appendonly',
			'no',
			'--dir',
			dir,
			'--protected-mode',
			'yes',
		],
		{ cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
	);
	await until('redis-server', 30_000, () => redisPing(port), server);
	return { port, stop: () => server.stop() };
}

/** A temp dir for one test run's services and n8n folders, removed by the returned function. */
export function makeWorkDir(prefix: string): { dir: string; remove: () => void } {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	const remove = () => fs.rmSync(dir, { recursive: true, force: true });
	// Whatever way the run ends (a failed assertion, jest's exit): no temp dir is left behind.
	process.once('exit', remove);
	return { dir, remove };
}
