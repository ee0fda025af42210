/**
 * A multipart/form-data body built around a file that is never held whole: the text fields and
 * the file part's header go first, then the file as it streams from n8n's binary data store, then
 * the closing boundary, with a Content-Length. A streamed body tells its sender (upload.ts) each
 * time the connection takes a chunk and when it has taken the last byte, and ends only when the
 * sender says so: until then a failure of the body still tears the request down.
 */
import { randomBytes } from 'crypto';

import type { Readable } from './readAnswer';

export interface FilePart {
	/** The form field, e.g. "media_file". */
	field: string;
	fileName: string;
	mimeType: string;
	/** Bytes: announced as the body's Content-Length, so CAMB.AI knows when the file is whole. */
	size: number;
	/** The content, opened afresh for each attempt: a stream from the binary data store, or bytes in memory. */
	open(): Promise<Readable | Buffer>;
}

export interface MultipartBody {
	/** A Buffer when the file was in memory: handed to the connection in one piece. */
	body: Readable | Buffer;
	headers: { 'content-type': string; 'content-length': string };
}

/** What a streamed body tells its sender, and when it may end. */
export interface BodyProgress {
	/** The connection took a chunk. */
	taken(): void;
	/** The connection took the last byte: from now on CAMB.AI may have the whole file. */
	lastByteTaken(): void;
	/**
	 * The body ends (and with it the request's writing side) once this resolves; a rejection
	 * fails the body with that error, which tears the request down. Its bytes are all out by then:
	 * with a Content-Length, CAMB.AI answers without waiting for the end.
	 */
	end: Promise<void>;
}

export async function multipartBody(
	fields: Record<string, string>,
	file: FilePart,
	progress: BodyProgress,
): Promise<MultipartBody> {
	const boundary = `----CambSeparation${randomBytes(16).toString('hex')}`;
	const textParts = Object.entries(fields).map(
		([name, value]) =>
			`--${boundary}\r\nContent-Disposition: form-data; name="${quoted(name)}"\r\n\r\n${value}\r\n`,
	);
	const head = Buffer.from(
		`${textParts.join('')}--${boundary}\r\n` +
			`Content-Disposition: form-data; name="${quoted(file.field)}"; filename="${quoted(file.fileName)}"\r\n` +
			`Content-Type: ${file.mimeType.replace(/[\r\n]/g, '')}\r\n\r\n`,
		'utf8',
	);
	const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
	const headers = {
		'content-type': `multipart/form-data; boundary=${boundary}`,
		'content-length': String(head.length + file.size + tail.length),
	};
	const content = await file.open();
	if (Buffer.isBuffer(content)) return { body: Buffer.concat([head, content, tail]), headers };
	return { body: readableFrom(content, framed(head, content, tail, progress)), headers };
}

/** The most bytes handed to the connection at once (views of the file's chunks, not copies). */
const SLICE_BYTES = 64 * 1024;

/**
 * The body's chunks. A generator resumes after a `yield` only when its reader asks for more, so
 * each resumption means the chunk before it was taken.
 */
async function* framed(
	head: Buffer,
	content: Readable,
	tail: Buffer,
	progress: BodyProgress,
): AsyncGenerator<Buffer> {
	try {
		yield head;
		progress.taken();
		for await (const chunk of content) {
			const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
			// A store may hand the whole file over as one chunk (n8n's database mode does): in
			// slices, the connection's progress is seen as it goes, not once the file is all out.
			for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
				yield bytes.subarray(offset, offset + SLICE_BYTES);
				progress.taken();
			}
		}
	} finally {
		// An upload that breaks off must not leave the file open.
		content.destroy();
	}
	yield tail;
	progress.lastByteTaken();
	await progress.end;
}

/** Quoted the way browsers quote form field and file names: the quote and line breaks escaped. */
function quoted(name: string): string {
	return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

type ReadableClass = { from(source: AsyncIterable<Buffer>, options: object): Readable };

/**
 * A Readable over `chunks`. Community nodes may not import 'stream', so the class is taken from
 * the stream n8n handed over: every Node stream has Readable's prototype in its chain.
 */
function readableFrom(sample: Readable, chunks: AsyncIterable<Buffer>): Readable {
	let prototype: unknown = Object.getPrototypeOf(sample);
	while (prototype !== null) {
		const constructor = (prototype as { constructor: ReadableClass & { name: string } })
			.constructor;
		if (constructor.name === 'Readable') return constructor.from(chunks, { objectMode: false });
		prototype = Object.getPrototypeOf(prototype);
	}
	throw new Error('the binary data store handed over something that is not a stream');
}
