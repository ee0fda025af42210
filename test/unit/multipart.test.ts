/**
 * The multipart body around a file: framing exactly as a form parser reads it, the file's bytes
 * untouched, the length announced equal to the bytes sent, the file closed when an upload breaks
 * off, and what a streamed body tells its sender: chunks taken, the last byte taken, and an end
 * held until the sender allows it (or failed when the sender fails it).
 */
import { Readable } from 'node:stream';

import {
	multipartBody,
	type BodyProgress,
	type FilePart,
} from '../../nodes/shared/transport/multipart';

const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function part(content: () => Readable | Buffer, size = bytes.length): FilePart {
	return {
		field: 'media_file',
		fileName: 'take "1".mp3',
		mimeType: 'audio/mpeg',
		size,
		open: async () => content(),
	};
}

/** Progress that lets the body end at once, and counts what it was told. */
function counting(end: Promise<void> = Promise.resolve()) {
	const seen = { taken: 0, lastByteTaken: 0 };
	const progress: BodyProgress = {
		taken: () => seen.taken++,
		lastByteTaken: () => seen.lastByteTaken++,
		end,
	};
	return { seen, progress };
}

async function collect(body: Readable | Buffer): Promise<Buffer> {
	if (Buffer.isBuffer(body)) return body;
	const chunks: Buffer[] = [];
	for await (const chunk of body) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

describe('multipartBody', () => {
	it.each([
		['a stream', () => Readable.from([bytes.subarray(0, 100), bytes.subarray(100)])],
		['bytes in memory', () => bytes],
	])('frames %s with the fields first and the exact length', async (_, content) => {
		const { body, headers } = await multipartBody(
			{ project_name: 'Demo', folder_id: '7' },
			part(content),
			counting().progress,
		);
		const sent = await collect(body);
		const boundary = /boundary=(.+)$/.exec(headers['content-type'])?.[1] as string;
		expect(headers['content-type']).toMatch(
			/^multipart\/form-data; boundary=----CambSeparation[0-9a-f]{32}$/,
		);
		expect(headers['content-length']).toBe(String(sent.length));
		const head =
			`--${boundary}\r\nContent-Disposition: form-data; name="project_name"\r\n\r\nDemo\r\n` +
			`--${boundary}\r\nContent-Disposition: form-data; name="folder_id"\r\n\r\n7\r\n` +
			`--${boundary}\r\nContent-Disposition: form-data; name="media_file"; filename="take %221%22.mp3"\r\n` +
			'Content-Type: audio/mpeg\r\n\r\n';
		expect(sent.subarray(0, head.length).toString('utf8')).toBe(head);
		expect(sent.subarray(head.length, head.length + bytes.length).equals(bytes)).toBe(true);
		expect(sent.subarray(head.length + bytes.length).toString('utf8')).toBe(
			`\r\n--${boundary}--\r\n`,
		);
	});

	it('tells the sender each chunk taken, and the last byte only once the tail was taken', async () => {
		const { seen, progress } = counting();
		const { body } = await multipartBody(
			{},
			part(() => Readable.from([bytes.subarray(0, 100), bytes.subarray(100)])),
			progress,
		);
		const stream = body as Readable;
		const iterator = stream[Symbol.asyncIterator]();
		await iterator.next();
		expect(seen.lastByteTaken).toBe(0);
		await collect(stream);
		// The head and both chunks; then the tail, which is the last byte.
		expect(seen.taken).toBe(3);
		expect(seen.lastByteTaken).toBe(1);
	});

	it('hands a file that comes as one large chunk over in 64 KiB slices, each one seen', async () => {
		const large = Buffer.alloc(1024 * 1024 + 1, 7);
		const { seen, progress } = counting();
		const { body } = await multipartBody(
			{},
			part(() => Readable.from([large]), large.length),
			progress,
		);
		const sent = await collect(body as Readable);
		expect(sent.includes(large)).toBe(true);
		// The head, seventeen slices of the file (16 full, 1 byte), then the tail.
		expect(seen).toEqual({ taken: 1 + 17, lastByteTaken: 1 });
	});

	it('ends only when the sender lets it, every byte out before that', async () => {
		let release = (): void => {};
		const { seen, progress } = counting(new Promise<void>((resolve) => (release = resolve)));
		const { body, headers } = await multipartBody(
			{},
			part(() => Readable.from([bytes])),
			progress,
		);
		const stream = body as Readable;
		let received = 0;
		stream.on('data', (chunk: Buffer) => (received += chunk.length));
		const ended = new Promise((resolve) => stream.once('end', resolve));
		await new Promise((resolve) => setTimeout(resolve, 50));
		expect(received).toBe(Number(headers['content-length']));
		expect(seen.lastByteTaken).toBe(1);
		expect(stream.readableEnded).toBe(false);
		release();
		await ended;
	});

	it('fails with the error the sender fails its end with', async () => {
		let fail = (_: Error): void => {};
		const { progress } = counting(new Promise<void>((_, reject) => (fail = reject)));
		const { body } = await multipartBody(
			{},
			part(() => Readable.from([bytes])),
			progress,
		);
		const stream = body as Readable;
		const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
		stream.resume();
		await new Promise((resolve) => setTimeout(resolve, 20));
		fail(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' }));
		expect((await failed).message).toBe('no answer');
	});

	it('keeps bytes in memory as one Buffer: handed over in one piece', async () => {
		const { seen, progress } = counting();
		const { body, headers } = await multipartBody(
			{},
			part(() => bytes),
			progress,
		);
		expect(Buffer.isBuffer(body)).toBe(true);
		expect(headers['content-length']).toBe(String((body as Buffer).length));
		expect(seen).toEqual({ taken: 0, lastByteTaken: 0 });
	});

	it('uses a new boundary for every body', async () => {
		const first = await multipartBody(
			{},
			part(() => bytes),
			counting().progress,
		);
		const second = await multipartBody(
			{},
			part(() => bytes),
			counting().progress,
		);
		expect(first.headers['content-type']).not.toBe(second.headers['content-type']);
	});

	it('closes the file when the upload stops reading', async () => {
		const file = new Readable({ read() {} });
		file.push(bytes);
		const { body } = await multipartBody(
			{},
			part(() => file),
			counting().progress,
		);
		const stream = body as Readable;
		// The head arrives, then the reader goes away.
		for await (const chunk of stream) {
			expect(chunk.length).toBeGreaterThan(0);
			break;
		}
		await new Promise((resolve) => setImmediate(resolve));
		expect(file.destroyed).toBe(true);
	});
});
