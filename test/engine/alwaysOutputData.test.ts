/**
 * n8n's "Always Output Data" on Camb Separation Status, in the real n8n engine: n8n adds an empty
 * item to the first output, Success, whenever that output is empty, even when other items left
 * on Pending or Failure. The node cannot stop that; it says so in the output pane (an execution
 * hint) exactly when it happens, and nowhere else.
 */
import { ALWAYS_OUTPUT_DATA_NOTICE } from '../../nodes/CambSeparationStatus/outputItems';
import { API_KEY, NODE_NAME, ids, runStatusNode } from '../fixtures/cambWorkflow';
import { startStandIn, type StandIn } from '../stand-in/cambStandIn';

let camb: StandIn;
beforeAll(async () => {
	camb = await startStandIn({ apiKey: API_KEY });
});
afterEach(() => camb.reset());
afterAll(async () => camb.close());

const check = (alwaysOutputData: boolean) =>
	runStatusNode(camb.baseUrl, [{ task_id: 'p' }, { task_id: 'e' }], {
		alwaysOutputData,
		parameters: { fetchResultUrls: false },
	});
const hintsOf = (run: Awaited<ReturnType<typeof check>>['run']) =>
	(run.runData.resultData.runData[NODE_NAME]?.[0]?.hints ?? []).map((hint) => hint.message);

beforeEach(() => {
	camb.task('p', { json: { status: 'PENDING', run_id: null } });
	camb.task('e', { json: { status: 'ERROR', exception_reason: 'PROCESSING_ERROR' } });
});

it('on, nothing finished: n8n puts an empty item on Success, and the node says why', async () => {
	const result = await check(true);
	expect(result.success.map((item) => item.json)).toEqual([{}]);
	expect(ids(result.pending)).toEqual(['p']);
	expect(ids(result.failure)).toEqual(['e']);
	expect(hintsOf(result.run)).toEqual([ALWAYS_OUTPUT_DATA_NOTICE]);
});

it('on, a task finished: Success holds it alone, no notice', async () => {
	camb.task('p', { json: { status: 'SUCCESS', run_id: 5 } });
	const result = await check(true);
	expect(ids(result.success)).toEqual(['p']);
	expect(hintsOf(result.run)).toEqual([]);
});

it('off (the default): Success stays empty, no notice', async () => {
	const result = await check(false);
	expect(result.success).toEqual([]);
	expect(ids(result.pending)).toEqual(['p']);
	expect(hintsOf(result.run)).toEqual([]);
});
