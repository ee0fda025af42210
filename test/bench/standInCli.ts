/**
 * The CAMB stand-in in a process of its own, for benchmarks that must not share an event loop
 * with it (realN8nServers.ts): starts one stand-in on 127.0.0.1 playing one kind of server, prints
 * `{"port":N}` on a line once it listens, then answers commands on stdin, one JSON line each:
 *
 *   reset   forget the requests and script the N task ids again ({"ok":true})
 *   stats   {"requests","unavailable","limited","maxConcurrent"} since the last reset
 *   uploads {"uploads":[...]}: each POST /audio-separation since the last reset as the stand-in
 *           recorded it (method, path, bodyComplete, multipart: fields, and per file its length
 *           and sha256, never its bytes), whether it carried the api key, and the tasks created
 *
 * Exits when stdin closes (its parent went away).
 *
 *   node dist-test/test/bench/standInCli.js --server free|shed|noisy|limited|limited-bare
 *        --latency 50 --n 300 --prefix task- --api-key KEY [--pending K]
 *
 * Task `<prefix><i, 4 digits>` answers SUCCESS, PENDING or ERROR by i % 3, as in benchmark a; with
 * --pending K (K > 0) every task answers PENDING to its first K checks, then SUCCESS.
 */
import * as readline from 'node:readline';

import { startStandIn, UPLOAD_PATH } from '../stand-in/cambStandIn';
import { SERVERS, repliesOf, serverOptions, taskIds, type ServerKind } from './standInKinds';

function option(argv: string[], flag: string, fallback: string): string {
	const at = argv.indexOf(flag);
	return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback;
}

async function main(): Promise<void> {
	const argv = process.argv.slice(2);
	const kind = option(argv, '--server', 'free') as ServerKind;
	if (!SERVERS.includes(kind)) throw new Error(`unknown --server ${kind}`);
	const latencyMs = Number(option(argv, '--latency', '50'));
	const ids = taskIds(option(argv, '--prefix', 'task-'), Number(option(argv, '--n', '300')));
	const apiKey = option(argv, '--api-key', '');
	const pendingChecks = Number(option(argv, '--pending', '0'));
	const standIn = await startStandIn(serverOptions(kind, latencyMs, apiKey));
	const script = () => ids.forEach((id, i) => standIn.task(id, ...repliesOf(i, pendingChecks)));
	script();
	const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
	say({ port: standIn.port });
	const lines = readline.createInterface({ input: process.stdin });
	lines.on('line', (line) => {
		const command = line.trim();
		if (command === 'reset') {
			standIn.reset();
			script();
			say({ ok: true });
		} else if (command === 'stats') {
			say({
				requests: standIn.requests.length,
				unavailable: standIn.unavailable,
				limited: standIn.limited,
				maxConcurrent: standIn.maxConcurrent,
			});
		} else if (command === 'uploads') {
			say({
				uploads: standIn.requests
					.filter((request) => request.method === 'POST' && request.path === UPLOAD_PATH)
					.map((request) => ({
						method: request.method,
						path: request.path,
						bodyComplete: request.bodyComplete,
						multipart: request.multipart,
						withKey: request.headers['x-api-key'] === apiKey,
					})),
				tasksCreated: standIn.tasksCreated.length,
			});
		} else say({ error: `unknown command ${command}` });
	});
	lines.on('close', () => void standIn.close().then(() => process.exit(0)));
}

main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});
