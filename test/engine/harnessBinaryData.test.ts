/**
 * The engine harness's binary data modes (n8n's 'default', inline, and 'filesystem'): stems
 * downloaded from a stand-in storage host, byte-exact, through the harness's binary data service.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { sleep } from 'n8n-workflow';
import type { IBinaryData } from 'n8n-workflow';

import {
	checkStreamPattern,
	startStandIn,
	streamPattern,
	type StandIn,
} from '../stand-in/cambStandIn';
import {
	binaryDataFilePath,
	binaryDataStoragePath,
	binaryDataStream,
	harnessUserFolder,
	runWorkflow,
} from './harness';

import { DOWNLOAD, items, node, types } from './harnessTestNodes';

describe('engine harness: binary data modes', () => {
	const MB = 1024 * 1024;
	let storage: StandIn;

	beforeAll(async () => {
		storage = await startStandIn();
	});
	afterEach(() => storage.reset());
	afterAll(() => storage.close());

	const downloadWorkflow = (id = 'binary-wf') => ({
		id,
		nodes: [node('Download', DOWNLOAD)],
		connections: {},
	});
	const download = (url: string, binaryDataMode?: 'default' | 'filesystem', id?: string) =>
		runWorkflow(downloadWorkflow(id), { nodeName: 'Download', items: items({ url }) }, types(), {
			...(binaryDataMode && { binaryDataMode }),
		});
	const stem = (bytes: number, path = '/bucket/task-1/fg_audio.flac') => {
		storage.on('GET', path, { stream: { bytes, contentType: 'audio/flac' } });
		return storage.baseUrl + path + '?X-Amz-Signature=abc';
	};

	/** Streams a binary's content through the stand-in's pattern check. */
	async function checkContent(stream: Readable) {
		const check = checkStreamPattern();
		for await (const chunk of stream) check.update(chunk as Buffer);
		return { bytes: check.bytes, firstMismatch: check.firstMismatch };
	}

	const filesUnder = (dir: string): string[] =>
		existsSync(dir)
			? readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
					entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
				)
			: [];

	it("'filesystem': the streamed download lands in a file; the item holds its id and no content", async () => {
		const bytes = 3 * MB + 7;
		const run = await download(stem(bytes), 'filesystem');
		expect(run.error).toBeUndefined();
		expect(run.binaryDataMode).toBe('filesystem');

		const [item] = run.outputs('Download')[0];
		expect(item.json).toEqual({ statusCode: 200 });
		const binary = item.binary!.data;
		expect(binary.id).toMatch(
			new RegExp(
				`^filesystem-v2:workflows/binary-wf/executions/${run.executionId}/binary_data/[0-9a-f-]{36}$`,
			),
		);
		// `data` is only the mode's name: the content is not in the item.
		expect(binary.data).toBe('filesystem-v2');
		expect(binary).toMatchObject({
			fileName: 'x.flac',
			mimeType: 'audio/flac',
			fileExtension: 'flac',
			fileType: 'audio',
			fileSize: '3.15 MB',
		});

		const file = binaryDataFilePath(binary);
		expect(file.startsWith(join(harnessUserFolder, '.n8n', 'binaryData') + '/')).toBe(true);
		expect(file.startsWith(binaryDataStoragePath)).toBe(true);
		expect(statSync(file).size).toBe(bytes);
		expect(JSON.parse(readFileSync(`${file}.metadata`, 'utf8'))).toEqual({
			fileName: 'x.flac',
			mimeType: 'audio/flac',
			fileSize: bytes,
		});
		expect(await checkContent(createReadStream(file))).toEqual({ bytes, firstMismatch: undefined });
		expect(await checkContent(await binaryDataStream(binary))).toEqual({
			bytes,
			firstMismatch: undefined,
		});

		run.deleteBinaryData();
		expect(existsSync(file)).toBe(false);
	});

	it("'default' (and no option): the whole content is inline, base64, and nothing is written to disk", async () => {
		const bytes = 1 * MB + 3;
		const url = stem(bytes);
		for (const mode of ['default', undefined] as const) {
			const before = filesUnder(binaryDataStoragePath);
			const run = await download(url, mode, `default-wf-${String(mode)}`);
			expect(run.error).toBeUndefined();
			expect(run.binaryDataMode).toBe('default');
			const binary: IBinaryData = run.outputs('Download')[0][0].binary!.data;
			expect(binary.id).toBeUndefined();
			expect(binary).toMatchObject({
				fileName: 'x.flac',
				mimeType: 'audio/flac',
				fileSize: '1.05 MB',
			});
			const content = Buffer.from(binary.data, 'base64');
			expect(content.length).toBe(bytes);
			expect(content.equals(streamPattern(0, bytes))).toBe(true);
			expect(await checkContent(await binaryDataStream(binary))).toEqual({
				bytes,
				firstMismatch: undefined,
			});
			expect(() => binaryDataFilePath(binary)).toThrow(/inline/);
			expect(filesUnder(binaryDataStoragePath)).toEqual(before);
		}
	});

	it('switches modes between runs, and a file stored earlier stays readable in default mode', async () => {
		const url = stem(100_000);
		const stored = await download(url, 'filesystem');
		const inline = await download(url, 'default');
		const storedAgain = await download(url, 'filesystem');
		const binary = (run: typeof stored) => run.outputs('Download')[0][0].binary!.data;
		expect(binary(stored).id).toBeDefined();
		expect(binary(inline).id).toBeUndefined();
		expect(binary(storedAgain).id).toBeDefined();
		expect(binary(storedAgain).id).not.toBe(binary(stored).id);
		expect(await checkContent(await binaryDataStream(binary(stored)))).toEqual({
			bytes: 100_000,
			firstMismatch: undefined,
		});
	});

	it("'filesystem' writes the body to disk as it arrives: half a stalled body is already in the file", async () => {
		// Its own storage host, closed mid-download to end the stalled request.
		const stalling = await startStandIn();
		const bytes = 8 * MB;
		stalling.on('GET', '/bucket/stall/fg_audio.flac', { stream: { bytes }, fault: 'stall' });
		const folder = join(binaryDataStoragePath, 'workflows', 'stall-wf');
		const running = download(
			`${stalling.baseUrl}/bucket/stall/fg_audio.flac`,
			'filesystem',
			'stall-wf',
		);
		try {
			const deadline = Date.now() + 5000;
			let sizes: number[] = [];
			while (Date.now() < deadline) {
				sizes = filesUnder(folder).map((file) => statSync(file).size);
				if (sizes.includes(bytes / 2)) break;
				await sleep(20);
			}
			// The node is still waiting for the second half, and the first half is on disk.
			expect(sizes).toEqual([bytes / 2]);
			const [file] = filesUnder(folder);
			expect(await checkContent(createReadStream(file))).toEqual({
				bytes: bytes / 2,
				firstMismatch: undefined,
			});
		} finally {
			await stalling.close();
		}
		// The storage host went away mid-body: the download fails, as it would in n8n.
		const run = await running;
		expect(run.status).toBe('error');
		expect(run.nodeError('Download')?.message).toMatch(/aborted/);
	});

	it('runs that overlap must share the mode (n8n-core has one BinaryDataService per process)', async () => {
		storage.on('GET', '/slow.flac', { stream: { bytes: 1000 }, delayMs: 300 });
		const slowUrl = `${storage.baseUrl}/slow.flac`;
		const first = download(slowUrl, 'filesystem');
		await expect(download(slowUrl, 'default')).rejects.toThrow(
			/'default' requested while a run in 'filesystem' mode/,
		);
		const second = download(slowUrl, 'filesystem');
		const runs = await Promise.all([first, second]);
		for (const run of runs) expect(run.outputs('Download')[0][0].binary!.data.id).toBeDefined();
		// Once they are done, the other mode is fine again.
		expect(
			(await download(slowUrl, 'default')).outputs('Download')[0][0].binary!.data.id,
		).toBeUndefined();
		await expect(download(slowUrl, 's3' as 'default')).rejects.toThrow(
			/unknown binaryDataMode "s3"/,
		);
	});
});
