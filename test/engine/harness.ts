/**
 * In-process workflow harness: runs real workflows through n8n-core's `WorkflowExecute`.
 *
 * Everything n8n decides about a run (routing items to outputs, pairedItem, onError /
 * continueOnFail / retryOnFail, the error output, cancellation) is done by n8n-core itself; this
 * file only provides the pieces n8n's server would normally provide: node types, credentials,
 * lifecycle hooks and the additional data object.
 *
 * Usage (jest): import { runWorkflow } from './harness'; importing it from a test file registers
 * an afterAll(disposeHarness) for that file, so no --forceExit and no leftover temp folder.
 *
 * Binary data: `options.binaryDataMode` picks n8n's 'default' mode (content inline, base64, in
 * the item) or its 'filesystem' mode (content in files under `binaryDataStoragePath`, the item
 * holds an `id`), configured on n8n-core's own BinaryDataService as n8n's server does.
 */
// Must stay the first import: sets N8N_USER_FOLDER (a temp dir) before n8n-core is loaded.
import { harnessUserFolder, removeHarnessUserFolder } from './userFolder';

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { Container } from '@n8n/di';
import {
	BinaryDataConfig,
	BinaryDataService,
	ExecutionLifecycleHooks,
	ExternalSecretsProxy,
	WorkflowExecute,
} from 'n8n-core';
// Not re-exported from n8n-core's index; needed to stop its 60 s cleanup interval (see below).
import { SSHClientsManager } from 'n8n-core/dist/execution-engine/ssh-clients-manager';
import {
	BINARY_ENCODING,
	ICredentialsHelper,
	ManualExecutionCancelledError,
	NodeHelpers,
	TimeoutExecutionCancelledError,
	Workflow,
	WorkflowOperationError,
	createRunExecutionData,
	deepCopy,
} from 'n8n-workflow';
import type {
	ExecutionError,
	IBinaryData,
	ICredentialDataDecryptedObject,
	ICredentialType,
	ICredentials,
	ICredentialsExpressionResolveValues,
	IDataObject,
	IExecuteData,
	IHttpRequestHelper,
	IHttpRequestOptions,
	INode,
	INodeCredentialsDetails,
	INodeExecutionData,
	INodeParameters,
	INodeProperties,
	INodeType,
	INodeTypes,
	IRequestOptionsSimplified,
	IRun,
	IRunExecutionData,
	ITaskData,
	IConnections,
	IVersionedNodeType,
	IWorkflowBase,
	IWorkflowExecuteAdditionalData,
	IWorkflowSettings,
	WorkflowExecuteMode,
} from 'n8n-workflow';

export { harnessUserFolder };

/** n8n's binary data modes the harness can run in; see RunWorkflowOptions.binaryDataMode. */
export type HarnessBinaryDataMode = 'default' | 'filesystem';

/** Where 'filesystem' mode stores binary data (n8n's own default place: `<N8N_USER_FOLDER>/.n8n/binaryData`). */
export const binaryDataStoragePath = join(harnessUserFolder, '.n8n', 'binaryData');

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export interface HarnessTypes {
	/** Keyed by the node type name used in the workflow JSON, e.g. 'CUSTOM.cambSeparationStatus'. */
	nodeTypes: Record<string, INodeType | IVersionedNodeType>;
	/** Keyed by credential type name, e.g. 'cambAiApi'. */
	credentialTypes: Record<string, ICredentialType>;
	/** Decrypted data per credential type name, e.g. { cambAiApi: { apiKey: 'k', baseUrl: '...' } }. */
	credentials: Record<string, Record<string, unknown>>;
}

export interface WorkflowRun {
	/** The whole run data. */
	runData: IRunExecutionData;
	/** data.resultData.error */
	error?: ExecutionError;
	/** Items per main output of the named node's first run (output index -> items, [] when none). */
	outputs(nodeName: string): INodeExecutionData[][];
	/** The named node's run error, if any. */
	nodeError(nodeName: string): ExecutionError | undefined;

