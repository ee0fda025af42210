/**
 * Reading HTTP bodies without trusting their size or pace: answers whole up to a cap, error
 * bodies only as far as a message quotes them, and a watchdog on bodies that stop arriving.
 */
import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { headerValue } from './retryPolicy';
import type { Watchdog } from './watchdog';

/** A status or result answer larger than this is not one: it is refused, and the rest is not read. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

/** Node's Readable, named through n8n's own types: community nodes may not import 'stream'. */
export type Readable = Exclude<
	Parameters<IExecuteFunctions['helpers']['prepareBinaryData']>[0],
	Buffer
>;

/**
 * Reads an answer whole, up to MAX_ANSWER_BYTES (after decompression: n8n inflates gzip before
 * the stream reaches us, so a small body that inflates to gigabytes is stopped too). A body that
 * announces or reaches more is left unread. A body that stops arriving is failed by the
 * watchdog (watchdog.ts) as a time-out, like a request that never answered.
 */
export async function readCapped(
	body: unknown,
	headers: IDataObject,
	watchdog: Watchdog,
): Promise<{ text: string } | { oversized: number }> {
	if (!isReadable(body)) return { text: bodyText(body) };
	const declared = Number(headerValue(headers, 'content-length'));
	if (Number.isFinite(declared) && declared > MAX_ANSWER_BYTES) {
		body.destroy();
		return { oversized: declared };
	}
	const chunks: Buffer[] = [];
	let size = 0;
	const chunksIn = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
	const watch = watchdog.watch();
	try {
		for (;;) {
			const next = await Promise.race([chunksIn.next(), watch.stalled]);
			watch.progressed();
			if (next.done) break;
			const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
			size += chunk.length;
			if (size > MAX_ANSWER_BYTES) return { oversized: size };
			chunks.push(chunk);
		}
	} finally {
		watch.stop();
		body.destroy();
	}
	return { text: Buffer.concat(chunks).toString('utf8') };
}

export function isReadable(value: unknown): value is Readable {
	return (
		typeof value === 'object' &&
		value !== null &&
		typeof (value as Readable).destroy === 'function' &&
		Symbol.asyncIterator in value
	);
}

const ERROR_BODY_BYTES = 1024;

/** The first bytes of an error body, for the message; the rest is discarded unread. */
export async function readStart(stream: Readable): Promise<string> {
	const chunks: Buffer[] = [];
	let size = 0;
	try {
		for await (const chunk of stream) {
			chunks.push(Buffer.from(chunk as Buffer));
			size += (chunk as Buffer).length;
			if (size >= ERROR_BODY_BYTES) break;
		}
	} catch {
		// A body that breaks off still leaves what arrived to quote.
	} finally {
		stream.destroy();
	}
	return Buffer.concat(chunks).subarray(0, ERROR_BODY_BYTES).toString('utf8');
}

function bodyText(body: unknown): string {
	if (typeof body === 'string') return body;
	if (body === undefined || body === null) return '';
	if (Buffer.isBuffer(body)) return body.toString('utf8');
	return JSON.stringify(body);
}
