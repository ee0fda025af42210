/** errors.ts: CambErrors need no node; toNodeError makes each the n8n error users see, and only once. */
import type { INode } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import {
	asNodeWork,
	badTaskId,
	CambError,
	keyRejected,
	notChecked,
	throwFirstError,
	toNodeError,
} from '../../nodes/shared/errors';

const node: INode = {
	id: 'n1',
	name: 'Camb Separation Status',
	type: 'n8n-nodes-camb-separation.cambSeparationStatus',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

describe('toNodeError', () => {
	it("an error with a server's answer becomes a NodeApiError with its message, description, HTTP code and item", () => {
		const error = toNodeError(node, keyRejected(2, 401, '{"detail":"bad key"}'));
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error).toMatchObject({
			message: 'CAMB.AI rejected the API key (HTTP 401)',
			httpCode: '401',
			context: { itemIndex: 2 },
			node,
		});
		expect(error.description).toMatch(/missing, wrong or revoked/);
	});

	it('an error about the input becomes a NodeOperationError naming the item', () => {
		const error = toNodeError(node, badTaskId(0, 'is empty'));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error).toMatchObject({
			message: 'The task ID of item 0 is empty',
			context: { itemIndex: 0 },
		});
		expect(error.description).toMatch(/task_id/);
	});

	it('an n8n error passes unchanged; anything else becomes a NodeOperationError on the item given', () => {
		const n8nError = new NodeOperationError(node, 'already an n8n error');
		expect(toNodeError(node, n8nError)).toBe(n8nError);
		const other = toNodeError(node, new Error('boom'), 4);
		expect(other).toBeInstanceOf(NodeOperationError);
		expect(other).toMatchObject({ message: 'boom', context: { itemIndex: 4 } });
	});
});

describe('throwFirstError', () => {
	it('throws the first real error by item order, not an item only left unchecked because of it', () => {
		const candidates = [
			'ok',
			notChecked(0, 'the run stopped'),
			new CambError('real', { itemIndex: 1 }),
		];
		expect(() => throwFirstError(node, candidates)).toThrow(
			expect.objectContaining({ message: 'real', context: { itemIndex: 1 } }),
		);
		expect(() => throwFirstError(node, ['ok', undefined])).not.toThrow();
	});
});

it('asNodeWork: what a node throws leaves as an n8n error of that node', async () => {
	await expect(
		asNodeWork(node, async () => {
			throw badTaskId(3, 'has a line break');
		}),
	).rejects.toBeInstanceOf(NodeOperationError);
	await expect(asNodeWork(node, async () => 'done')).resolves.toBe('done');
});
