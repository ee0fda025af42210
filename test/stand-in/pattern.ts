/**
 * The deterministic byte pattern of large test bodies: what the stand-in streams as a stem file
 * (Reply.stream) and what tests upload as a large media file (multipart.ts). Bodies of any size
 * are written from one ~1 MiB buffer, so gigabytes cost no memory, and checked or hashed as they
 * pass, so they are never held either.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The largest run of pattern bytes one zero-copy view can hold. */
export const MAX_PATTERN_VIEW_BYTES = 1024 * 1024;

/**
 * Length of the repeating unit of the pattern. A prime, so no power-of-two chunk, buffer or page
 * size lines up with it: a chunk lost, repeated or swapped anywhere in a body shifts everything
 * after it and shows up as a mismatch.
 */
export const STREAM_PATTERN_PERIOD = 65_521;

let patternRing: Buffer | undefined;

/**
 * The pattern's period followed by enough of its own start that any run of up to
 * MAX_PATTERN_VIEW_BYTES bytes, at any offset, is one zero-copy view of it. Built once.
 */
function ring(): Buffer {
	if (patternRing) return patternRing;
	const buffer = Buffer.allocUnsafe(STREAM_PATTERN_PERIOD + MAX_PATTERN_VIEW_BYTES);
	// xorshift32 with a fixed seed: the same bytes on every run and machine, and not compressible.
	let x = 0x2545f491;
	for (let i = 0; i < STREAM_PATTERN_PERIOD; i++) {
		x ^= x << 13;
		x ^= x >>> 17;
		x ^= x << 5;
		buffer[i] = x & 0xff;
	}
	for (let i = STREAM_PATTERN_PERIOD; i < buffer.length; i++)
		buffer[i] = buffer[i - STREAM_PATTERN_PERIOD];
	patternRing = buffer;
	return buffer;
}

/**
 * A view (no copy) of `length` (at most MAX_PATTERN_VIEW_BYTES) pattern bytes starting at body
 * offset `offset`. Every view shares one buffer: never write into it.
 */
export function patternView(offset: number, length: number): Buffer {
	const start = offset % STREAM_PATTERN_PERIOD;
	return ring().subarray(start, start + length);
}

/**
 * Bytes `offset` to `offset + length` of the pattern as zero-copy views of `chunkBytes` (1 to
 * MAX_PATTERN_VIEW_BYTES) each, for writing a large body without allocating it.
 */
export function* patternChunks(
	length: number,
	chunkBytes = 64 * 1024,
	offset = 0,
): Generator<Buffer, void, undefined> {
	if (!(Number.isInteger(chunkBytes) && chunkBytes >= 1 && chunkBytes <= MAX_PATTERN_VIEW_BYTES))
		throw new Error(
			`pattern: chunkBytes must be 1 to ${MAX_PATTERN_VIEW_BYTES}, got ${chunkBytes}`,
		);
	for (let done = 0; done < length; ) {
		const piece = Math.min(chunkBytes, length - done);
		yield patternView(offset + done, piece);
		done += piece;
	}
}

/** The `length` bytes a streamed body holds from `offset` on (a copy: for tests comparing small ranges). */
export function streamPattern(offset: number, length: number): Buffer {
	const out = Buffer.allocUnsafe(length);
	let done = 0;
	for (const view of patternChunks(length, MAX_PATTERN_VIEW_BYTES, offset)) {
		view.copy(out, done);
		done += view.length;
	}
	return out;
}

/** Hex sha256 of the first `length` pattern bytes, computed without holding them (1 GiB: a few seconds). */
export function patternSha256(length: number): string {
	const hash = createHash('sha256');
	for (const view of patternChunks(length, MAX_PATTERN_VIEW_BYTES)) hash.update(view);
	return hash.digest('hex');
}

/**
 * Writes the first `length` pattern bytes to a file (e.g. a large media file for the node to
 * upload), streamed, so a 1 GiB file costs no memory. Its sha256 is patternSha256(length).
 */
export async function writePatternFile(path: string, length: number): Promise<void> {
	await pipeline(
		Readable.from(patternChunks(length, MAX_PATTERN_VIEW_BYTES), { objectMode: false }),
		createWriteStream(path),
	);
}

/** Checks a streamed body chunk by chunk as it arrives, without keeping any of it. */
export interface StreamPatternCheck {
	/** Feed the next chunk of the body, in order. */
	update(chunk: Uint8Array): void;
	/** Bytes fed so far. */
	readonly bytes: number;
	/** Body offset of the first byte that differs from the pattern; undefined while all match. */
	readonly firstMismatch: number | undefined;
}

/** A fresh StreamPatternCheck for a body read from offset 0. */
export function checkStreamPattern(): StreamPatternCheck {
	let bytes = 0;
	let firstMismatch: number | undefined;
	return {
		get bytes() {
			return bytes;
		},
		get firstMismatch() {
			return firstMismatch;
		},
		update(chunk: Uint8Array) {
			const data = Buffer.isBuffer(chunk)
				? chunk
				: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
			for (let done = 0; firstMismatch === undefined && done < data.length; ) {
				const piece = Math.min(MAX_PATTERN_VIEW_BYTES, data.length - done);
				const actual = data.subarray(done, done + piece);
				const expected = patternView(bytes + done, piece);
				if (!actual.equals(expected)) {
					let i = 0;
					while (actual[i] === expected[i]) i++;
					firstMismatch = bytes + done + i;
				}
				done += piece;
			}
			bytes += data.length;
		},
	};
}
