/**
 * Camb Separation Status as a tool of n8n's MCP Server Trigger in REAL n8n (1.x on Node 20, 2.x
 * on Node 24): examples/mcp-server-status-tool.json imported and activated (1.x:
 * `update:workflow --active=true`; 2.x: `publish:workflow`) before `n8n start` on 127.0.0.1, the
 * credential pointing at the CAMB.AI stand-in, and the official MCP TypeScript SDK's client
 * (@modelcontextprotocol/sdk, its CommonJS build) talking to `/mcp/<path>` over Streamable HTTP
 * and over SSE. Assertions read what the MCP client got (tools/list, tools/call) and what
 * CAMB.AI received.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import * as path from 'node:path';

import { TOOL_DESCRIPTION } from '../../nodes/CambSeparationStatus/description';
import { startStandIn, taskStatusPath, type StandIn } from '../stand-in/cambStandIn';
import {
	filesContaining,
	loadExample,
	nodeNamed,
	runProcess,
	startSession,
	tail,
	type Json,
	type Major,
	type N8nServer,
	type N8nSession,
} from './n8n';
import { API_KEY, CREDENTIAL, credentialRecord, STATUS_NODE_NAME } from '../fixtures/package';

const EXAMPLE = 'mcp-server-status-tool.json';
const TRIGGER_NODE = 'MCP Server Trigger';
/** n8n names a node's tool after the node, spaces as underscores. */
const TOOL_NAME = 'Camb_Separation_Status';
const REJECTED = { id: 'cambAiRejected03', name: 'CAMB.AI revoked key' };
const REJECTED_PATH = 'camb-separation-revoked';

const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

type TransportKind = 'Streamable HTTP' | 'SSE';

/** The example, served at `mcpPath` with the tool using `credential`. */
function mcpWorkflow(mcpPath: string, credential = CREDENTIAL, webhookSuffix = ''): Json {
	const workflow = loadExample(EXAMPLE);
	const trigger = nodeNamed(workflow, TRIGGER_NODE);
	trigger.parameters.path = mcpPath;
	trigger.webhookId = `${trigger.webhookId as string}${webhookSuffix}`;
	nodeNamed(workflow, STATUS_NODE_NAME).credentials = { cambAiApi: credential };
	return { ...workflow, name: `${workflow.name as string} (${mcpPath})` };
}

/**
 * Activates imported workflows the way each major's CLI does outside queue mode (n8n.ts's
 * importWorkflows activates 1.x with --activeState=fromJson, which `n8n start` in regular mode
 * refuses): 1.x `update:workflow --id --active=true`, 2.x `publish:workflow --id`. Same user
 * folder, hence the same database and encryption key (read from the folder's config).
 */
async function activate(session: N8nSession, ids: string[]): Promise<void> {
	const { install } = session;
	const inherited = Object.fromEntries(
		Object.entries(process.env).filter(
			([name]) => !/^(N8N_|DB_|NODE_ENV$|NODE_OPTIONS$|JEST_|npm_)/.test(name),
		),
	);
	const env = {
		...inherited,
		PATH: `${path.dirname(install.nodeBin)}${path.delimiter}${process.env.PATH ?? ''}`,
		NODE_ENV: 'production',
		N8N_USER_FOLDER: session.userFolder,
		N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_LOG_LEVEL: 'info',
		GENERIC_TIMEZONE: 'UTC',
		...install.env,
	};
	for (const id of ids) {
		const args =
			install.major === '1'
				? ['update:workflow', `--id=${id}`, '--active=true']
				: ['publish:workflow', `--id=${id}`];
		const result = await runProcess(install.nodeBin, [install.n8nScript, ...args], {
			cwd: session.userFolder,
			env,
			timeoutMs: 120_000,
		});
		if (result.exitCode !== 0)
			throw new Error(
				`n8n ${args.join(' ')} failed (exit ${result.exitCode}):\n${tail(result.stdout + result.stderr)}`,
			);
	}
}

/**
 * An MCP SDK client connected to `url`. Right after `n8n start` is ready (its REST API answers),
 * the first connect failed in both majors here (2.41 answers 404 for a few seconds: webhooks are
 * registered after the REST API); retried every second until `timeoutMs`.
 */
