/**
 * Audio file types, the one table of them: the formats CAMB.AI documents and the MIME types they
 * travel under, the types of the stems it sends back, and the types that say nothing about the
 * content (where the file name's extension decides).
 */

/** CAMB.AI's documented formats, each with its usual MIME type first. */
export const CAMB_FORMATS: Record<string, string[]> = {
	aac: ['audio/aac', 'audio/x-aac', 'audio/aacp'],
	flac: ['audio/flac', 'audio/x-flac'],
	mp3: ['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg-3'],
	wav: ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'],
};
export const CAMB_FORMAT_NAMES = 'AAC, FLAC, MP3 or WAV';

/** Extensions a stem link may end in beyond CAMB.AI's input formats, with their MIME types. */
const OTHER_AUDIO: Record<string, string> = { m4a: 'audio/mp4', ogg: 'audio/ogg' };

/** A type that says only "bytes", or nothing. */
const GENERIC_TYPE = 'application/octet-stream';
const GENERIC_TYPES = new Set(['', GENERIC_TYPE, 'binary/octet-stream']);

export function isGenericType(mimeType: string | undefined): boolean {
	return GENERIC_TYPES.has(mediaType(mimeType));
}

/** The media type alone, lower-cased: "audio/x-flac; charset=binary" is "audio/x-flac". */
export function mediaType(mimeType: string | undefined): string {
	return (mimeType ?? '').split(';')[0].trim().toLowerCase();
}

/** The usual MIME type for a file extension ("flac", "mp3", …); the generic type when unknown. */
export function mimeTypeOf(extension: string | undefined): string {
	if (extension === undefined) return GENERIC_TYPE;
	return CAMB_FORMATS[extension]?.[0] ?? OTHER_AUDIO[extension] ?? GENERIC_TYPE;
}
