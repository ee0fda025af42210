/**
 * Running one batch of the soak (soak.ts) in n8n's real engine and checking it: items lost,
 * duplicated, misrouted, the API key leaked anywhere, executions slower than the rules allow, and
 * resources (timers, sockets) left over.
 */
import type { INodeExecutionData, INodeParameters } from 'n8n-workflow';

import { DEFAULT_COOL_DOWN_MS, INITIAL_WINDOW } from '../../nodes/shared/transport/rateControl';
import { API_KEY, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import {
	sendTime,
	taskStatusPath,
	type RecordedRequest,
	type StandIn,
} from '../stand-in/cambStandIn';
import { Meaning, ScriptedReply, category } from './soakReplies';
import {
	Batch,
	BatchConfig,
	Expected,
	ROUTES,
	Route,
	TaskScript,
	expectPlain,
	expectWait,
	retried,
} from './soakBatches';

// ---------------------------------------------------------------------------------------------
// Running and checking one batch
// ---------------------------------------------------------------------------------------------

const REQUEST_TIMEOUT_MS = 1000;

export function nodeParameters(config: BatchConfig): INodeParameters {
	return {
		waitForCompletion: config.mode === 'wait',
		fetchResultUrls: false,
		options: {
			attempts: config.attempts,
			timeoutSeconds: REQUEST_TIMEOUT_MS / 1000,
			maxInFlight: config.maxInFlight,
			firstIntervalSeconds: 1,
			maxIntervalSeconds: 1,
			maxWaitSeconds: config.maxWaitSeconds,
			notFoundAsPending: config.notFoundAsPending,
			unknownStatusAsPending: config.unknownStatusAsPending,
		},
	};
}

export function inputItems(batch: Batch): INodeExecutionData[] {
	return batch.tasks.map((task) => ({
		json: {
			task_id: task.taskId,
			n: task.index,
			...(task.carried
				? { check_count: task.carried.checkCount, pending_since: task.carried.pendingSince }
				: {}),
		},
	}));
}

/** What a batch and the whole soak count alike. */
export interface Tally {
	items: number;
	out: Record<Route, number>;
	lost: number;
	duplicated: number;
	misrouted: number;
	leaked: number;
	/** Paths or methods the stand-in saw that belong to no task of the batch. */
	strayRequests: number;
	requests: number;
}

export interface BatchReport extends Tally {
	number: number;
	config: BatchConfig;
	wallMs: number;
	/** The latest moment, from the start of the execution, at which an item got its last answer. */
	slowestMs: number;
	/** What timeouts x attempts + waits allow for this execution (see boundMs()). */
	boundMs: number;
	/** Human-readable descriptions of the first violations, with what is needed to replay them. */
	violations: string[];
	/** How often each kind of reply (see category()) was served. */
	served: Record<string, number>;
	/** The most requests the stand-in had open at once. */
	maxConcurrent: number;
}

/** Generous allowance for the engine and the event loop on a small, busy machine. */
const OVERHEAD_MS = 4000;
const PER_REQUEST_CPU_MS = 3;
const REPLY_SLACK_MS = 60;

/** Upper bound of one reply's time in a request slot. */
function serviceMs(scripted: ScriptedReply): number {
	if (scripted.reply.fault === 'hang' || scripted.reply.fault === 'stall')
		return REQUEST_TIMEOUT_MS + REPLY_SLACK_MS;
	return (scripted.reply.delayMs ?? 0) + REPLY_SLACK_MS;
}

/** Upper bound of the pause after a failed attempt (`tries` attempts made so far). */
function retryPauseMs(meaning: Meaning, tries: number): number {
	if (meaning.kind === 'rate-limited') return meaning.retryAfterMs ?? DEFAULT_COOL_DOWN_MS;
	const asked = meaning.kind === 'transient' ? meaning.retryAfterMs : undefined;
	// README: "an exponential pause with jitter (about 1 s, then 2 s…, at most 30 s)".
	return asked ?? Math.min(30_000, 1000 * 2 ** (tries - 1));
}

/**
 * The time one execution may take. Requests share `maxInFlight` slots in order of arrival, so by
 * the usual list-scheduling argument the execution ends within (all slot time) / slots + the
 * longest single item's chain of requests and pauses; plus Max Wait when waiting, plus overhead.
 */
export function boundMs(
	batch: Batch,
	served: ScriptedReply[][],
): { boundMs: number; chainMs: number[] } {
	const { mode, maxInFlight, maxWaitSeconds } = batch.config;
	let slotTotal = 0;
	// A 429 pauses every request of the execution (the shared cool-down): at worst one after another.
	let coolDownTotal = 0;
	const chainMs = served.map((replies) => {
		let chain = mode === 'wait' ? maxWaitSeconds * 1000 : 0;
		let tries = 0;
		for (const scripted of replies) {
			const service = serviceMs(scripted);
			slotTotal += service;
			if (scripted.meaning.kind === 'rate-limited')
				coolDownTotal += scripted.meaning.retryAfterMs ?? DEFAULT_COOL_DOWN_MS;
			chain += service;
			if (retried(scripted.meaning, mode)) {
				if (scripted.meaning.kind !== 'rate-limited') tries++;
				chain += retryPauseMs(scripted.meaning, tries);
			} else {
				tries = 0;
				// While waiting, a 429 pauses for its Retry-After or the interval; both are within Max Wait.
			}
		}
		return chain;
	});
	const requests = served.reduce((sum, replies) => sum + replies.length, 0);
	return {
		// The adaptive window may shrink to its start (4) on 503s and time-outs, never below.
		boundMs: Math.ceil(
			slotTotal / Math.min(maxInFlight, INITIAL_WINDOW) +
				coolDownTotal +
				Math.max(0, ...chainMs) +
				OVERHEAD_MS +
				PER_REQUEST_CPU_MS * requests,
		),
		chainMs,
	};
}

/** Every place under `value` where `secret` occurs: own properties (enumerable or not, so Error message, stack and cause too), Map and Set entries. */
export function findSecret(
	value: unknown,
	secret: string,
	path = '$',
	seen = new WeakSet<object>(),
	found: string[] = [],
): string[] {
	if (typeof value === 'string') {
		if (value.includes(secret)) found.push(path);
		return found;
	}
	if (typeof value !== 'object' || value === null) return found;
	if (seen.has(value)) return found;
	seen.add(value);
	if (ArrayBuffer.isView(value)) {
		if (Buffer.from(value.buffer, value.byteOffset, value.byteLength).includes(secret))
			found.push(path);
		return found;
	}
	if (value instanceof Map) {
		for (const [key, entry] of value) {
			findSecret(key, secret, `${path}<key>`, seen, found);
			findSecret(entry, secret, `${path}<${String(key)}>`, seen, found);
		}
	}
	if (value instanceof Set)
		for (const entry of value) findSecret(entry, secret, `${path}<entry>`, seen, found);
	for (const key of Object.getOwnPropertyNames(value)) {
		if (key.includes(secret)) found.push(`${path}.<key ${key.length}>`);
		const descriptor = Object.getOwnPropertyDescriptor(value, key);
		// Getters are not called: reading one could have effects. Data properties cover n8n's errors.
		if (descriptor && 'value' in descriptor)
			findSecret(descriptor.value, secret, `${path}.${key}`, seen, found);
	}
	return found;
}

/** Everything the run produced that a user or a log could see. */
export function secretPlaces(result: StatusRun, secret: string): string[] {
	const places = findSecret(
		{
			runData: result.run.runData,
			error: result.run.error,
			outputs: [result.success, result.pending, result.failure, result.errorOutput],
		},
		secret,
	);
	// The brief's own check, independent of the walk above.
	if (JSON.stringify(result.run.runData).includes(secret)) places.push('JSON.stringify(runData)');
	return places;
}

/**
 * Checks one finished execution against the scripts and what the stand-in served. Pure: the
 * tests feed it doctored results to prove each counter can go up.
 */
export function checkBatch(
	batch: Batch,
	result: StatusRun,
	requests: RecordedRequest[],
	timing: { startedAt: number; endedAt: number },
	extra: { maxConcurrent: number; leftOver?: string } = { maxConcurrent: 0 },
): BatchReport {
	const violations: string[] = [];
	const violate = (text: string) => {
		if (violations.length < 20)
			violations.push(
				`seed ${batch.seed} batch ${batch.number} (${describeConfig(batch.config)}): ${text}`,
			);
	};
	const N = batch.tasks.length;
	const outputs = [result.success, result.pending, result.failure, result.errorOutput];
	const out: Record<Route, number> = {
		success: outputs[0].length,
		pending: outputs[1].length,
		failure: outputs[2].length,
		error: outputs[3].length,
	};

	// ---- requests: only status paths of this batch's tasks, GET, with the key in the header only ----
	const byPath = new Map<string, RecordedRequest[]>();
	for (const task of batch.tasks) byPath.set(taskStatusPath(task.taskId), []);
	let strayRequests = 0;
	let leaked = 0;
	for (const request of requests) {
		const list = byPath.get(request.path);
		if (!list || request.method !== 'GET') {
			strayRequests++;
			violate(`stray request ${request.method} ${request.path}`);
		} else list.push(request);
		if (request.headers['x-api-key'] !== API_KEY)
			violate(`request ${request.method} ${request.path} without the credential's key`);
		if (request.path.includes(API_KEY) || request.body.includes(API_KEY)) {
			leaked++;
			violate(`the API key is in the path or body of ${request.method} ${request.path}`);
		}
	}

	// ---- the run itself ----
	if (result.run.error) violate(`the execution failed: ${result.run.error.message}`);
	if (result.run.cancelled) violate(`the execution was cancelled (it hung past its time limit)`);
	const places = secretPlaces(result, API_KEY);
	leaked += places.length;
	for (const place of places.slice(0, 5)) violate(`the API key appears at ${place}`);

	// ---- every item exactly once, paired with its input, in order ----
	const seen = new Map<number, { route: Route; item: INodeExecutionData }>();
	let duplicated = 0;
	let misrouted = 0;
	const bad = new Set<number>();
	outputs.forEach((items, output) => {
		let previous = -1;
		for (const item of items) {
			const paired = item.pairedItem as { item?: unknown } | undefined;
			const index = typeof paired?.item === 'number' ? paired.item : NaN;
			if (!Number.isInteger(index) || index < 0 || index >= N) {
				misrouted++;
				violate(`an item on output ${output} has pairedItem ${JSON.stringify(item.pairedItem)}`);
				continue;
			}
			if (index <= previous) {
				bad.add(index);
				violate(`output ${output} is out of input order at item ${index} (after ${previous})`);
			}
			previous = index;
			if (seen.has(index)) {
				duplicated++;
				violate(`item ${index} left more than once (also on output ${output})`);
				continue;
			}
			seen.set(index, { route: ROUTES[output], item });
		}
	});
	const lost = N - seen.size;

	// ---- every item where the rules say, with the fields the README promises ----
	const served: ScriptedReply[][] = [];
	const servedKinds: Record<string, number> = {};
	for (const task of batch.tasks) {
		const replay = `item ${task.index} (id ${JSON.stringify(task.taskId)})`;
		const got = byPath.get(taskStatusPath(task.taskId)) ?? [];
		const servedReplies = got.map((_, i) => task.replies[Math.min(i, task.replies.length - 1)]);
		served.push(servedReplies);
		for (const scripted of servedReplies)
			servedKinds[category(scripted.meaning)] = (servedKinds[category(scripted.meaning)] ?? 0) + 1;
		const script = task.replies.map((r) => r.meaning.label).join(', ');
		const wrong = (text: string) => {
			bad.add(task.index);
			violate(`${replay}: ${text}; script [${script}], served ${got.length}`);
		};

		// No retry sooner than the rules allow: Retry-After, else half the backoff step (README: "about 1 s,
		// then 2 s"); after a 429, the shared cool-down: Retry-After, else a second. 429s count no try.
		let tries = 0;
		for (let i = 0; i + 1 < got.length; i++) {
			const { meaning, reply } = servedReplies[i];
			if (!retried(meaning, batch.config.mode)) {
				tries = 0;
				continue;
			}
			if (meaning.kind !== 'rate-limited') tries++;
			const asked =
				meaning.kind === 'transient' || meaning.kind === 'rate-limited'
					? meaning.retryAfterMs
					: undefined;
			const pause =
				asked ?? (meaning.kind === 'rate-limited' ? DEFAULT_COOL_DOWN_MS : 500 * 2 ** (tries - 1));
			const answered =
				reply.fault === 'hang' || reply.fault === 'stall'
					? REQUEST_TIMEOUT_MS - 100
					: reply.fault === 'reset'
						? 0
						: (reply.delayMs ?? 0);
			// Measured where the node decides (its HTTP client's send times): the stand-in shares a busy
			// event loop and may notice a request late, which would shorten the gap it sees.
			const gap = sendTime(got[i + 1]) - sendTime(got[i]);
			if (gap < answered + pause - 50)
				wrong(
					`request ${i + 2} came ${gap} ms after a ${meaning.label}; the rules say at least ${answered + pause} ms`,
				);
		}

		let expected: Expected;
		if (batch.config.mode === 'plain') {
			const plain = expectPlain(task.replies, batch.config);
			expected = plain.expected;
			if (got.length !== plain.requests)
				wrong(`${got.length} requests, the rules allow exactly ${plain.requests}`);
		} else {
			const wait = expectWait(servedReplies, batch.config);
			if ('impossible' in wait) {
				wrong(wait.impossible);
				continue;
			}
			expected = wait;
		}

		const actual = seen.get(task.index);
		if (!actual) continue; // counted as lost
		if (actual.route !== expected.route) {
			wrong(
				`left on ${actual.route}, expected ${expected.route}${expected.status ? ` (${expected.status})` : ''}`,
			);
			continue;
		}
		const { item } = actual;
		if (expected.route === 'error') {
			checkErrorItem(item, task, expected, batch.config, wrong);
			continue;
		}
		checkResultItem(item, task, expected, batch, got, timing, wrong);
	}
	misrouted += bad.size;

	// ---- time: nothing hangs ----
	const { boundMs: bound, chainMs } = boundMs(batch, served);
	const wallMs = timing.endedAt - timing.startedAt;
	let slowestMs = 0;
	batch.tasks.forEach((task, i) => {
		const got = byPath.get(taskStatusPath(task.taskId)) ?? [];
		if (got.length === 0) return;
		const lastReply = served[i][served[i].length - 1];
		const answeredAt =
			got[got.length - 1].at -
			timing.startedAt +
			(lastReply.reply.fault === 'hang' || lastReply.reply.fault === 'stall'
				? REQUEST_TIMEOUT_MS
				: (lastReply.reply.delayMs ?? 0));
		slowestMs = Math.max(slowestMs, answeredAt);
		// One item's own span (first to last request) cannot exceed the whole execution's bound.
		const span = got[got.length - 1].at - got[0].at;
		if (span > bound)
			violate(`item ${task.index} was checked over ${span} ms, its chain allows ${chainMs[i]} ms`);
	});
	if (wallMs > bound)
		violate(`the execution took ${wallMs} ms, timeouts x attempts + waits allow ${bound} ms`);
	if (slowestMs > bound)
		violate(`an item got its last answer after ${slowestMs} ms, the bound is ${bound} ms`);
	// README: "at most this many requests at once".
	if (extra.maxConcurrent > batch.config.maxInFlight)
		violate(
			`${extra.maxConcurrent} requests were open at once, Max Requests in Flight is ${batch.config.maxInFlight}`,
		);
	// README: "no request or timer outlives it".
	if (extra.leftOver) violate(`left behind after the execution: ${extra.leftOver}`);

	return {
		number: batch.number,
		config: batch.config,
		items: N,
		out,
		lost,
		duplicated,
		misrouted,
		leaked,
		strayRequests,
		requests: requests.length,
		wallMs,
		slowestMs,
		boundMs: bound,
		violations,
		served: servedKinds,
		maxConcurrent: extra.maxConcurrent,
	};
}

function checkErrorItem(
	item: INodeExecutionData,
	task: TaskScript,
	expected: Expected,
	config: BatchConfig,
	wrong: (text: string) => void,
): void {
	const error = item.error as (Error & { description?: string | null }) | undefined;
	if (!error) return wrong('on the error output without an error');
	const keys = Object.keys(item.json);
	if (keys.length !== 1 || item.json.error !== error.message)
		wrong(`error item json is ${JSON.stringify(item.json)}`);
	const text = `${error.message} ${error.description ?? ''}`;
	if (expected.error === 'unreachable') {
		// README: "CAMB.AI could not answer GET … after N attempts (last: …)", naming the request.
		const attempts = new RegExp(
			`could not answer GET /audio-separation/\\S+ after ${config.attempts} attempts \\(last: `,
		);
		if (!attempts.test(error.message))
			wrong(
				`error "${error.message}", expected "could not answer GET … after ${config.attempts} attempts (last: …)"`,
			);
		if (
			!(error.description ?? '').includes(
				`GET ${taskStatusPath(task.taskId)} ${config.attempts} times`,
			)
		) {
			wrong(`the error does not say what was tried for this item: ${text}`);
		}
	} else if (expected.error === 'refused') {
		// Not retried, and the error says which request got which answer.
		if (
			!error.message.includes(`GET ${taskStatusPath(task.taskId)} with HTTP ${expected.httpStatus}`)
		) {
			wrong(
				`error "${error.message}", expected "CAMB.AI answered GET ${taskStatusPath(task.taskId)} with HTTP ${expected.httpStatus}"`,
			);
		}
	} else if (
		!/is not a task status/.test(error.message) ||
		!error.message.includes(`item ${task.index} `)
	) {
		wrong(`error "${error.message}", expected "... for item ${task.index} is not a task status"`);
	}
}

function checkResultItem(
	item: INodeExecutionData,
	task: TaskScript,
	expected: Expected,
	batch: Batch,
	got: RecordedRequest[],
	timing: { startedAt: number },
	wrong: (text: string) => void,
): void {
	const { json } = item;
	if (item.error) wrong(`a ${expected.route} item carries an error: ${item.error.message}`);
	if (json.task_id !== task.taskId || json.n !== task.index)
		wrong(
			`carries task_id ${JSON.stringify(json.task_id)} / n ${String(json.n)}: another item's data`,
		);
	if (json.status !== expected.status)
		wrong(`status ${JSON.stringify(json.status)}, expected ${expected.status}`);
	if (json.run_id !== expected.runId)
		wrong(`run_id ${JSON.stringify(json.run_id)}, expected ${String(expected.runId)}`);
	const checkCount = (task.carried?.checkCount ?? 0) + expected.checks;
	if (json.check_count !== checkCount)
		wrong(`check_count ${String(json.check_count)}, expected ${checkCount}`);
	if (typeof json.checked_at !== 'string' || Number.isNaN(Date.parse(json.checked_at)))
		wrong(`checked_at ${String(json.checked_at)}`);
	const since = json.pending_since;
	if (task.carried) {
		if (since !== task.carried.pendingSince)
			wrong(`pending_since ${String(since)}, carried ${task.carried.pendingSince}`);
	} else if (
		expected.sawPending
			? typeof since !== 'string' || Number.isNaN(Date.parse(since))
			: since !== null
	) {
		wrong(
			`pending_since ${JSON.stringify(since)}, but the task was ${expected.sawPending ? '' : 'never '}seen pending`,
		);
	}
	if (expected.route === 'failure') {
		if (json.reason !== expected.reason)
			wrong(`reason ${String(json.reason)}, expected ${expected.reason}`);
		if (json.retryable !== expected.retryable)
			wrong(`retryable ${String(json.retryable)}, expected ${String(expected.retryable)}`);
		if (typeof json.message !== 'string' || !json.message) wrong('a failure without a message');
	} else {
		for (const key of ['reason', 'message', 'retryable', 'error'])
			if (key in json) wrong(`a ${expected.route} item has "${key}"`);
	}
	if (expected.route === 'pending') {
		// Intervals of 1 s ±10%, or a Retry-After of at most 1 s: rounded up, 1 or 2 s.
		const next = json.next_check_in_seconds;
		if (typeof next !== 'number' || !Number.isInteger(next) || next < 1 || next > 2)
			wrong(`next_check_in_seconds ${String(next)}`);
		// Waiting: a task left pending only once Max Wait is over.
		if (
			batch.config.mode === 'wait' &&
			got.length > 0 &&
			got[got.length - 1].at < timing.startedAt + batch.config.maxWaitSeconds * 1000 - 50
		) {
			wrong(
				`left pending ${got[got.length - 1].at - timing.startedAt} ms into a ${batch.config.maxWaitSeconds} s wait`,
			);
		}
	} else if ('next_check_in_seconds' in json)
		wrong(`a ${expected.route} item has next_check_in_seconds`);
}

export function describeConfig(config: BatchConfig): string {
	return [
		config.mode === 'wait' ? `wait ${config.maxWaitSeconds}s` : 'plain',
		`inFlight ${config.maxInFlight}`,
		`attempts ${config.attempts}`,
		config.notFoundAsPending ? '404=pending' : '',
		config.unknownStatusAsPending ? 'unknown=pending' : '',
	]
		.filter(Boolean)
		.join(', ');
}

/** A harness time limit no healthy execution reaches: if it does, the run is cancelled and counted as hung. */
function executionLimitMs(batch: Batch): number {
	const { mode, attempts, maxInFlight, maxWaitSeconds } = batch.config;
	const checksPerItem = mode === 'wait' ? Math.ceil((maxWaitSeconds * 1000) / 900) + 2 : 1;
	const slot =
		(batch.tasks.length * checksPerItem * attempts * (REQUEST_TIMEOUT_MS + REPLY_SLACK_MS)) /
		maxInFlight;
	return Math.ceil(Math.min(600_000, 30_000 + slot + maxWaitSeconds * 1000 + attempts * 4000));
}

export async function runBatch(camb: StandIn, batch: Batch): Promise<BatchReport> {
	camb.reset();
	for (const task of batch.tasks) camb.task(task.taskId, ...task.replies.map((r) => r.reply));
	const before = resources();
	const startedAt = Date.now();
	const result = await runStatusNode(camb.baseUrl, inputItems(batch), {
		parameters: nodeParameters(batch.config),
		onError: 'continueErrorOutput',
		timeoutMs: executionLimitMs(batch),
	});
	const endedAt = Date.now();
	const requests = [...camb.requests];
	const maxConcurrent = camb.maxConcurrent;
	const leftOver = await leftOverResources(before);
	camb.reset();
	return checkBatch(batch, result, requests, { startedAt, endedAt }, { maxConcurrent, leftOver });
}

type Resources = Record<string, number>;

export function resources(): Resources {
	const counts: Resources = {};
	for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
	return counts;
}

/** Timers and sockets beyond those open before the execution, once closing sockets had time to close (up to 2 s). */
export async function leftOverResources(before: Resources): Promise<string | undefined> {
	const extra = () => {
		const now = resources();
		return ['Timeout', 'TCPSocketWrap', 'TCPWrap']
			.filter((name) => (now[name] ?? 0) > (before[name] ?? 0))
			.map((name) => `${(now[name] ?? 0) - (before[name] ?? 0)} ${name}`)
			.join(', ');
	};
	for (let waited = 0; waited < 2000; waited += 50) {
		if (!extra()) return undefined;
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
	return extra() || undefined;
}