async function connectClient(url: string, kind: TransportKind, timeoutMs = 60_000) {
	const deadline = Date.now() + timeoutMs;
	for (let attempt = 1; ; attempt++) {
		const client = new Client({ name: 'camb-e2e-mcp-client', version: '1.0.0' });
		const transport: Transport =
			kind === 'SSE'
				? new SSEClientTransport(new URL(url))
				: new StreamableHTTPClientTransport(new URL(url));
		try {
			await client.connect(transport);
			return { client, attempts: attempt };
		} catch (error) {
			await client.close().catch(() => undefined);
			if (Date.now() >= deadline)
				throw new Error(`no MCP server at ${url} (${kind}) after ${timeoutMs / 1000} s: ${error}`);
			await new Promise((resolve) => setTimeout(resolve, 1000));
		}
	}
}

/** The one answer in a tools/call result: n8n sends the tool's output as JSON text. */
function answerOf(result: Json): Json {
	expect(result.isError).toBeFalsy();
	const texts = (result.content as Json[]).filter((part) => part.type === 'text');
	expect(texts).toHaveLength(1);
	const parsed = JSON.parse(texts[0].text as string) as Json;
	if (Array.isArray(parsed)) {
		expect(parsed).toHaveLength(1);
		return parsed[0] as Json;
	}
	return parsed;
}

