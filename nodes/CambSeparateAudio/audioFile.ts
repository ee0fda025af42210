/**
 * Decides, before anything is sent, whether an item's file is one CAMB.AI can separate: not
 * empty, and (unless the check is off) of a format CAMB.AI documents, by extension and MIME
 * type. Pure: no n8n, no HTTP; the caller reads the file's name, type and size.
 */
import {
	CAMB_FORMAT_NAMES,
	CAMB_FORMATS as FORMATS,
	isGenericType,
	mediaType,
} from '../shared/audioTypes';
import type { Validated } from '../shared/validate';

export interface AudioFile {
	fileName?: string;
	mimeType?: string;
	/** Bytes, when known. */
	size?: number;
}

export interface FileChecks {
	/** Off: any file goes, CAMB.AI decides (and reports a failure on the status). */
	checkFormat: boolean;
}

/** The file's format (e.g. "mp3") when known; a problem to report otherwise. */
export function checkAudioFile(file: AudioFile, checks: FileChecks): Validated<string | undefined> {
	if (file.size === 0) return { ok: false, problem: 'is empty (0 bytes)' };
	const extension = extensionOf(file.fileName);
	const type = mediaType(file.mimeType);
	const byExtension = extension !== undefined && extension in FORMATS ? extension : undefined;
	const byType = Object.keys(FORMATS).find((format) => FORMATS[format].includes(type));
	if (!checks.checkFormat) return { ok: true, value: byExtension ?? byType };

	const named = `"${file.fileName ?? '(no file name)'}" (${type || 'no MIME type'})`;
	const takes = `CAMB.AI takes ${CAMB_FORMAT_NAMES}`;
	if (extension !== undefined && !byExtension)
		return { ok: false, problem: `${named} has the extension .${extension}; ${takes}` };
	if (!isGenericType(type) && !byType)
		return { ok: false, problem: `${named} is of type ${type}; ${takes}` };
	if (byExtension && byType && byExtension !== byType)
		return {
			ok: false,
			problem: `${named} says .${byExtension} by its name but ${byType.toUpperCase()} by its type; CAMB.AI fails files whose content does not match the extension`,
		};
	const format = byExtension ?? byType;
	if (!format)
		return {
			ok: false,
			problem: `${named} has neither an extension nor a type to tell its format; ${takes}`,
		};
	return { ok: true, value: format };
}

/** The lower-cased extension after the last dot of the name, if it has one. */
function extensionOf(fileName: string | undefined): string | undefined {
	const match = /\.([^./\\]+)$/.exec(fileName ?? '');
	return match ? match[1].toLowerCase() : undefined;
}
