/**
 * n8n Data Tables for the e2e tests (dataTable.e2e.test.ts): create one in a session's database,
 * point an example's Data Table nodes at it, run the examples on a live `n8n start`, and read the
 * table's rows back through the REST API.
 *
 * Both majors address a table in a workflow by its id (the Data Table node's `dataTableId`
 * resource locator; 2.x also takes `mode: "name"`, 1.x does not). n8n makes the id when the table
 * is created, so the examples ship a placeholder id and the test fills in the real one. A table
 * belongs to a project; workflows imported with `n8n import:workflow` belong to the owner's
 * personal project, which is where the table is created. There is no CLI command for tables, and
 * 1.x's Data Table node has no table operations: the table is created through the REST API the
 * editor uses (`POST /rest/projects/:projectId/data-tables`) after owner set-up.
 *
 * `n8n execute` cannot run a Data Table node in either major ("Attempted to use Data table node
 * but the module is disabled": only start, worker and webhook initialise n8n's modules), so the
 * examples run on `n8n start`: saved through the REST API and run from their Manual Trigger the way
 * the editor's "Execute workflow" button does (`POST /rest/workflows/:id/run`), the same in both
 * majors; the run data is read back from `GET /rest/executions/:id`.
 */
import { createRequire } from 'node:module';
import {
	N8nRest,
	nodeNamed,
	readRun,
	type Json,
	type N8nServer,
	type N8nSession,
	type RunReader,
} from './n8n';

export type DataTableColumnType = 'string' | 'number' | 'boolean' | 'date';

export interface DataTableColumn {
	name: string;
	type: DataTableColumnType;
}

/** What the shipped examples hold until a table is picked. */
export const TABLE_PLACEHOLDER = 'REPLACE-WITH-YOUR-DATA-TABLE-ID';

const OWNER = {
	email: 'owner@camb-e2e.invalid',
	firstName: 'Camb',
	lastName: 'Tester',
	password: 'Camb-e2e-owner-1',
};

/** Points every Data Table node of `workflow` at `tableId`; throws if one is not at the shipped placeholder. */
export function withDataTable(workflow: Json, tableId: string): Json {
	const nodes = (workflow.nodes as Json[]).filter(
		(node) => node.type === 'n8n-nodes-base.dataTable',
	);
	if (nodes.length === 0) throw new Error('the workflow has no Data Table node');
	for (const node of nodes) {
		const locator = node.parameters.dataTableId as Json;
		if (locator?.value !== TABLE_PLACEHOLDER)
			throw new Error(`"${node.name}" points at ${JSON.stringify(locator)}, not the placeholder`);
		node.parameters.dataTableId = { ...locator, value: tableId };
	}
	return workflow;
}

/** Sets options of the "Camb Separation Status" node (e.g. a smaller Max Checks for a test). */
export function withStatusOptions(workflow: Json, options: Json): Json {
	const node = nodeNamed(workflow, 'Camb Separation Status');
	node.parameters.options = { ...node.parameters.options, ...options };
	return workflow;
}

export interface EditorRun {
	/** n8n's status of the execution: success, error, ... */
	status: string;
	/** The run's error (message, description...), if it failed. */
	error?: Json;
	reader: RunReader;
	durationMs: number;
}

export interface DataTableServer {
	readonly server: N8nServer;
	readonly rest: N8nRest;
	readonly tableId: string;
	/** The ids of the workflows created, in the order given. */
	readonly workflowIds: string[];
	/** Every row (system columns id, createdAt, updatedAt included), ordered by id. */
	readRows(): Promise<Json[]>;
	/** Runs a saved workflow from its Manual Trigger as the editor's "Execute workflow" does, until it ends. */
	runFromManualTrigger(workflowId: string): Promise<EditorRun>;
}

/**
 * Starts `n8n start`, sets up the owner, creates a Data Table in the owner's personal project and
 * then, through the same REST API, saves `workflows(tableId)` (`POST /rest/workflows`).
 */
export async function startWithDataTable(
	session: N8nSession,
	table: { name: string; columns: DataTableColumn[] },
	workflows: (tableId: string) => Json[],
): Promise<DataTableServer> {
	const server = await session.startServer();
	const rest = new N8nRest(server.baseUrl);
	await rest.setUpOwner(OWNER);
	await rest.login(OWNER.email, OWNER.password);
	const projectId = ((await rest.data('GET', '/projects/personal')) as Json).id as string;
	const created = (await rest.data('POST', `/projects/${projectId}/data-tables`, table)) as Json;
	if (typeof created?.id !== 'string') throw new Error(`no table id in ${JSON.stringify(created)}`);
	const tableId = created.id;
	const workflowIds: string[] = [];
	for (const workflow of workflows(tableId))
		workflowIds.push(
			((await rest.data('POST', '/workflows', { ...workflow, active: false })) as Json).id,
		);
	// n8n keeps run data serialised with `flatted`: read it with the copy the n8n under test ships.
	const { parse } = createRequire(session.install.n8nScript)('flatted') as {
		parse: (text: string) => Json;
	};
	return {
		server,
		rest,
		tableId,
		workflowIds,
		async readRows() {
			const page = (await rest.data(
				'GET',
				`/projects/${projectId}/data-tables/${tableId}/rows?take=1000`,
			)) as Json;
			return (page.data as Json[]).sort((a, b) => Number(a.id) - Number(b.id));
		},
		async runFromManualTrigger(workflowId) {
			const started = Date.now();
			const workflow = (await rest.data('GET', `/workflows/${workflowId}`)) as Json;
			const manual = (workflow.nodes as Json[]).find(
				(node) => node.type === 'n8n-nodes-base.manualTrigger',
			);
			const { executionId } = (await rest.data('POST', `/workflows/${workflowId}/run`, {
				workflowData: workflow,
				triggerToStartFrom: { name: manual?.name },
			})) as Json;
			for (;;) {
				const execution = (await rest.data('GET', `/executions/${executionId}`)) as Json;
				if (execution && !['new', 'running'].includes(execution.status)) {
					const run = execution.data ? parse(execution.data as string) : undefined;
					// 1.x on SQLite writes an ended execution's status and its data in two updates:
					// wait until the data is there and has ended too.
					if (run?.resultData?.lastNodeExecuted !== undefined || run?.resultData?.error)
						return {
							status: execution.status,
							error: run.resultData.error,
							reader: readRun({ data: run }),
							durationMs: Date.now() - started,
						};
				}
				if (Date.now() - started > 120_000)
					throw new Error(`execution ${executionId} had not ended after 120 s`);
				await new Promise((resolve) => setTimeout(resolve, 200));
			}
		},
	};
}
