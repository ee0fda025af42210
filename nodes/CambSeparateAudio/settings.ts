/**
 * Reads what one execution needs from the node's parameters: the settings (options with their
 * defaults), and per item the binary property that holds its file and CAMB.AI's optional form
 * fields (both may be expressions).
 */
import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { readOptions } from '../shared/options';
import type { RequestOptions } from '../shared/transport';
import type { FileChecks } from './audioFile';
import { DEFAULTS } from './description';

export interface Settings extends RequestOptions, FileChecks {
	keepBinary: boolean;
	retryIfMayHaveArrived: boolean;
}

export function readSettings(ctx: IExecuteFunctions): Settings {
	const options = readOptions(ctx, DEFAULTS);
	return {
		attempts: options.number('attempts', 1, 'whole'),
		checkFormat: options.flag('checkFormat'),
		keepBinary: options.flag('keepBinary'),
		maxInFlight: options.number('maxInFlight', 1, 'whole'),
		retryIfMayHaveArrived: options.flag('retryIfMayHaveArrived'),
		timeoutSeconds: options.number('timeoutSeconds', 1, 'whole'),
	};
}

export function binaryProperty(ctx: IExecuteFunctions, index: number): string {
	const value = ctx.getNodeParameter('binaryPropertyName', index, 'data');
	return typeof value === 'string' && value.trim() ? value.trim() : 'data';
}

/** CAMB.AI's optional form fields, per item; empty ones are left out. */
export function projectFields(ctx: IExecuteFunctions, index: number): Record<string, string> {
	const extra = ctx.getNodeParameter('additionalFields', index, {}) as IDataObject;
	const fields: Record<string, string> = {};
	const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
	if (text(extra.projectName)) fields.project_name = text(extra.projectName);
	if (text(extra.projectDescription)) fields.project_description = text(extra.projectDescription);
	if (
		typeof extra.folderId === 'number' &&
		Number.isSafeInteger(extra.folderId) &&
		extra.folderId > 0
	)
		fields.folder_id = String(extra.folderId);
	return fields;
}
