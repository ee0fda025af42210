/**
 * A scripted OpenAI-compatible chat model for tests of the node as an AI Agent's tool: a real
 * HTTP server (node:http only) on 127.0.0.1 that n8n's OpenAI Chat Model node talks to through
 * the `url` of its openAiApi credential.
 *
 * The script is stateless, so any number of conversations can run at once:
 * - the conversation's last message is from the user: answer with ONE call of the tool whose
 *   name contains "camb" (else the first tool), passing `task_id` = the word after "task" in the
 *   user's message ("Is task abc-1 done?" → abc-1) when the tool takes a `task_id`;
 * - the last message is a tool result: answer with the final text "The tool answered: <result>".
 * Every request is recorded (path, headers, parsed body), as are the tool calls it made.
 * Both plain and streamed (`stream: true`, server-sent events) answers are served.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

interface ChatMessage {
	role: string;
	content?: unknown;
	tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
	tool_call_id?: string;
}

interface ChatTool {
	type: string;
	function: {
		name: string;
		description?: string;
		parameters?: { properties?: Record<string, unknown> };
	};
}

interface RecordedChatRequest {
	method: string;
	path: string;
	headers: http.IncomingHttpHeaders;
	/** The raw body as received. */
	raw: string;
	/** The parsed body of a chat completion request. */
	body?: { messages?: ChatMessage[]; tools?: ChatTool[]; stream?: boolean; model?: string };
}

interface MadeToolCall {
	id: string;
	name: string;
	args: Record<string, unknown>;
}

export interface FakeChatModel {
	/** e.g. http://127.0.0.1:45678/v1: the openAiApi credential's `url`. */
	readonly baseUrl: string;
	readonly requests: RecordedChatRequest[];
	/** The tool calls the model asked for, in order. */
	readonly toolCalls: MadeToolCall[];
	/** The tool results n8n sent back, by tool call id (the content exactly as received). */
	toolResults(): Map<string, string>;
	reset(): void;
	close(): Promise<void>;
}

/** The text of a message's content: a string, or OpenAI's list of parts. */
function messageText(content: unknown): string {
	if (typeof content === 'string') return content;
	if (Array.isArray(content)) {
		return content
			.map((part) =>
				typeof part === 'string' ? part : typeof part?.text === 'string' ? part.text : '',
			)
			.join('');
	}
	return '';
}

export async function startFakeChatModel(): Promise<FakeChatModel> {
	const requests: RecordedChatRequest[] = [];
	const toolCalls: MadeToolCall[] = [];
	const sockets = new Set<Socket>();
	let counter = 0;

	const server = http.createServer((req, res) => {
		let raw = '';
		req.setEncoding('utf8');
		req.on('data', (chunk: string) => (raw += chunk));
		req.on('end', () => {
			const path = req.url ?? '';
			const recorded: RecordedChatRequest = {
				method: req.method ?? '',
				path,
				headers: req.headers,
				raw,
			};
			requests.push(recorded);
			if (req.method === 'GET' && path.endsWith('/models')) {
				return send(res, 200, {
					object: 'list',
					data: [{ id: 'fake-model', object: 'model', owned_by: 'tests' }],
				});
			}
			if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
				return send(res, 404, {
					error: {
						message: `the fake chat model serves only POST /v1/chat/completions, not ${req.method} ${path}`,
					},
				});
			}
			try {
				recorded.body = JSON.parse(raw) as RecordedChatRequest['body'];
			} catch {
				return send(res, 400, { error: { message: 'the body is not JSON' } });
			}
			const body = recorded.body ?? {};
			const reply = nextMessage(body.messages ?? [], body.tools ?? [], () => `call_${++counter}`);
			for (const call of reply.tool_calls ?? []) {
				toolCalls.push({
					id: call.id,
					name: call.function.name,
					args: JSON.parse(call.function.arguments) as Record<string, unknown>,
				});
			}
			const id = `chatcmpl-fake-${++counter}`;
			const finish = reply.tool_calls ? 'tool_calls' : 'stop';
			const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
			if (body.stream) return stream(res, id, body.model ?? 'fake-model', reply, finish, usage);
			return send(res, 200, {
				id,
				object: 'chat.completion',
				created: Math.floor(Date.now() / 1000),
				model: body.model ?? 'fake-model',
				choices: [{ index: 0, message: reply, finish_reason: finish, logprobs: null }],
				usage,
			});
		});
	});
	server.on('connection', (socket) => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;

	return {
		baseUrl: `http://127.0.0.1:${port}/v1`,
		requests,
		toolCalls,
		toolResults() {
			const results = new Map<string, string>();
			for (const request of requests) {
				for (const message of request.body?.messages ?? []) {
					if (message.role === 'tool' && message.tool_call_id)
						results.set(message.tool_call_id, messageText(message.content));
				}
			}
			return results;
		},
		reset() {
			requests.length = 0;
			toolCalls.length = 0;
		},
		async close() {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

interface AssistantMessage {
	role: 'assistant';
	content: string | null;
	tool_calls?: Array<{
		id: string;
		type: 'function';
		function: { name: string; arguments: string };
	}>;
}

function nextMessage(
	messages: ChatMessage[],
	tools: ChatTool[],
	newId: () => string,
): AssistantMessage {
	const last = messages[messages.length - 1];
	if (!last || last.role === 'tool') {
		return {
			role: 'assistant',
			content: `The tool answered: ${last ? messageText(last.content) : '(nothing)'}`,
		};
	}
	const tool = tools.find((candidate) => /camb/i.test(candidate.function.name)) ?? tools[0];
	if (!tool) return { role: 'assistant', content: 'No tool was offered.' };
	const taskId = /\btask\s+([^\s?!,]+)/i.exec(messageText(last.content))?.[1]?.replace(/\.$/, '');
	const takesTaskId = Object.prototype.hasOwnProperty.call(
		tool.function.parameters?.properties ?? {},
		'task_id',
	);
	const args = takesTaskId && taskId !== undefined ? { task_id: taskId } : {};
	return {
		role: 'assistant',
		content: null,
		tool_calls: [
			{
				id: newId(),
				type: 'function',
				function: { name: tool.function.name, arguments: JSON.stringify(args) },
			},
		],
	};
}

function send(res: http.ServerResponse, status: number, json: unknown): void {
	const text = JSON.stringify(json);
	res.writeHead(status, {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(text),
	});
	res.end(text);
}

/** The same answer as OpenAI's server-sent events: the whole message in one delta, then the finish, then [DONE]. */
function stream(
	res: http.ServerResponse,
	id: string,
	model: string,
	reply: AssistantMessage,
	finish: string,
	usage: object,
): void {
	res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
	const chunk = (choice: object, extra: object = {}) =>
		res.write(
			`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model, choices: [choice], ...extra })}\n\n`,
		);
	const delta = {
		role: 'assistant',
		content: reply.content ?? '',
		...(reply.tool_calls
			? { tool_calls: reply.tool_calls.map((call, index) => ({ index, ...call })) }
			: {}),
	};
	chunk({ index: 0, delta, finish_reason: null });
	chunk({ index: 0, delta: {}, finish_reason: finish }, { usage });
	res.end('data: [DONE]\n\n');
}
