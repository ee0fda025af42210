/**
 * Camb Separation Status, as n8n loads it: its name, icon, three outputs (Success, Pending,
 * Failure), credential and parameters (description.ts); the run is checkItems.ts, or toolMode.ts
 * when an AI Agent calls it as a tool.
 */
import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { asNodeWork } from '../shared/errors';
import { checkItems } from './checkItems';
import { properties } from './description';
import { checkAsTool, isToolMode } from './toolMode';

export class CambSeparationStatus implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Camb Separation Status',
		name: 'cambSeparationStatus',
		icon: { light: 'file:camb.svg', dark: 'file:camb.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: 'Route by separation status',
		description:
			'Check CAMB.AI audio separation tasks and route each item to Success, Pending or Failure',
		defaults: { name: 'Camb Separation Status' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		// Order matters: workflows connect to output 0 (Success), 1 (Pending) and 2 (Failure).
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Success', 'Pending', 'Failure'],
		credentials: [{ name: 'cambAiApi', required: true }],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await asNodeWork(this.getNode(), async () =>
			isToolMode(this) ? await checkAsTool(this, checkItems) : await checkItems(this),
		);
	}
}
