/**
 * The set-up every hostile-input test shares (hostile*.test.ts): the CAMB stand-in (with the API
 * key) and a second one playing the storage host, the network guard, the node run against them,
 * and the checks after every test that the API key showed up nowhere and nothing left the machine.
 * Call useHostileRig() once at the top of a test file; camb, storage and guard are set from then on.
 */
import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { API_KEY, NODE_NAME, runStatusNode, type StatusRun } from '../fixtures/cambWorkflow';
import { startStandIn, type StandIn } from '../stand-in/cambStandIn';
import { guardNetwork, type NetGuard } from './netGuard';
import { findSecret, secretPlaces } from './soak';

export let camb: StandIn;
export let storage: StandIn;
export let guard: NetGuard;
/** Every run of the current test, for the secret checks in afterEach. */
const runs: StatusRun[] = [];

type RunOptions = Parameters<typeof runStatusNode>[2];
export async function run(
	baseUrl: string,
	items: Array<IDataObject | INodeExecutionData>,
	options: RunOptions = {},
): Promise<StatusRun> {
	const result = await runStatusNode(baseUrl, items, options);
	runs.push(result);
	return result;
}
export const check = (items: Array<IDataObject | INodeExecutionData>, options: RunOptions = {}) =>
	run(camb.baseUrl, items, {
		onError: 'continueErrorOutput',
		...options,
		parameters: { fetchResultUrls: false, ...options.parameters },
	});

/** The only requests the key may travel with: CAMB's status and result endpoints, below the base path. */
export const KEYED_PATH = /^(\/v1)?(\/apis)?\/audio-separation(\/[^/?#]+|-results|-result\/\d+)$/;

/** Registers the stand-ins, the guard and the after-each checks for the calling test file. */
export function useHostileRig(): void {
	beforeAll(async () => {
		guard = guardNetwork();
		camb = await startStandIn({ apiKey: API_KEY });
		storage = await startStandIn();
	});
	afterAll(async () => {
		await camb.close();
		await storage.close();
		guard.restore();
	});
	afterEach(() => {
		try {
			// The key is in no output item, error (message, description, cause, stack...) or run data.
			for (const result of runs) {
				expect(secretPlaces(result, API_KEY)).toEqual([]);
				expect(findSecret(result.run.nodeError(NODE_NAME), API_KEY)).toEqual([]);
			}
			// It went to the CAMB stand-in's API paths only, never to the storage host, never in a path or body.
			for (const request of camb.requests) {
				if (request.headers['x-api-key'] === API_KEY)
					expect([request.path, KEYED_PATH.test(request.path)]).toEqual([request.path, true]);
				expect(request.path + request.body).not.toContain(API_KEY);
			}
			expect(JSON.stringify(storage.requests)).not.toContain(API_KEY);
			// Nothing reached anything but the two stand-ins; the only other connections tried were TLS (https://) ones.
			for (const attempt of guard.connects) {
				expect([
					attempt,
					attempt.blocked ? attempt.tls : [camb.port, storage.port].includes(attempt.port),
				]).toEqual([attempt, true]);
			}
		} finally {
			runs.length = 0;
			guard.connects.length = 0;
			camb.reset();
			storage.reset();
		}
	});
}
