/**
 * A multipart/form-data body built around a file that is never held whole: the text fields and
 * the file part's header go first, then the file as it streams from n8n's binary data store, then
 * the closing boundary. Its length is known in advance when the file's size is, so CAMB.AI gets
 * a Content-Length instead of a chunked body.
 */
import { randomBytes } from 'crypto';

import type { Readable } from './readAnswer';

export interface FilePart {
	/** The form field, e.g. "media_file". */
	field: string;
	fileName: string;
	mimeType: string;
	/** Bytes, when known. */
	size?: number;
	/** The content, opened afresh for each attempt: a stream from the binary data store, or bytes in memory. */
	open(): Promise<Readable | Buffer>;
}

export interface MultipartBody {
	body: Readable | Buffer;
	headers: { 'content-type': string; 'content-length'?: string };
}

export async function multipartBody(
	fields: Record<string, string>,
	file: FilePart,
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
	const contentType = `multipart/form-data; boundary=${boundary}`;
	const content = await file.open();
	if (Buffer.isBuffer(content)) {
		const body = Buffer.concat([head, content, tail]);
		return {
			body,
			headers: { 'content-type': contentType, 'content-length': String(body.length) },
		};
	}
	const body = readableFrom(content, framed(head, content, tail));
	const headers: MultipartBody['headers'] = { 'content-type': contentType };
	if (file.size !== undefined)
		headers['content-length'] = String(head.length + file.size + tail.length);
	return { body, headers };
}

async function* framed(head: Buffer, content: Readable, tail: Buffer): AsyncGenerator<Buffer> {
	try {
		yield head;
		for await (const chunk of content) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
	} finally {
		// An upload that breaks off must not leave the file open.
		content.destroy();
	}
	yield tail;
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
