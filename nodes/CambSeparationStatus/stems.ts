/**
 * Downloads the two separated stems of a finished task into n8n's binary data store, as a
 * stream: with n8n's filesystem binary mode the file goes to disk without being held in memory.
 */
import type { IBinaryKeyData, IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { isGenericType, mediaType, mimeTypeOf } from '../shared/audioTypes';
import { replaceControlCharacters } from '../shared/json';
import type { CambClient } from '../shared/transport';
import type { ResultUrls } from '../shared/transport/cambApi';

export interface StemProperties {
	foreground: string;
	background: string;
}

export async function downloadStems(
	ctx: IExecuteFunctions,
	client: CambClient,
	itemIndex: number,
	urls: ResultUrls,
	properties: StemProperties,
): Promise<IBinaryKeyData> {
	const [foreground, background] = await Promise.all(
		[urls.foreground_audio_url, urls.background_audio_url].map(
			async (url, index) =>
				await client.download(itemIndex, url, async (body, headers) => {
					const fileName = stemFileName(url, index === 0 ? 'foreground' : 'background');
					return await ctx.helpers.prepareBinaryData(
						body,
						fileName,
						stemMimeType(headers, fileName),
					);
				}),
		),
	);
	return { [properties.foreground]: foreground, [properties.background]: background };
}

/** The last path segment of the link (CAMB's look like ".../fg_audio.flac"), else a generic name. */
export function stemFileName(url: string, stem: string): string {
	const segment = new URL(url).pathname.split('/').pop() ?? '';
	let name: string;
	try {
		name = decodeURIComponent(segment);
	} catch {
		name = segment;
	}
	name = replaceControlCharacters(name, '_').replace(/[\\/]/g, '_');
	return name && name !== '.' && name !== '..' ? name : `${stem}.flac`;
}

/** The storage host's Content-Type, unless it only says "bytes"; then the file extension decides. */
export function stemMimeType(headers: IDataObject, fileName: string): string {
	const header = Object.entries(headers).find(
		([name]) => name.toLowerCase() === 'content-type',
	)?.[1];
	const type = typeof header === 'string' ? mediaType(header) : '';
	if (!isGenericType(type)) return type;
	return mimeTypeOf(fileName.split('.').pop()?.toLowerCase());
}
