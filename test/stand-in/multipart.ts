/**
 * multipart/form-data both ways, for the upload route (POST /audio-separation).
 *
 * - MultipartParser: what the CAMB stand-in reads uploads with. Streaming: it sees the body in
 *   whatever chunks TCP delivers (a boundary may straddle any two of them), keeps text fields
 *   (up to MAX_FIELD_BYTES each) and only a byte count and a sha256 of each file, so a 1 GiB
 *   upload costs no memory.
 * - multipartBody(): builds a body the way a correct client does (WHATWG's form-data encoding),
 *   in memory for small ones or as a stream of zero-copy views for large pattern files.
 * - uploadProblems(): compares what the stand-in recorded with what a test expected the node to
 *   send, by sha256 for the file.
 *
 * Written with node: built-ins only; the tests of all tiers import it from here.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { patternChunks, patternSha256 } from './pattern';

/** One file part as recorded: never its bytes, only how many and their hash. */
export interface RecordedFile {
	/** The part's form field name (`name=` of Content-Disposition). */
	field: string;
	/** The `filename=` (or RFC 5987 `filename*=`) of Content-Disposition, decoded as UTF-8. */
	fileName: string;
	/** The part's own Content-Type header; undefined when it had none. */
	contentType: string | undefined;
	/** Content bytes received (of what arrived, when the body broke off inside this part). */
	bytes: number;
	/** Hex sha256 of those bytes. */
	sha256: string;
}

/** What the stand-in recorded of a multipart/form-data body. */
export interface MultipartRecord {
	/** Text parts (no filename) as UTF-8; a name sent twice keeps the last value. */
	fields: Record<string, string>;
	/** File parts (a filename parameter, even an empty one) in the order they came. */
	files: RecordedFile[];
	/** True when the body parsed cleanly up to the closing boundary AND arrived to its end. */
	complete: boolean;
	/** Why complete is false: the malformation found, or how the body broke off. */
	error?: string;
}

/** A text field longer than this makes the body malformed (Starlette refuses big fields too). */
export const MAX_FIELD_BYTES = 64 * 1024;
/** The headers of one part; real ones are a few hundred bytes. */
const MAX_PART_HEADER_BYTES = 16 * 1024;
/** Parts per body, like Starlette's default max_files + max_fields order of magnitude. */
const MAX_PARTS = 1000;
/** Transport padding (spaces, tabs) RFC 2046 allows after a boundary line. */
const MAX_BOUNDARY_PADDING = 256;

const CR = 0x0d;
const LF = 0x0a;
const DASH = 0x2d;
const EMPTY = Buffer.alloc(0);
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** True for a multipart/form-data content-type, whatever its case and parameters. */
export function isMultipartFormData(contentType: string | undefined): boolean {
	return (
		contentType !== undefined &&
		contentType.split(';', 1)[0].trim().toLowerCase() === 'multipart/form-data'
	);
}

/** The boundary parameter of a content-type (quoted or not); undefined when absent or empty. */
export function boundaryOf(contentType: string | undefined): string | undefined {
	if (contentType === undefined) return undefined;
	const params = headerParams(contentType);
	const boundary = params.get('boundary');
	return boundary ? boundary : undefined;
}

/**
 * The `; key=value` parameters of a header value, keys lower-cased; quoted strings unquoted
 * (a backslash escapes the next character) and `key*=charset''percent-encoded` decoded.
 */