	// ---- extras ----
	/** The IRun n8n-core returned (status, finished, startedAt, stoppedAt, ...). */
	run: IRun;
	/** n8n's execution status: 'success' | 'error' | 'canceled' | ... */
	status: IRun['status'];
	/** All task data of the named node (one entry per run of that node), [] if it never ran. */
	tasks(nodeName: string): ITaskData[];
	/** Names of nodes in the order n8n started them (from the nodeExecuteBefore hook). */
	executedNodes: string[];
	/** True when the run was cancelled by `options.timeoutMs`. */
	timedOut: boolean;
	/** True when the run was cancelled by `options.signal` or `options.timeoutMs`. */
	cancelled: boolean;
	/**
	 * True when a cancelled run's node did not return within `cancelGraceMs`: the harness gave up
	 * waiting and `runData` is n8n's snapshot taken at cancellation (the node is still running).
	 */
	abandoned: boolean;
	/** The credential data as it was at the end of the run (preAuthentication may update it). */
	credentials: Record<string, Record<string, unknown>>;
	/** How often nodes read a credential (n8n: a database read and a decryption each time). */
	credentialReads: number;
	/** The execution id nodes saw (additionalData.executionId), e.g. 'harness-3'; part of stored binary file paths. */
	executionId: string;
	/** The binary data mode the run used. */
	binaryDataMode: HarnessBinaryDataMode;
	/**
	 * Deletes the files this run stored in 'filesystem' mode (n8n does the same when it prunes an
	 * execution); a no-op otherwise. disposeHarness() deletes everything anyway; this is for
	 * programs that run many big-file workflows in one process.
	 */
	deleteBinaryData(): void;
}

export interface RunWorkflowOptions {
	/** Aborting it cancels the execution the way n8n's "Stop execution" does. */
	signal?: AbortSignal;
	/** Cancels the execution after this many ms (n8n's execution timeout). Default 60 000. */
	timeoutMs?: number;
	/**
	 * After cancelling, how long to wait for the running node to return before giving up on it
	 * (the result then has `abandoned: true`). Default 2 000.
	 */
	cancelGraceMs?: number;
	/** Execution mode the nodes see via this.getMode(). Default 'manual'. */
	mode?: WorkflowExecuteMode;
	/**
	 * Where this.helpers.prepareBinaryData() / setBinaryDataBuffer() put binary content:
	 * - 'default' (default): n8n's in-memory mode; a stream is read to its end into a buffer and
	 *   the item's binary holds the whole content as base64 in `data`.
	 * - 'filesystem': n8n's filesystem mode (N8N_DEFAULT_BINARY_DATA_MODE=filesystem); a stream is
	 *   written to a file under `binaryDataStoragePath` as it arrives, and the item's binary holds
	 *   an `id` ('filesystem-v2:workflows/<workflow id>/executions/<execution id>/binary_data/<uuid>')
	 *   with `data` set to just the mode name.
	 * n8n-core has one BinaryDataService per process, so the mode is process-wide: runs that
	 * overlap in time must use the same mode (runWorkflow rejects otherwise).
	 */
	binaryDataMode?: HarnessBinaryDataMode;
}

