/**
 * What an n8n run gave the e2e runner (n8n.ts): the run JSON parsed out of `n8n execute`'s
 * stdout, read per node and per output, and the error when the process failed.
 */
import { ProcessResult } from './n8nProcesses';

// ---------------------------------------------------------------------------------------------
// Run output

export type Json = Record<string, any>;

export interface N8nItem {
	json: Json;
	binary?: Json;
	error?: Json;
	pairedItem?: unknown;
}

interface NodeRun {
	/** data.main: one array of items per output ([] for an output n8n left null). */
	outputs: N8nItem[][];
	error?: Json;
	executionStatus?: string;
	/** Epoch ms when this run of the node started, and how long it ran (ms), as n8n recorded them. */
	startTime?: number;
	executionTime?: number;
}

export interface RunResult extends ProcessResult, RunReader {
	workflowId: string;
	/** The parsed run (IRun): status, finished, data.resultData... */
	run: Json;
	/** 'success', 'error', ... as n8n reports it. */
	status: string;
	/** data.resultData.error: what stopped the execution, if anything did. */
	error?: Json;
	/** stdout and stderr, for assertion messages. */
	transcript(): string;
}

/**
 * The run's JSON in `n8n execute --rawOutput` stdout. 1.x prints it alone on success and after
 * "Execution was NOT successful... ====" on failure; 2.x prints log lines before it. It is
 * pretty-printed, so it starts with a line "{" and ends with a line "}".
 */
export function parseRunJson(stdout: string): Json | undefined {
	const lines = stdout.split(/\r?\n/);
	for (let start = 0; start < lines.length; start++) {
		if (lines[start] !== '{') continue;
		for (let end = start + 1; end < lines.length; end++) {
			if (lines[end] !== '}') continue;
			try {
				const parsed = JSON.parse(lines.slice(start, end + 1).join('\n')) as Json;
				if (parsed && typeof parsed === 'object' && parsed.data?.resultData) return parsed;
			} catch {
				// Not the whole object yet: look for a later closing line.
			}
		}
	}
	return undefined;
}

/** An n8n command that gave no usable result; `result` has what it printed. */
export class N8nProcessError extends Error {
	constructor(
		message: string,
		readonly result: ProcessResult,
	) {
		super(
			`${message}\n${tail(`$ ${result.command}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`)}`,
		);
		this.name = 'N8nProcessError';
	}
}

/** Per-node, per-output reading of a run (IRun / IExecution): from `n8n execute`, n8n's REST API or its database. */
export interface RunReader {
	/** Every run of one node, in order (a node inside a loop runs several times). */
	runsOf(nodeName: string): NodeRun[];
	/** The items on one output of one run of a node ([] when there were none). */
	items(nodeName: string, output?: number, runIndex?: number): N8nItem[];
	/** The JSON of those items. */
	json(nodeName: string, output?: number, runIndex?: number): Json[];
	/** The names of the nodes that ran. */
	nodesThatRan(): string[];
}

/** Reads `run.data.resultData.runData` (the same shape in every way n8n hands out a run). */
export function readRun(run: Json): RunReader {
	const runData = (run.data?.resultData?.runData ?? {}) as Record<string, Json[]>;
	const runsOf = (nodeName: string): NodeRun[] =>
		(runData[nodeName] ?? []).map((taskData) => ({
			outputs: ((taskData.data?.main ?? []) as Array<N8nItem[] | null>).map((items) => items ?? []),
			error: taskData.error,
			executionStatus: taskData.executionStatus,
			startTime: taskData.startTime,
			executionTime: taskData.executionTime,
		}));
	const items = (nodeName: string, output = 0, runIndex = 0): N8nItem[] =>
		runsOf(nodeName)[runIndex]?.outputs[output] ?? [];
	return {
		runsOf,
		items,
		json: (nodeName, output, runIndex) =>
			items(nodeName, output, runIndex).map((item) => item.json),
		nodesThatRan: () => Object.keys(runData),
	};
}

export function toRunResult(processResult: ProcessResult, workflowId: string): RunResult {
	const transcript = () =>
		`$ ${processResult.command}\n--- stdout ---\n${processResult.stdout}\n--- stderr ---\n${processResult.stderr}`;
	if (processResult.timedOut)
		throw new N8nProcessError('n8n execute did not finish in time and was killed', processResult);
	const run = parseRunJson(processResult.stdout);
	if (!run)
		throw new N8nProcessError(
			`no run JSON in the output of n8n execute (exit ${processResult.exitCode})`,
			processResult,
		);
	return {
		...processResult,
		...readRun(run),
		workflowId,
		run,
		status: run.status,
		error: run.data.resultData.error,
		transcript,
	};
}

/** Fails with n8n's whole output, so a broken run explains itself. */
export function expectRun(result: RunResult, status: 'success' | 'error', exitCode: number): void {
	if (result.status !== status || result.exitCode !== exitCode) {
		throw new Error(
			`expected n8n to report "${status}" and exit ${exitCode}, got "${result.status}" and exit ${result.exitCode}\n` +
				`error: ${JSON.stringify(result.error, null, 2)}\n${result.transcript().slice(-8000)}`,
		);
	}
}

export function tail(text: string, max = 6000): string {
	return text.length > max ? `…${text.slice(-max)}` : text;
}
