/**
 * The example workflows (examples/) as the e2e, queue and benchmark runs use them: loaded fresh,
 * with task ids, a poll task id or local files filled in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXAMPLES_DIR } from './n8nInstall';
import { Json } from './n8nRunResults';

// ---------------------------------------------------------------------------------------------
// Example workflows

/** A fresh copy of examples/<name>. */
export function loadExample(name: string): Json {
	return JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, name), 'utf8')) as Json;
}

export function nodeNamed(workflow: Json, name: string): Json {
	const node = (workflow.nodes as Json[]).find((candidate) => candidate.name === name);
	if (!node) throw new Error(`the workflow has no node "${name}"`);
	return node;
}

/** Sets the ids the "Task IDs" Code node of check-once-and-route.json emits (one item `{ task_id }` each). */
export function withTaskIds(workflow: Json, taskIds: string[]): Json {
	const node = nodeNamed(workflow, 'Task IDs');
	const line = /^const taskIds = \[.*\];$/m;
	if (!line.test(node.parameters.jsCode))
		throw new Error('the "Task IDs" Code node no longer has a `const taskIds = [...];` line');
	node.parameters.jsCode = node.parameters.jsCode.replace(
		line,
		`const taskIds = ${JSON.stringify(taskIds)};`,
	);
	return workflow;
}

/** Sets the task id in the "Task ID" Set node of poll-until-done.json. */
export function withPollTaskId(workflow: Json, taskId: string): Json {
	const [assignment] = nodeNamed(workflow, 'Task ID').parameters.assignments.assignments as Json[];
	if (assignment?.name !== 'task_id')
		throw new Error('the "Task ID" Set node no longer assigns task_id first');
	assignment.value = taskId;
	return workflow;
}

/** Where submit-wait-and-download-stems.json reads and writes as shipped: n8n 2.x's default file folder in n8n's Docker image. */
const SHIPPED_FILES_FOLDER = '/home/node/.n8n-files/';

/**
 * submit-wait-and-download-stems.json reading its audio from `folder`/`audioFile` and writing the
 * stems into `folder` (as shipped: a placeholder file under /home/node/.n8n-files). n8n must be
 * allowed to use `folder` (N8N_RESTRICT_FILE_ACCESS_TO: 2.x allows only ~/.n8n-files by default).
 * Throws if the shipped paths changed, so a rewrite can never silently miss one.
 */
export function withLocalFiles(
	workflow: Json,
	{ folder, audioFile }: { folder: string; audioFile: string },
): Json {
	const read = nodeNamed(workflow, 'Read audio file');
	if (!String(read.parameters.fileSelector).startsWith(`${SHIPPED_FILES_FOLDER}REPLACE-`))
		throw new Error(
			`"Read audio file" reads ${read.parameters.fileSelector}, not the shipped placeholder`,
		);
	read.parameters.fileSelector = path.join(folder, audioFile);
	for (const name of ['Write foreground stem', 'Write background stem']) {
		const write = nodeNamed(workflow, name);
		const shipped = `=${SHIPPED_FILES_FOLDER}`;
		if (!String(write.parameters.fileName).startsWith(shipped))
			throw new Error(`"${name}" writes ${write.parameters.fileName}, not under ${shipped}`);
		write.parameters.fileName = `=${path.join(folder, String(write.parameters.fileName).slice(shipped.length))}`;
	}
	return workflow;
}