export interface HarnessWorkflow {
	nodes: INode[];
	connections: IConnections;
	/** Workflow settings; executionOrder defaults to 'v1' (what new n8n workflows use). */
	settings?: IWorkflowSettings;
	staticData?: IDataObject;
	id?: string;
	name?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_CANCEL_GRACE_MS = 2_000;

let disposed = false;
let executionCounter = 0;

/**
 * Run a workflow whose first node is seeded with `input` items (no trigger needed).
 *
 * The start node is put on n8n's node execution stack with `start.items` as its input 0, exactly
 * as n8n does after a trigger fired; n8n-core then runs it and everything downstream.
 * Rejects only for set-up problems (unknown start node, workflow issues such as a missing
 * required parameter or unknown node type); node errors are reported in the result.
 */
export async function runWorkflow(
	workflow: HarnessWorkflow,
	start: { nodeName: string; items: INodeExecutionData[] },
	types: HarnessTypes,
	options: RunWorkflowOptions = {},
): Promise<WorkflowRun> {
	if (disposed) throw new Error('engine harness: runWorkflow() called after disposeHarness()');
	prepareProcessServices();
	const binaryDataMode = options.binaryDataMode ?? 'default';
	const leaveBinaryDataMode = enterBinaryDataMode(binaryDataMode);
	try {
		await binaryDataReady();
		return await execute(workflow, start, types, options, binaryDataMode);
	} finally {
		leaveBinaryDataMode();
	}
}

async function execute(
	workflow: HarnessWorkflow,
	start: { nodeName: string; items: INodeExecutionData[] },
	types: HarnessTypes,
	options: RunWorkflowOptions,
	binaryDataMode: HarnessBinaryDataMode,
): Promise<WorkflowRun> {
	const mode = options.mode ?? 'manual';
	const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
	const cancelGraceMs = options.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS;
	const executionId = `harness-${++executionCounter}`;

	const nodeTypes = new HarnessNodeTypes(types.nodeTypes);
	const settings: IWorkflowSettings = { executionOrder: 'v1', ...workflow.settings };
	const wf = new Workflow({
		id: workflow.id ?? 'harness-workflow',
		name: workflow.name ?? 'Harness workflow',
		nodes: deepCopy(workflow.nodes),
		connections: deepCopy(workflow.connections),
		active: false,
		nodeTypes,
		settings,
		staticData: workflow.staticData ? deepCopy(workflow.staticData) : {},
	});

	const startNode = wf.getNode(start.nodeName);
	if (!startNode) {
		throw new Error(
			`engine harness: start node "${start.nodeName}" is not in the workflow (nodes: ${Object.keys(wf.nodes).join(', ')})`,
		);
	}

	// A per-run copy, so preAuthentication/updateCredentials never touch the caller's object.
	const credentialStore = deepCopy(types.credentials) as Record<string, Record<string, unknown>>;
	const credentialsHelper = new HarnessCredentialsHelper(types.credentialTypes, credentialStore);

	const workflowData: IWorkflowBase = {
		id: wf.id,
		name: wf.name ?? 'Harness workflow',
		active: false,
		isArchived: false,
		activeVersionId: null,
		createdAt: new Date(),
		updatedAt: new Date(),
		nodes: workflow.nodes,
		connections: workflow.connections,
		settings,
	};

	const hooks = new ExecutionLifecycleHooks(mode, executionId, workflowData);
	const executedNodes: string[] = [];
	let snapshotAtCancel: IRun | undefined;
	hooks.addHandler('nodeExecuteBefore', (nodeName) => {
		executedNodes.push(nodeName);
	});
	hooks.addHandler('workflowExecuteAfter', (fullRunData) => {
		// On cancellation n8n-core calls this hook from its onCancel handler with the run data as it
		// was at that moment; it is the fallback result if the running node never returns.
		if (fullRunData.status === 'canceled') snapshotAtCancel ??= fullRunData;
	});

	const additionalData = createAdditionalData({
		credentialsHelper,
		hooks,
		executionId,
		executionTimeoutTimestamp: Date.now() + timeoutMs,
	});

	const runExecutionData = createRunExecutionData({
		executionData: {
			nodeExecutionStack: [
				{
					node: startNode,
					data: { main: [deepCopy(start.items)] },
					source: null,
				},
			],
		},
	});

	const workflowExecute = new WorkflowExecute(additionalData, mode, runExecutionData);

	let execution: ReturnType<WorkflowExecute['processRunExecutionData']>;
	try {
		execution = workflowExecute.processRunExecutionData(wf);
	} catch (error) {
		if (error instanceof WorkflowOperationError) {
			const issues = workflowExecute.checkReadyForExecution(wf, { startNode: start.nodeName });
			if (issues) {
				throw new Error(`engine harness: ${error.message} Issues: ${JSON.stringify(issues)}`);
			}
		}
		throw error;
	}

	// ---- cancellation: signal, timeout, and a grace period for nodes that ignore it ----
	let cancelled = false;
	let timedOut = false;
	let graceTimer: NodeJS.Timeout | undefined;
	let abandon: (() => void) | undefined;
	const abandoned = new Promise<'abandoned'>((resolve) => {
		abandon = () => resolve('abandoned');
	});

	const cancel = (byTimeout: boolean) => {
		if (cancelled) return;
		cancelled = true;
		timedOut = byTimeout;
		// Same as n8n's ActiveExecutions.stopExecution(): PCancelable.cancel() aborts the
		// execution's AbortController (this.getExecutionCancelSignal() in nodes) and the engine
		// stops before the next node. `timedOut` selects TimeoutExecutionCancelledError.
		if (byTimeout) workflowExecute.timedOut = true;
		execution.cancel();
		graceTimer = setTimeout(() => abandon?.(), cancelGraceMs);
	};

	const onAbort = () => cancel(false);
	const timeoutTimer = setTimeout(() => cancel(true), timeoutMs);
	if (options.signal?.aborted) onAbort();
	else options.signal?.addEventListener('abort', onAbort, { once: true });

	let run: IRun;
	let wasAbandoned = false;
	try {
		const outcome = await Promise.race([execution, abandoned]);
		if (outcome === 'abandoned') {
			wasAbandoned = true;
			// A copy: the engine keeps mutating its run data if the node ever returns.
			const snapshot = snapshotAtCancel ?? workflowExecute.getFullRunData(new Date());
			run = { ...snapshot, data: deepCopy(snapshot.data) };
			const error = timedOut
				? new TimeoutExecutionCancelledError(executionId)
				: new ManualExecutionCancelledError(executionId);
			run.data.resultData.error ??= error;
			run.status = 'canceled';
		} else {
			run = outcome;
		}
	} finally {
		clearTimeout(timeoutTimer);
		if (graceTimer) clearTimeout(graceTimer);
		options.signal?.removeEventListener('abort', onAbort);
		unrefLongLivedTimers();
	}

	return createWorkflowRun(run, {
		executedNodes,
		// The engine also stops by itself between nodes once executionTimeoutTimestamp has passed.
		timedOut: timedOut || workflowExecute.timedOut,
		cancelled: cancelled || run.status === 'canceled',
		abandoned: wasAbandoned,
		credentials: credentialStore,
		credentialReads: credentialsHelper.reads,
		executionId,
		binaryDataMode,
		deleteBinaryData: () => {
			// The folder n8n-core's FileSystemManager uses for this execution (FileLocation.ofExecution).
			const folder = join(binaryDataStoragePath, 'workflows', wf.id, 'executions', executionId);
			rmSync(folder, { recursive: true, force: true });
		},
	});
}

/**
 * Call from `afterAll`: stops n8n-core's process-wide services the engine started and deletes the
 * temporary N8N_USER_FOLDER. Further runWorkflow() calls in this test file throw.
 */
export function disposeHarness(): void {
	if (disposed) return;
	disposed = true;
	if (sshClientsManager) sshClientsManager.onShutdown();
	sshClientsManager = undefined;
	removeHarnessUserFolder();
}

// Under jest, clean up automatically at the end of the importing test file. (A process 'exit'
// listener cannot do it there: jest hands each test file a sandboxed `process` object that never
// emits 'exit'.) disposeHarness() is idempotent, so calling it from your own afterAll is fine too.
declare const afterAll: ((fn: () => void) => void) | undefined;
if (typeof afterAll === 'function') {
	try {
		afterAll(disposeHarness);
	} catch {
		// Imported lazily from inside a test: hooks cannot be added then; call disposeHarness().
	}
}

// ---------------------------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------------------------

function createWorkflowRun(
	run: IRun,
	extras: Pick<
		WorkflowRun,
		| 'executedNodes'
		| 'timedOut'
		| 'cancelled'
		| 'abandoned'
		| 'credentials'
		| 'credentialReads'
		| 'executionId'
		| 'binaryDataMode'
		| 'deleteBinaryData'
	>,
): WorkflowRun {
	const runData = run.data;
	const tasks = (nodeName: string): ITaskData[] => runData.resultData.runData[nodeName] ?? [];
	return {
		runData,
		error: runData.resultData.error,
		run,
		status: run.status,
		...extras,
		tasks,
		outputs(nodeName) {
			const main = tasks(nodeName)[0]?.data?.main ?? [];
			return main.map((items) => items ?? []);
		},
		nodeError(nodeName) {
			return tasks(nodeName)[0]?.error;
		},
	};
}

// ---------------------------------------------------------------------------------------------
// Binary data
// ---------------------------------------------------------------------------------------------

/**
 * The mode BinaryDataService is configured for, and the init() that configures it. n8n's server
 * does the same at start-up: BinaryDataConfig (filled from N8N_DEFAULT_BINARY_DATA_MODE,
 * N8N_AVAILABLE_BINARY_DATA_MODES, N8N_BINARY_DATA_STORAGE_PATH) and then
 * `await Container.get(BinaryDataService).init()`. In n8n-core 1.122 init() takes no arguments:
 * it reads the config object from the DI container.
 */
let binaryDataConfigured: { mode: HarnessBinaryDataMode; ready: Promise<void> } | undefined;
let binaryDataRuns = 0;

/** Claims the process-wide binary data mode for one run; returns the release function. */
function enterBinaryDataMode(mode: HarnessBinaryDataMode): () => void {
	if (mode !== 'default' && mode !== 'filesystem') {
		throw new Error(
			`engine harness: unknown binaryDataMode "${String(mode)}" (use 'default' or 'filesystem')`,
		);
	}
	if (binaryDataRuns > 0 && binaryDataConfigured && binaryDataConfigured.mode !== mode) {
		throw new Error(
			`engine harness: binaryDataMode '${mode}' requested while a run in '${binaryDataConfigured.mode}' mode is ` +
				'still going; n8n-core has one BinaryDataService per process, so overlapping runs must share a mode',
		);
	}
	if (binaryDataConfigured?.mode !== mode) {
		const configured = { mode, ready: configureBinaryData(mode) };
		binaryDataConfigured = configured;
		// A failed init is reported by this run and retried by the next one.
		configured.ready.catch(() => {
			if (binaryDataConfigured === configured) binaryDataConfigured = undefined;
		});
	}
	binaryDataRuns += 1;
	let left = false;
	return () => {
		if (left) return;
		left = true;
		binaryDataRuns -= 1;
	};
}

async function binaryDataReady(): Promise<void> {
	await binaryDataConfigured?.ready;
}

async function configureBinaryData(mode: HarnessBinaryDataMode): Promise<void> {
	const config = Container.get(BinaryDataConfig);
	config.mode = mode;
	// The filesystem manager stays registered in 'default' mode too (as in n8n, where
	// 'filesystem' is always available), so ids stored by an earlier run can still be read.
	config.availableModes = ['filesystem'];
	config.localStoragePath = binaryDataStoragePath;
	// init(): mode 'filesystem' becomes 'filesystem-v2' (the workflows/<id>/executions/<id>/... layout);
	// without a manager for the mode ('default'), store() keeps the content inline as base64.
	await Container.get(BinaryDataService).init();
}

/**
 * The file behind a binary stored in 'filesystem' mode (throws for inline binary data), via
 * n8n-core's BinaryDataService.getPath().
 */
export function binaryDataFilePath(binary: IBinaryData): string {
	if (!binary.id)
		throw new Error('engine harness: this binary data is inline (default mode); it has no file');
	return Container.get(BinaryDataService).getPath(binary.id);
}

/** The content of a binary in either mode, as a stream (n8n-core's getBinaryStream does the same). */
export async function binaryDataStream(binary: IBinaryData): Promise<Readable> {
	if (binary.id) return await Container.get(BinaryDataService).getAsStream(binary.id);
	return Readable.from([Buffer.from(binary.data, BINARY_ENCODING)]);
}

// ---------------------------------------------------------------------------------------------
// Node types
// ---------------------------------------------------------------------------------------------

class HarnessNodeTypes implements INodeTypes {
	constructor(private readonly types: Record<string, INodeType | IVersionedNodeType>) {}

