/**
 * What `npm run dev` loads into its n8n: the CAMB.AI API credential pointing at the demo's CAMB
 * stand-in, a demo workflow that feeds every demo task into the node, and the shipped examples,
 * with every link that would leave 127.0.0.1 pointed at the stand-ins (so Execute works offline
 * and the key goes nowhere else). Also scripts the few extra stand-in answers those examples need.
 */
import { API_KEY, STATUS_NODE_NAME } from '../fixtures/package';
import { DEMO_TASKS, type DemoCamb } from '../fixtures/demoScenario';
import type { Reply } from '../stand-in/cambStandIn';
import {
	loadExample,
	nodeNamed,
	withLocalFiles,
	withPollTaskId,
	type CredentialToImport,
	type Json,
} from '../e2e/n8n';

/** The credential every example refers to (by this id and name). */
export const DEV_CREDENTIAL = {
	id: 'cambAiAccount01',
	name: 'CAMB.AI account',
	type: 'cambAiApi',
} as const;

export const DEMO_WORKFLOW_NAME = 'CAMB.AI demo: tasks in every state (start here)';

/** Task ids only the examples use (the demo tasks are in demoScenario.ts). */
const POLLED_TASK = 'sep-polled';
const UPLOADED_TASK = 'sep-uploaded';
const PENDING: Reply = {
	json: { status: 'PENDING', run_id: null, exception_reason: null, message: null },
};

export function devCredential(demo: DemoCamb): CredentialToImport {
	return { ...DEV_CREDENTIAL, data: { apiKey: API_KEY, baseUrl: demo.camb.baseUrl } };
}

/** The file submit-wait-and-download-stems.json uploads in `npm run dev` (demoRecording(), in the dev files folder). */
export const DEV_AUDIO_FILE = 'interview.wav';

/**
 * The workflows to import, demo first. Scripts the stand-ins for the examples: poll-until-done's
 * task is pending twice, then done (later runs find it done at once: the stand-in repeats its last
 * answer); submit-wait-and-download-stems reads DEV_AUDIO_FILE from `filesFolder` (n8n must be
 * allowed it: N8N_RESTRICT_FILE_ACCESS_TO), CAMB answers the upload with a task that finishes after
 * two checks, and the stems are written into `filesFolder`.
 */
export function devWorkflows(demo: DemoCamb, filesFolder: string): Json[] {
	const [firstRun, secondRun] = DEMO_TASKS.flatMap((task) =>
		task.stems ? [task.stems.runId] : [],
	);
	demo.camb.task(POLLED_TASK, PENDING, PENDING, { json: { status: 'SUCCESS', run_id: firstRun } });
	demo.camb.on('POST', '/audio-separation', { json: { task_id: UPLOADED_TASK } });
	demo.camb.task(UPLOADED_TASK, PENDING, PENDING, {
		json: { status: 'SUCCESS', run_id: secondRun },
	});

	const workflows = [
		demoWorkflow(demo),
		loadExample('check-once-and-route.json'),
		withPollTaskId(loadExample('poll-until-done.json'), POLLED_TASK),
		withLocalFiles(loadExample('submit-wait-and-download-stems.json'), {
			folder: filesFolder,
			audioFile: DEV_AUDIO_FILE,
		}),
	];
	for (const workflow of workflows) expectDevCredential(workflow);
	return workflows;
}

/** check-once-and-route.json fed with every demo task (id and story), stems downloaded. */
function demoWorkflow(demo: DemoCamb): Json {
	const workflow = loadExample('check-once-and-route.json');
	workflow.name = DEMO_WORKFLOW_NAME;
	nodeNamed(workflow, 'Task IDs').parameters.jsCode = [
		'// The demo tasks of `npm run dev`: one in every state a CAMB.AI separation task can be in.',
		"// The CAMB stand-in on 127.0.0.1 answers for them; the credential 'CAMB.AI account' points there.",
		`const tasks = ${JSON.stringify(demo.items, null, 2)};`,
		'',
		'return tasks.map((task) => ({ json: task }));',
		'',
	].join('\n');
	nodeNamed(workflow, STATUS_NODE_NAME).parameters.downloadStems = true;
	return workflow;
}

/** Every node that takes the CAMB.AI credential must refer to the one imported, by id. */
function expectDevCredential(workflow: Json): void {
	for (const node of workflow.nodes as Json[]) {
		const reference = node.credentials?.cambAiApi as Json | undefined;
		if (
			reference &&
			(reference.id !== DEV_CREDENTIAL.id || reference.name !== DEV_CREDENTIAL.name)
		) {
			throw new Error(
				`"${workflow.name}" node "${node.name}" refers to credential ${JSON.stringify(reference)}, not ${DEV_CREDENTIAL.id}`,
			);
		}
	}
}
