/**
 * The node whose stem downloads `npm run bench:stems` measures, behind one small interface:
 * `camb`, the Camb Separation Status node with Download Stems on (it checks the task, fetches the
 * result URLs from the CAMB stand-in and streams both stems into n8n's binary data store).
 * Another node is one more StemNodeUnderTest in NODES_UNDER_TEST, picked with `--node <name>`;
 * nothing else in the benchmark changes.
 */
import type { IBinaryData } from 'n8n-workflow';

import type { HarnessTypes, HarnessWorkflow, WorkflowRun } from '../engine/harness';
import { cambTypes, NODE_NAME, statusNode } from '../fixtures/cambWorkflow';

/**
 * The one input item of every measured run. The benchmark has scripted both stand-ins so that
 * all of these agree: CAMB answers `GET /audio-separation/{task_id}` with SUCCESS and `run_id`,
 * and `GET /audio-separation-result/{run_id}` with the two URLs, which the storage stand-in
 * serves (`stemBytes` each, content-type audio/flac). A node may start from any of them.
 */
export interface StemBenchInput {
	task_id: string;
	run_id: number;
	foreground_audio_url: string;
	background_audio_url: string;
}

/** Where CAMB is and how to authenticate (only needed by a node that asks CAMB for the URLs). */
export interface StemBenchHosts {
	cambBaseUrl: string;
	cambApiKey: string;
}

interface StemNodeUnderTest {
	/** Shown in the report. */
	label: string;
	/** The node types, credentials and workflow of a run; the run starts at `startNode` with one StemBenchInput item. */
	setup(hosts: StemBenchHosts): {
		types: HarnessTypes;
		workflow: HarnessWorkflow;
		startNode: string;
	};
	/** The stored stems of a finished run (both of them; order does not matter). */
	stems(run: WorkflowRun): IBinaryData[];
}

// ---- the real node ---------------------------------------------------------------------------

/** The package's node, Download Stems on, everything else at its defaults; stems come out on Success. */
const CAMB_SEPARATION_STATUS: StemNodeUnderTest = {
	label: 'Camb Separation Status, Download Stems on (status -> result URLs -> stems)',
	setup: (hosts) => ({
		types: cambTypes(hosts.cambBaseUrl, hosts.cambApiKey),
		workflow: {
			id: 'stem-bench',
			name: 'Stem download benchmark',
			nodes: [statusNode({ downloadStems: true })],
			connections: {},
		},
		startNode: NODE_NAME,
	}),
	stems: (run) =>
		(run.outputs(NODE_NAME)[0] ?? []).flatMap((item) => Object.values(item.binary ?? {})),
};

/** `--node <name>` picks one of these. */
export const NODES_UNDER_TEST: Record<string, StemNodeUnderTest> = {
	camb: CAMB_SEPARATION_STATUS,
};