	getByName(nodeType: string): INodeType | IVersionedNodeType {
		const type = this.types[nodeType];
		if (!type) {
			throw new Error(
				`engine harness: unknown node type "${nodeType}" (known: ${Object.keys(this.types).join(', ') || 'none'})`,
			);
		}
		return type;
	}

	getByNameAndVersion(nodeType: string, version?: number): INodeType {
		return NodeHelpers.getVersionedNodeType(this.getByName(nodeType), version);
	}

	getKnownTypes(): IDataObject {
		return Object.fromEntries(
			Object.keys(this.types).map((name) => [name, { className: name, sourcePath: '' }]),
		);
	}
}

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

function notSupported(what: string): never {
	throw new Error(`engine harness: ${what} is not supported in harness`);
}

/**
 * The part of n8n's server-side CredentialsHelper that node execution needs, over plain
 * in-memory data: no encryption, no database.
 */
class HarnessCredentialsHelper extends ICredentialsHelper {
	/** Calls of getDecrypted: where n8n reads and decrypts a credential from its database. */
	reads = 0;

	constructor(
		private readonly credentialTypes: Record<string, ICredentialType>,
		private readonly store: Record<string, Record<string, unknown>>,
	) {
		super();
	}

	private getType(typeName: string): ICredentialType {
		const type = this.credentialTypes[typeName];
		if (!type) {
			throw new Error(
				`engine harness: unknown credential type "${typeName}" (known: ${Object.keys(this.credentialTypes).join(', ') || 'none'})`,
			);
		}
		return type;
	}

