/**
 * Camb Separate Audio, as n8n loads it: its name, icon, inputs, outputs, credential and
 * parameters (description.ts); the run itself is submitItems.ts.
 */
import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { asNodeWork } from '../shared/errors';
import { properties } from './description';
import { submitItems } from './submitItems';

export class CambSeparateAudio implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Camb Separate Audio',
		name: 'cambSeparateAudio',
		icon: { light: 'file:camb.svg', dark: 'file:camb.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ "Upload " + $parameter["binaryPropertyName"] }}',
		description:
			'Upload audio to CAMB.AI to separate voice from background; outputs the task_id to check',
		defaults: { name: 'Camb Separate Audio' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'cambAiApi', required: true }],
		properties,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await asNodeWork(this.getNode(), async () => await submitItems(this));
	}
}
