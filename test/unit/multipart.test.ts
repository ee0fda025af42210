/**
 * The multipart body around a file: framing exactly as a form parser reads it, the file's bytes
 * untouched, the length announced equal to the bytes sent, and the file closed when an upload
 * breaks off.
 */
import { Readable } from 'node:stream';

import { multipartBody, type FilePart } from '../../nodes/shared/transport/multipart';

const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function part(content: () => Readable | Buffer, size?: number): FilePart {
	return {
		field: 'media_file',
		fileName: 'take "1".mp3',
		mimeType: 'audio/mpeg',
		size,
		open: async () => content(),
	};
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
			part(content, bytes.length),
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

	it('announces no length when the size is unknown (the body goes chunked)', async () => {
		const { headers } = await multipartBody(
			{},
			part(() => Readable.from([bytes])),
		);
		expect(headers['content-length']).toBeUndefined();
	});

	it('uses a new boundary for every body', async () => {
		const first = await multipartBody(
			{},
			part(() => bytes, bytes.length),
		);
		const second = await multipartBody(
			{},
			part(() => bytes, bytes.length),
		);
		expect(first.headers['content-type']).not.toBe(second.headers['content-type']);
	});

	it('closes the file when the upload stops reading', async () => {
		const file = new Readable({ read() {} });
		file.push(bytes);
		const { body } = await multipartBody(
			{},
			part(() => file),
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