	getParentTypes(name: string): string[] {
		const parents = this.credentialTypes[name]?.extends ?? [];
		return parents.flatMap((parent) => [parent, ...this.getParentTypes(parent)]);
	}

	/**
	 * Applies the credential type's `authenticate`, like n8n's CredentialsHelper.authenticate:
	 * a function is called; a generic one has every key and value of `properties.headers/qs/body/
	 * auth` resolved as an n8n expression with `$credentials` set to the credential data, and
	 * written into the request options.
	 */
	async authenticate(
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		incomingRequestOptions: IHttpRequestOptions | IRequestOptionsSimplified,
		workflow: Workflow,
		node: INode,
	): Promise<IHttpRequestOptions> {
		const requestOptions = incomingRequestOptions as IHttpRequestOptions;
		const { authenticate } = this.getType(typeName);
		if (!authenticate) return requestOptions;

		if (typeof authenticate === 'function') {
			return await authenticate(credentials, requestOptions);
		}

		if (authenticate.type === 'generic') {
			if (requestOptions.headers === undefined) requestOptions.headers = {};
			const target = requestOptions as unknown as Record<string, Record<string, unknown>>;
			for (const [outerKey, outerValue] of Object.entries(authenticate.properties)) {
				if (!outerValue || typeof outerValue !== 'object') continue;
				for (const [key, value] of Object.entries(outerValue as Record<string, unknown>)) {
					const resolvedKey = resolveCredentialExpression(key, credentials, workflow, node);
					const resolvedValue = resolveCredentialExpression(value, credentials, workflow, node);
					if (!target[outerKey]) target[outerKey] = {};
					target[outerKey][String(resolvedKey)] = resolvedValue;
				}
			}
		}
		return requestOptions;
	}

