/**
 * Tool mode's parameters and settings: what n8n shows and fills in for the tool variant
 * (cambSeparationStatusTool) versus the canvas node, with n8n-workflow's own parameter logic.
 */
import {
	NodeHelpers,
	type IExecuteFunctions,
	type INode,
	type INodeParameters,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { CambSeparationStatus } from '../../nodes/CambSeparationStatus/CambSeparationStatus.node';
import { TOOL_DESCRIPTION, TOOL_TASK_ID } from '../../nodes/CambSeparationStatus/description';
import { adaptForTool, isToolMode } from '../../nodes/CambSeparationStatus/toolMode';

const canvas = new CambSeparationStatus().description;
// n8n's loader names the tool variant after the node plus "Tool"; '@tool' tests exactly that.
const tool: INodeTypeDescription = { ...canvas, name: `${canvas.name}Tool` };

/** The parameters n8n stores and runs with (defaults filled in, hidden ones dropped), as Workflow does on load. */
function resolved(
	description: INodeTypeDescription,
	parameters: INodeParameters = {},
): INodeParameters | null {
	const node = {
		name: 'n',
		type: description.name,
		typeVersion: 1,
		parameters,
	} as unknown as INode;
	return NodeHelpers.getNodeParameters(
		description.properties,
		parameters,
		true,
		false,
		node,
		description,
	);
}

describe('parameters', () => {
	it('on the canvas: exactly the parameters and defaults the node always had', () => {
		expect(resolved(canvas)).toEqual({
			taskId: '={{ $json.task_id }}',
			waitForCompletion: false,
			fetchResultUrls: true,
			downloadStems: false,
			options: {},
		});
	});

	it('as a tool: the model fills Task ID, a description for the model, links off, no waiting, no stems', () => {
		expect(resolved(tool)).toEqual({
			taskId: TOOL_TASK_ID,
			toolDescription: TOOL_DESCRIPTION,
			fetchResultUrls: false,
			options: {},
		});
		expect(
			resolved(tool, { waitForCompletion: true, downloadStems: true, fetchResultUrls: true }),
		).toEqual({
			taskId: TOOL_TASK_ID,
			toolDescription: TOOL_DESCRIPTION,
			fetchResultUrls: true,
			options: {},
		});
	});

	it("the tool's Task ID is one $fromAI call with a key n8n accepts", () => {
		expect(TOOL_TASK_ID).toMatch(/^=\{\{ \$fromAI\('task_id', '[^']+', 'string'\) \}\}$/);
	});
});

describe('settings', () => {
	const settings = {
		follow: { wait: true, maxChecks: 3 },
		fetchResultUrls: true,
		downloadStems: true,
		attempts: 2,
	};
	const ctx = (type: string, fetchResultUrls?: boolean) =>
		({
			getNode: () => ({ type }),
			getNodeParameter: (name: string, _index: number, fallback: unknown) =>
				name === 'fetchResultUrls' && fetchResultUrls !== undefined ? fetchResultUrls : fallback,
		}) as unknown as IExecuteFunctions;

	it('tool mode is the node type ending in "Tool", as n8n derives it', () => {
		expect(isToolMode(ctx('n8n-nodes-camb-separation.cambSeparationStatusTool'))).toBe(true);
		expect(isToolMode(ctx('n8n-nodes-camb-separation.cambSeparationStatus'))).toBe(false);
		expect(isToolMode(ctx('CUSTOM.cambSeparationStatus'))).toBe(false);
	});

	it('on the canvas the settings pass unchanged', () => {
		expect(adaptForTool(ctx('CUSTOM.cambSeparationStatus'), settings)).toBe(settings);
	});

	it('as a tool: never waits or downloads, whatever the stored parameters say; links only when switched on', () => {
		const type = 'CUSTOM.cambSeparationStatusTool';
		expect(adaptForTool(ctx(type), settings)).toEqual({
			follow: { wait: false, maxChecks: 3 },
			fetchResultUrls: false,
			downloadStems: false,
			attempts: 2,
		});
		expect(adaptForTool(ctx(type, true), settings)).toMatchObject({
			fetchResultUrls: true,
			downloadStems: false,
			follow: { wait: false },
		});
	});
});
