/**
 * Finds an item's audio file and describes it for the upload: name, type, size, and how to
 * open it afresh for each attempt (a stream from n8n's binary data store, or bytes in memory).
 * Nothing is read or sent here; a missing, empty or unsupported file becomes the item's error.
 */
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { BINARY_ENCODING } from 'n8n-workflow';

import { badAudioFile, noBinary, type CambError } from '../shared/errors';
import type { AudioUpload } from '../shared/transport/cambApi';
import { isGenericType, mimeTypeOf } from '../shared/audioTypes';
import { checkAudioFile, type FileChecks } from './audioFile';

export async function inputFile(
	ctx: IExecuteFunctions,
	item: INodeExecutionData,
	itemIndex: number,
	property: string,
	checks: FileChecks,
): Promise<AudioUpload | CambError> {
	const binary = item.binary?.[property];
	if (!binary) return noBinary(itemIndex, property, Object.keys(item.binary ?? {}));
	const size = await sizeOf(ctx, binary);
	const checked = checkAudioFile(
		{ fileName: binary.fileName, mimeType: binary.mimeType, size },
		checks,
	);
	if (!checked.ok) return badAudioFile(itemIndex, property, checked.problem);
	const format = checked.value;
	const { id } = binary;
	return {
		fileName: binary.fileName ?? `audio.${format ?? 'bin'}`,
		mimeType: isGenericType(binary.mimeType) ? mimeTypeOf(format) : (binary.mimeType as string),
		size,
		open: async () =>
			id !== undefined
				? await ctx.helpers.getBinaryStream(id)
				: Buffer.from(binary.data, BINARY_ENCODING),
	};
}

/**
 * Bytes: from the binary data store's record, else counted (the upload announces its length, so
 * CAMB.AI knows when the file is whole), or the decoded length of data held in memory.
 */
async function sizeOf(ctx: IExecuteFunctions, binary: IBinaryData): Promise<number> {
	if (binary.id === undefined) return Buffer.byteLength(binary.data, BINARY_ENCODING);
	try {
		const { fileSize } = await ctx.helpers.getBinaryMetadata(binary.id);
		if (Number.isSafeInteger(fileSize)) return fileSize;
	} catch {
		// Some stores keep no metadata record: the file is counted instead.
	}
	let bytes = 0;
	for await (const chunk of await ctx.helpers.getBinaryStream(binary.id))
		bytes += (chunk as Buffer).length;
	return bytes;
}