	/**
	 * Like n8n: if the type has `preAuthentication` and a hidden `expirable` property, and that
	 * property is empty (or the caller reports the credentials as expired, i.e. after a 401), call
	 * it and persist the result in this run's credential store.
	 */
	async preAuthentication(
		helpers: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		node: INode,
		credentialsExpired: boolean,
	): Promise<ICredentialDataDecryptedObject | undefined> {
		const type = this.getType(typeName);
		const expirable = type.properties.find(
			(p) => p.type === 'hidden' && p.typeOptions?.expirable === true,
		);
		if (!expirable || typeof type.preAuthentication !== 'function') return undefined;
		if (credentials[expirable.name] !== '' && !credentialsExpired) return undefined;

		const output = await type.preAuthentication.call(helpers, credentials);
		if (output[expirable.name] === undefined) return undefined;
		const updated = Object.assign(credentials, output);
		const reference = node.credentials?.[typeName];
		if (reference) await this.updateCredentials(reference, typeName, updated);
		return updated;
	}

	async getCredentials(
		_nodeCredentials: INodeCredentialsDetails,
		_type: string,
	): Promise<ICredentials> {
		return notSupported('getCredentials (encrypted credentials)');
	}

	/**
	 * Returns a copy of `types.credentials[type]` with the credential type's property defaults
	 * applied (parents first), and `=`-expressions in it resolved like n8n does.
	 */
	async getDecrypted(
		additionalData: IWorkflowExecuteAdditionalData,
		_nodeCredentials: INodeCredentialsDetails,
		type: string,
		mode: WorkflowExecuteMode,
		_executeData?: IExecuteData,
		raw?: boolean,
		expressionResolveValues?: ICredentialsExpressionResolveValues,
	): Promise<ICredentialDataDecryptedObject> {
		this.reads += 1;
		const stored = this.store[type];
		if (stored === undefined) {
			throw new Error(
				`engine harness: no credential data for type "${type}" in types.credentials (have: ${Object.keys(this.store).join(', ') || 'none'})`,
			);
		}
		const data = deepCopy(stored) as ICredentialDataDecryptedObject;
		if (raw) return data;

		for (const property of this.getCredentialsProperties(type)) {
			if (data[property.name] === undefined && property.default !== undefined) {
				data[property.name] = deepCopy(property.default) as ICredentialDataDecryptedObject[string];
			}
		}

		const hasExpressions = Object.values(data).some(
			(v) => typeof v === 'string' && v.startsWith('='),
		);
		if (!hasExpressions || !expressionResolveValues) return data;

		const { workflow, runExecutionData, runIndex, itemIndex, node, connectionInputData } =
			expressionResolveValues;
		return workflow.expression.getParameterValue(
			data as INodeParameters,
			runExecutionData,
			runIndex,
			itemIndex,
			node.name,
			connectionInputData,
			mode,
			{ $vars: additionalData.variables },
			undefined,
			false,
			data,
		) as ICredentialDataDecryptedObject;
	}