describeE2e.each(['1', '2'] as Major[])(
	'n8n %s.x: the node as an MCP Server Trigger tool',
	(major) => {
		let session: N8nSession;
		let server: N8nServer;
		let camb: StandIn;
		let cambWithOtherKey: StandIn;
		let mcpPath: string;
		const timings: string[] = [];
		const clients: Client[] = [];
		const clientsClosed = async () => {
			await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
		};

		beforeAll(async () => {
			const startedAt = Date.now();
			camb = await startStandIn({ apiKey: API_KEY });
			cambWithOtherKey = await startStandIn({ apiKey: 'camb-e2e-key-the-account-uses-now' });
			session = await startSession(major, {
				// 2.41's MCP registry module calls n8n's servers at start-up; the trigger does not need it.
				env: major === '2' ? { N8N_DISABLED_MODULES: 'mcp-registry' } : {},
			});
			await session.importCredentials([
				credentialRecord(camb.baseUrl),
				credentialRecord(cambWithOtherKey.baseUrl, REJECTED),
			]);
			mcpPath = loadExample(EXAMPLE).nodes.find((node: Json) => node.name === TRIGGER_NODE)
				.parameters.path as string;
			const ids = await session.importWorkflows([
				mcpWorkflow(mcpPath),
				mcpWorkflow(REJECTED_PATH, REJECTED, '-revoked'),
			]);
			await activate(session, ids);
			timings.push(`import + activate: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
			server = await session.startServer();
			timings.push(`n8n start ready: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
		}, 300_000);

		afterAll(async () => {
			await clientsClosed();
			await session?.close();
			await camb?.close();
			await cambWithOtherKey?.close();
			if (timings.length) console.log(`n8n ${major}.x MCP:\n${timings.join('\n')}`);
		});

		beforeEach(() => {
			camb.reset();
			cambWithOtherKey.reset();
		});

		const connect = async (at: string, kind: TransportKind) => {
			const startedAt = Date.now();
			const { client, attempts } = await connectClient(`${server.baseUrl}/mcp/${at}`, kind);
			clients.push(client);
			timings.push(
				`${kind} connected to /mcp/${at}: ${Date.now() - startedAt} ms, attempt ${attempts}`,
			);
			return client;
		};

		/** One tools/call; checks that the key is in no answer and that CAMB.AI got exactly one status request for it. */
		const call = async (client: Client, taskId: string, stand: StandIn = camb): Promise<Json> => {
			const before = camb.requests.length + cambWithOtherKey.requests.length;
			const standBefore = stand.requests.length;
			const startedAt = Date.now();
			const result = (await client.callTool({
				name: TOOL_NAME,
				arguments: { task_id: taskId },
			})) as Json;
			timings.push(
				`  tools/call ${taskId}: ${Date.now() - startedAt} ms: ${JSON.stringify(result)}`,
			);
			expect(JSON.stringify(result)).not.toContain(API_KEY);
			const received = stand.requests.slice(standBefore);
			expect(received.map((request) => `${request.method} ${request.path}`)).toEqual([
				`GET ${taskStatusPath(taskId)}`,
			]);
			expect(received[0].headers['x-api-key']).toBe(API_KEY);
			expect(camb.requests.length + cambWithOtherKey.requests.length).toBe(before + 1);
			return answerOf(result);
		};

		describe.each(['Streamable HTTP', 'SSE'] as TransportKind[])('over %s', (kind) => {
			it('tools/list offers the node as a tool with its model-facing description and task_id', async () => {
				const client = await connect(mcpPath, kind);
				const { tools } = await client.listTools();
				timings.push(`  tools/list: ${JSON.stringify(tools)}`);
				expect(tools.map((tool) => tool.name)).toEqual([TOOL_NAME]);
				expect(tools[0].description).toBe(TOOL_DESCRIPTION);
				// n8n builds it from the $fromAI('task_id', ...) in the node's Task ID (JSON Schema draft-07
				// in 1.x, 2020-12 in 2.x).
				expect(tools[0].inputSchema).toEqual({
					type: 'object',
					properties: {
						task_id: {
							type: 'string',
							description:
								'The task_id CAMB.AI returned when the audio was submitted for separation',
						},
					},
					required: ['task_id'],
					additionalProperties: true,
					$schema:
						major === '1'
							? 'http://json-schema.org/draft-07/schema#'
							: 'https://json-schema.org/draft/2020-12/schema',
				});
				expect(JSON.stringify(tools)).not.toContain(API_KEY);
				// Listing tools asks CAMB.AI nothing.
				expect(camb.requests).toHaveLength(0);
			});

			it('tools/call answers SUCCESS, PENDING and an unknown id (404), one status request per call', async () => {
				const client = await connect(mcpPath, kind);
				camb.task('task-done', {
					json: { status: 'SUCCESS', run_id: 501, exception_reason: null, message: null },
				});
				camb.task('task-running', {
					json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
				});
				// task-unknown is not scripted: the stand-in answers 404 {"detail": "Task not found"}.

				expect(await call(client, 'task-done')).toEqual({
					task_id: 'task-done',
					status: 'SUCCESS',
					run_id: 501,
					message: expect.stringMatching(/^The separation is finished/),
				});
				expect(await call(client, 'task-running')).toEqual({
					task_id: 'task-running',
					status: 'PENDING',
					next_check_in_seconds: 3,
					message: expect.stringMatching(/still separating.*check again in 3 seconds/),
				});
				expect(await call(client, 'task-unknown')).toEqual({
					task_id: 'task-unknown',
					status: 'NOT_FOUND',
					reason: 'TASK_NOT_FOUND',
					message: expect.stringMatching(/does not know this task id \("Task not found"\)/),
					retryable: false,
				});
			});

			it('a rejected key (401): tools/call answers CHECK_FAILED, API_KEY_REJECTED, without the key', async () => {
				const client = await connect(REJECTED_PATH, kind);
				expect(await call(client, 'task-x', cambWithOtherKey)).toEqual({
					task_id: 'task-x',
					status: 'CHECK_FAILED',
					reason: 'API_KEY_REJECTED',
					message: expect.stringMatching(
						/^CAMB\.AI rejected the API key \(HTTP 401\)\. .*workflow owner must update the credential/,
					),
					retryable: false,
				});
			});
		});

		it('an unknown path answers 404 (what a client sees when a workflow is not active)', async () => {
			const response = await fetch(`${server.baseUrl}/mcp/not-${mcpPath}`, {
				method: 'POST',
				headers: {
					'content-type': 'application/json',
					accept: 'application/json, text/event-stream',
				},
				body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
			});
			expect(response.status).toBe(404);
		});

		it('the key is in nothing n8n printed or wrote (its credential is stored encrypted)', async () => {
			// Stopped first: SQLite's journal comes and goes while n8n runs.
			await clientsClosed();
			await server.stop();
			expect(server.output()).not.toContain(API_KEY);
			expect(filesContaining(session.userFolder, API_KEY)).toEqual([]);
		});
	},
);