function headerParams(value: string): Map<string, string> {
	const params = new Map<string, string>();
	const pattern = /;\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
	for (let match = pattern.exec(value); match; match = pattern.exec(value)) {
		const key = match[1].toLowerCase();
		let raw = match[2].trim();
		if (raw.startsWith('"')) raw = raw.slice(1, -1).replace(/\\(.)/g, '$1');
		if (key.endsWith('*')) {
			const extended = /^[^']*'[^']*'(.*)$/.exec(raw);
			try {
				params.set(key.slice(0, -1) + '*', decodeURIComponent(extended ? extended[1] : raw));
			} catch {
				// Not valid percent-encoding: the plain parameter (if any) will do.
			}
		} else params.set(key, raw);
	}
	return params;
}

type State = 'preamble' | 'afterDelimiter' | 'headers' | 'body' | 'done' | 'failed';

type OpenPart =
	| { kind: 'field'; name: string; chunks: Buffer[]; size: number }
	| { kind: 'file'; file: RecordedFile; hash: Hash };

/**
 * A streaming multipart/form-data parser: write() the body's chunks as they arrive, then end()
 * (the body arrived whole) or abort(why) (it broke off). `record` is live all along.
 *
 * The body is scanned for the delimiter CRLF "--" boundary; the first one has no CRLF before
 * it, so the parser starts as if a CRLF had just been read. Bytes that could be the start of a
 * delimiter at the end of a chunk are carried over to the next (at most boundary + 3 bytes), so a
 * delimiter split anywhere is still found, and bytes that only look like one stay content.
 */
export class MultipartParser {
	readonly record: MultipartRecord = { fields: {}, files: [], complete: false };

	private readonly delimiter: Buffer;
	private state: State = 'preamble';
	/** Bytes held over from the previous chunk; starts as the CRLF the first delimiter lacks. */
	private carry: Buffer = CRLF;
	/** After a delimiter: '' so far, '-' (one dash of "--"), or '\r' (the CR of its CRLF). */
	private tail = '';
	private padding = 0;
	private header: Buffer = EMPTY;
	private part: OpenPart | undefined;
	private parts = 0;

	constructor(boundary: string) {
		this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
	}

	write(chunk: Buffer): void {
		if (!this.parsing() || chunk.length === 0) return;
		const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
		this.carry = EMPTY;
		let pos = 0;
		while (pos < buf.length && this.parsing()) {
			if (this.state === 'preamble' || this.state === 'body') pos = this.scanContent(buf, pos);
			else if (this.state === 'afterDelimiter') pos = this.afterDelimiter(buf, pos);
			else pos = this.readHeaders(buf, pos);
		}
	}

	/** Still reading parts: neither past the closing boundary nor failed. (A method, so TypeScript does not narrow `state` across calls that change it.) */
	private parsing(): boolean {
		return this.state !== 'done' && this.state !== 'failed';
	}

	/** The body arrived to its end: complete if the closing boundary was seen and nothing was wrong. */
	end(): MultipartRecord {
		if (this.state === 'done') this.record.complete = true;
		else if (this.state !== 'failed') this.fail('the body ended before the closing boundary');
		return this.record;
	}

	/** The body broke off (client gone, connection reset): incomplete, for `why`. */
	abort(why: string): MultipartRecord {
		if (this.state !== 'failed') this.fail(why);
		this.record.complete = false;
		return this.record;
	}

	/** Content (or preamble) up to the next delimiter; a possible delimiter start at the end is carried. */
	private scanContent(buf: Buffer, pos: number): number {
		const found = buf.indexOf(this.delimiter, pos);
		if (found !== -1) {
			this.content(buf.subarray(pos, found));
			if (this.state === 'body') this.closePart();
			if (this.state === 'failed') return buf.length;
			this.state = 'afterDelimiter';
			this.tail = '';
			this.padding = 0;
			return found + this.delimiter.length;
		}
		const keep = this.partialDelimiterStart(buf, pos);
		this.content(buf.subarray(pos, keep));
		// A copy: the chunk it comes from belongs to the stream.
		this.carry = Buffer.from(buf.subarray(keep));
		return buf.length;
	}

	/** Where the longest tail of buf[pos..] that is a proper prefix of the delimiter starts (buf.length if none). */
	private partialDelimiterStart(buf: Buffer, pos: number): number {
		for (let j = Math.max(pos, buf.length - this.delimiter.length + 1); j < buf.length; j++) {
			if (buf[j] !== CR) continue;
			const rest = buf.subarray(j);
			if (rest.equals(this.delimiter.subarray(0, rest.length))) return j;
		}
		return buf.length;
	}

	/** After "--boundary": "--" closes the body; optional padding then CRLF opens a part. */
	private afterDelimiter(buf: Buffer, pos: number): number {
		for (; pos < buf.length; pos++) {
			const byte = buf[pos];
			if (this.tail === '-') {
				if (byte !== DASH) return this.failAt(buf, 'a boundary followed by a single "-"');
				this.state = 'done';
				return pos + 1;
			}
			if (this.tail === '\r') {
				if (byte !== LF) return this.failAt(buf, 'a boundary line ending in CR without LF');
				this.state = 'headers';
				this.header = EMPTY;
				return pos + 1;
			}
			if (byte === DASH && this.padding === 0) this.tail = '-';
			else if (byte === CR) this.tail = '\r';
			else if ((byte === 0x20 || byte === 0x09) && ++this.padding <= MAX_BOUNDARY_PADDING) continue;
			else return this.failAt(buf, 'unexpected bytes after a boundary');
		}
		return pos;
	}

	/** Part headers up to the blank line; then the part opens. */
	private readHeaders(buf: Buffer, pos: number): number {
		const look =
			this.header.length > 0 ? Buffer.concat([this.header, buf.subarray(pos)]) : buf.subarray(pos);
		// No header lines at all: the blank line comes first.
		const end = look[0] === CR && look[1] === LF ? -2 : look.indexOf(HEADER_END);
		if (end === -1) {
			if (look.length > MAX_PART_HEADER_BYTES)
				return this.failAt(buf, `part headers longer than ${MAX_PART_HEADER_BYTES} bytes`);
			this.header = Buffer.from(look);
			return buf.length;
		}
		const headerText = end === -2 ? '' : look.subarray(0, end).toString('utf8');
		const consumed = (end === -2 ? 2 : end + HEADER_END.length) - this.header.length;
		this.header = EMPTY;
		this.openPart(headerText);
		return this.state === 'failed' ? buf.length : pos + consumed;
	}

	private openPart(headerText: string): void {
		if (++this.parts > MAX_PARTS) return this.fail(`more than ${MAX_PARTS} parts`);
		const headers = new Map<string, string>();
		for (const line of headerText.split('\r\n')) {
			const colon = line.indexOf(':');
			if (colon > 0)
				headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
		}
		const disposition = headers.get('content-disposition');
		if (disposition === undefined) return this.fail('a part without Content-Disposition');
		if (disposition.split(';', 1)[0].trim().toLowerCase() !== 'form-data')
			return this.fail(`a part with Content-Disposition "${disposition}", not form-data`);
		const params = headerParams(disposition);
		const name = params.get('name*') ?? params.get('name');
		if (!name) return this.fail('a part without a name');
		const fileName = params.get('filename*') ?? params.get('filename');
		this.state = 'body';
		if (fileName === undefined) {
			this.part = { kind: 'field', name, chunks: [], size: 0 };
			return;
		}
		const file: RecordedFile = {
			field: name,
			fileName,
			contentType: headers.get('content-type'),
			bytes: 0,
			sha256: '',
		};
		// Listed at once, so a body that breaks off inside the file still shows how far it got.
		this.record.files.push(file);
		this.part = { kind: 'file', file, hash: createHash('sha256') };
	}

	/** Content bytes of the open part (dropped in the preamble). */
	private content(data: Buffer): void {
		const part = this.part;
		if (this.state !== 'body' || !part || data.length === 0) return;
		if (part.kind === 'file') {
			part.hash.update(data);
			part.file.bytes += data.length;
			return;
		}
		part.size += data.length;
		if (part.size > MAX_FIELD_BYTES)
			return this.fail(`field "${part.name}" is longer than ${MAX_FIELD_BYTES} bytes`);
		part.chunks.push(Buffer.from(data));
	}

	private closePart(): void {
		const part = this.part;
		this.part = undefined;
		if (!part) return;
		if (part.kind === 'file') part.file.sha256 = part.hash.digest('hex');
		else this.record.fields[part.name] = Buffer.concat(part.chunks).toString('utf8');
	}

	private failAt(buf: Buffer, why: string): number {
		this.fail(why);
		return buf.length;
	}

	/** Stop parsing for good; a file cut short keeps the hash of what arrived. */
	private fail(why: string): void {
		if (this.part?.kind === 'file') this.part.file.sha256 = this.part.hash.digest('hex');
		this.part = undefined;
		this.carry = EMPTY;
		this.state = 'failed';
		this.record.complete = false;
		this.record.error = why;
	}
}

// ---- building bodies as a client does -------------------------------------------------------

/** A text field, or a file given as bytes or as `patternBytes` bytes of the pattern (pattern.ts). */
export type FormPart =
	| { name: string; value: string }
	| { name: string; fileName: string; contentType?: string; data: Uint8Array }
	| { name: string; fileName: string; contentType?: string; patternBytes: number };

export interface MultipartBody {
	boundary: string;
	/** The request's content-type: multipart/form-data; boundary=... */
	contentType: string;
	/** Exact body length, for content-length. */
	contentLength: number;
	/** The body in order, file content as views of at most chunkBytes (default 64 KiB); nothing copied. */
	chunks(chunkBytes?: number): Generator<Buffer, void, undefined>;
	/** chunks() as a byte stream that is pulled only as fast as it is consumed (pipe it into a request). */
	stream(chunkBytes?: number): Readable;
	/** The whole body in one buffer: for small bodies. */
	toBuffer(): Buffer;
}

/** WHATWG's escaping of names in Content-Disposition: ", CR and LF percent-encoded. */
function escapeName(name: string): string {
	return name.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/**
 * A multipart/form-data body as browsers, form-data and undici encode one: each part
 * "--boundary CRLF headers CRLF CRLF content CRLF", then "--boundary--" CRLF. Files get
 * Content-Type `contentType` (default application/octet-stream); text fields none.
 */
export function multipartBody(
	parts: FormPart[],
	options: { boundary?: string } = {},
): MultipartBody {
	const boundary = options.boundary ?? `----StandInBoundary${randomBytes(12).toString('hex')}`;
	const heads = parts.map((part, index) => {
		let head = `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(part.name)}"`;
		if ('fileName' in part) {
			head += `; filename="${escapeName(part.fileName)}"\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}`;
		}
		return Buffer.from(`${head}\r\n\r\n`, 'utf8');
	});
	const close = Buffer.from(`${parts.length === 0 ? '' : '\r\n'}--${boundary}--\r\n`);
	const contentBytes = (part: FormPart) =>
		'value' in part
			? Buffer.byteLength(part.value)
			: 'data' in part
				? part.data.byteLength
				: part.patternBytes;
	const contentLength =
		heads.reduce((sum, head) => sum + head.length, 0) +
		parts.reduce((sum, part) => sum + contentBytes(part), 0) +
		close.length;

	function* chunks(chunkBytes = 64 * 1024): Generator<Buffer, void, undefined> {
		for (const [index, part] of parts.entries()) {
			yield heads[index];
			if ('value' in part) yield Buffer.from(part.value, 'utf8');
			else if ('data' in part) {
				const data = Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength);
				for (let at = 0; at < data.length; at += chunkBytes)
					yield data.subarray(at, at + chunkBytes);
			} else yield* patternChunks(part.patternBytes, chunkBytes);
		}
		yield close;
	}

	return {
		boundary,
		contentType: `multipart/form-data; boundary=${boundary}`,
		contentLength,
		chunks,
		stream: (chunkBytes) => Readable.from(chunks(chunkBytes), { objectMode: false }),
		toBuffer: () => Buffer.concat([...chunks()]),
	};
}

// ---- checking what arrived ------------------------------------------------------------------

/** What a test expects an upload to carry. */
export interface ExpectedUpload {
	/** Exactly these text fields (an unexpected extra field is a problem too); omit to skip. */
	fields?: Record<string, string>;
	/** The one file expected, in `field` (default media_file). */
	file: {
		field?: string;
		fileName?: string;
		contentType?: string;
		/** The bytes the node should have sent, or `patternBytes` of the pattern, or a known sha256 + length. */
		data?: Uint8Array;
		patternBytes?: number;
		sha256?: string;
		bytes?: number;
	};
}

/** The parts of a RecordedRequest uploadProblems() reads. */
interface RecordedUpload {
	method: string;
	path: string;
	bodyComplete: boolean;
	multipart?: MultipartRecord;
}

/**
 * Everything about a recorded upload that differs from `expected`, as readable sentences; [] when
 * it matches. `expect(uploadProblems(request, expected)).toEqual([])` shows all of them at once.
 */
export function uploadProblems(request: RecordedUpload, expected: ExpectedUpload): string[] {
	const problems: string[] = [];
	const where = `${request.method} ${request.path}`;
	const multipart = request.multipart;
	if (!multipart) return [`${where} is not multipart/form-data`];
	if (!request.bodyComplete) problems.push(`${where}: the body did not arrive whole`);
	if (!multipart.complete)
		problems.push(`${where}: multipart incomplete: ${multipart.error ?? ''}`);
	if (expected.fields) {
		const got = JSON.stringify(sortedEntries(multipart.fields));
		const want = JSON.stringify(sortedEntries(expected.fields));
		if (got !== want) problems.push(`fields ${got}, expected ${want}`);
	}
	const want = expected.file;
	const field = want.field ?? 'media_file';
	const files = multipart.files.filter((file) => file.field === field);
	if (files.length !== 1) {
		problems.push(`${files.length} files in "${field}", expected 1`);
		return problems;
	}
	const others = multipart.files.length - 1;
	if (others > 0) problems.push(`${others} more file(s) in other fields`);
	const [file] = files;
	if (want.fileName !== undefined && file.fileName !== want.fileName)
		problems.push(
			`fileName ${JSON.stringify(file.fileName)}, expected ${JSON.stringify(want.fileName)}`,
		);
	if (want.contentType !== undefined && file.contentType !== want.contentType)
		problems.push(
			`contentType ${JSON.stringify(file.contentType)}, expected ${JSON.stringify(want.contentType)}`,
		);
	let bytes = want.bytes;
	let sha256 = want.sha256;
	if (want.data !== undefined) {
		bytes = want.data.byteLength;
		sha256 = createHash('sha256').update(want.data).digest('hex');
	} else if (want.patternBytes !== undefined) {
		bytes = want.patternBytes;
		sha256 = patternSha256(want.patternBytes);
	}
	if (bytes !== undefined && file.bytes !== bytes)
		problems.push(`file is ${file.bytes} bytes, expected ${bytes}`);
	if (sha256 !== undefined && file.sha256 !== sha256)
		problems.push(`file sha256 ${file.sha256}, expected ${sha256}`);
	return problems;
}

function sortedEntries(record: Record<string, string>): Array<[string, string]> {
	return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