	async updateCredentials(
		_nodeCredentials: INodeCredentialsDetails,
		type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		this.store[type] = deepCopy(data) as Record<string, unknown>;
	}

	async updateCredentialsOauthTokenData(
		nodeCredentials: INodeCredentialsDetails,
		type: string,
		data: ICredentialDataDecryptedObject,
	): Promise<void> {
		await this.updateCredentials(nodeCredentials, type, data);
	}

	/** The type's properties, parents' first (as n8n merges `extends`). */
	getCredentialsProperties(type: string): INodeProperties[] {
		const credentialType = this.getType(type);
		const parents = (credentialType.extends ?? []).flatMap((parent) =>
			this.getCredentialsProperties(parent),
		);
		const own = new Set(credentialType.properties.map((p) => p.name));
		return [...parents.filter((p) => !own.has(p.name)), ...credentialType.properties];
	}
}

/**
 * Resolves a value of a generic `authenticate` block the way n8n does: strings starting with '='
 * go through the workflow's real expression engine with `$credentials` available, anything else
 * is returned unchanged.
 */
function resolveCredentialExpression(
	value: unknown,
	credentials: ICredentialDataDecryptedObject,
	workflow: Workflow,
	node: INode,
): unknown {
	if (typeof value !== 'string' || !value.startsWith('=')) return value;
	const resolved = workflow.expression.getSimpleParameterValue(
		node,
		value,
		'internal',
		{ $credentials: credentials },
		undefined,
		'',
	);
	if (resolved === undefined || resolved === null || resolved === '') return '';
	return typeof resolved === 'object' ? JSON.stringify(resolved) : String(resolved);
}

// ---------------------------------------------------------------------------------------------
// Additional data and process-wide services
// ---------------------------------------------------------------------------------------------

function createAdditionalData(parts: {
	credentialsHelper: ICredentialsHelper;
	hooks: ExecutionLifecycleHooks;
	executionId: string;
	executionTimeoutTimestamp: number;
}): IWorkflowExecuteAdditionalData {
	const base = 'http://localhost:5678';
	return {
		credentialsHelper: parts.credentialsHelper,
		hooks: parts.hooks,
		executionId: parts.executionId,
		executionTimeoutTimestamp: parts.executionTimeoutTimestamp,
		currentNodeExecutionIndex: 0,
		restApiUrl: `${base}/rest`,
		instanceBaseUrl: `${base}/`,
		formWaitingBaseUrl: `${base}/form-waiting`,
		webhookBaseUrl: `${base}/webhook`,
		webhookWaitingBaseUrl: `${base}/webhook-waiting`,
		webhookTestBaseUrl: `${base}/webhook-test`,
		variables: {},
		externalSecretsProxy: Container.get(ExternalSecretsProxy),
		executeWorkflow: async () => notSupported('executeWorkflow (sub-workflows)'),
		getRunExecutionData: async () => undefined,
		logAiEvent: () => {},
		startRunnerTask: async () => notSupported('startRunnerTask (Code node task runners)'),
	};
}

let sshClientsManager: SSHClientsManager | undefined;

/**
 * n8n-core builds the DI singleton SSHClientsManager for every ExecuteContext (its helpers include
 * getSSHClient) and its constructor starts a 60 s `setInterval` that is never unref'd: that alone
 * keeps a jest worker alive. We create it up front and unref that timer (and shut it down in
 * disposeHarness), so jest can exit without --forceExit.
 */
function prepareProcessServices(): void {
	if (!sshClientsManager) sshClientsManager = Container.get(SSHClientsManager);
	unrefLongLivedTimers();
}

function unrefLongLivedTimers(): void {
	const timer = (sshClientsManager as unknown as { cleanupTimer?: NodeJS.Timeout } | undefined)
		?.cleanupTimer;
	timer?.unref?.();
}
