/**
 * The stand-in's multipart/form-data parser, the body builder and uploadProblems(), checked
 * without a server: chunk boundaries are chosen here, so every split of a body is exercised
 * (over TCP the kernel picks them). The server side is in cambStandIn.test.ts.
 */
import { createHash } from 'node:crypto';
import {
	MAX_FIELD_BYTES,
	MultipartParser,
	boundaryOf,
	isMultipartFormData,
	multipartBody,
	uploadProblems,
	type FormPart,
	type MultipartRecord,
} from './multipart';
import { patternSha256, streamPattern } from './pattern';

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Every byte value, then runs that start like the delimiter but are not one. */
function trickyFile(boundary: string): Buffer {
	const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
	return Buffer.concat([
		all,
		Buffer.from(`\r\n--${boundary.slice(0, -1)}X`, 'latin1'),
		Buffer.from('\r\r\n-\r\n--\r\n', 'latin1'),
		Buffer.from(`x--${boundary}`, 'latin1'), // the boundary without the CRLF before it: content
		all,
		// Ends with a delimiter's start, so the real delimiter right after overlaps a false one.
		Buffer.from(`\r\n--${boundary.slice(0, boundary.length - 1)}`, 'latin1'),
	]);
}

function parts(boundary: string): FormPart[] {
	return [
		{ name: 'project_name', value: 'Mix — été 🎵' },
		{ name: 'project_description', value: 'line 1\r\nline 2 -- not a boundary\r\n' },
		{ name: 'folder_id', value: '42' },
		{
			name: 'media_file',
			fileName: 'chanson "été".wav',
			contentType: 'audio/wav',
			data: trickyFile(boundary),
		},
	];
}

function expected(boundary: string): MultipartRecord {
	const file = trickyFile(boundary);
	return {
		fields: {
			project_name: 'Mix — été 🎵',
			project_description: 'line 1\r\nline 2 -- not a boundary\r\n',
			folder_id: '42',
		},
		files: [
			{
				field: 'media_file',
				// WHATWG encoding sends " as %22; servers (and this parser) take the name as sent.
				fileName: 'chanson %22été%22.wav',
				contentType: 'audio/wav',
				bytes: file.length,
				sha256: sha256(file),
			},
		],
		complete: true,
	};
}

function parse(boundary: string, chunks: Buffer[]): MultipartRecord {
	const parser = new MultipartParser(boundary);
	for (const chunk of chunks) parser.write(chunk);
	return parser.end();
}

/** Deterministic chunk sizes (a seeded LCG), so a failure reproduces. */
function randomSplit(body: Buffer, seed: number, maxChunk: number): Buffer[] {
	let state = seed;
	const chunks: Buffer[] = [];
	for (let at = 0; at < body.length; ) {
		state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
		const size = 1 + (state % maxChunk);
		chunks.push(body.subarray(at, at + size));
		at += size;
	}
	return chunks;
}

describe('MultipartParser', () => {
	// A long random boundary as clients send, and a short one that data runs into more often.
	for (const boundary of ['----StandInBoundary0123456789abcdef01234567', 'XyZ']) {
		describe(`boundary ${JSON.stringify(boundary)}`, () => {
			const body = multipartBody(parts(boundary), { boundary }).toBuffer();

			it('parses the whole body in one chunk into fields and a hashed file', () => {
				expect(parse(boundary, [body])).toEqual(expected(boundary));
			});

			it('gives the same record for a split at every position', () => {
				const want = expected(boundary);
				for (let split = 0; split <= body.length; split++) {
					const got = parse(boundary, [body.subarray(0, split), body.subarray(split)]);
					if (JSON.stringify(got) !== JSON.stringify(want))
						expect({ split, got }).toEqual({ split, got: want });
				}
			});

			it('gives the same record one byte at a time and in random chunk sizes', () => {
				const want = expected(boundary);
				const bytes = Array.from(body, (_, i) => body.subarray(i, i + 1));
				expect(parse(boundary, bytes)).toEqual(want);
				for (let seed = 1; seed <= 200; seed++) {
					const got = parse(boundary, randomSplit(body, seed, 1 + (seed % 90)));
					if (JSON.stringify(got) !== JSON.stringify(want))
						expect({ seed, got }).toEqual({ seed, got: want });
				}
			});
		});
	}

	it('skips a preamble and an epilogue, and takes padding after a boundary', () => {
		const body = Buffer.from(
			'This is the preamble.\r\n--b  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\n1' +
				'\r\n--b\r\ncontent-disposition: Form-Data; name=b\r\n\r\n2\r\n--b--\r\nepilogue --b\r\n',
		);
		expect(parse('b', [body])).toEqual({ fields: { a: '1', b: '2' }, files: [], complete: true });
	});

	it('reads RFC 5987 filename* over filename, and a file with neither content-type nor bytes', () => {
		const body = Buffer.from(
			'--b\r\nContent-Disposition: form-data; name="media_file"; filename="fallback.wav"; ' +
				"filename*=UTF-8''%C3%A9t%C3%A9.wav\r\n\r\n\r\n--b--\r\n",
		);
		expect(parse('b', [body]).files).toEqual([
			{
				field: 'media_file',
				fileName: 'été.wav',
				contentType: undefined,
				bytes: 0,
				sha256: sha256(Buffer.alloc(0)),
			},
		]);
	});

	it('an empty filename still makes a file part (what a browser sends for an empty file input)', () => {
		const body = Buffer.from(
			'--b\r\nContent-Disposition: form-data; name="media_file"; filename=""\r\n\r\n\r\n--b--',
		);
		const record = parse('b', [body]);
		expect(record.fields).toEqual({});
		expect(record.files.map((file) => file.fileName)).toEqual(['']);
	});

	it('says what is wrong with a malformed body, and is never complete then', () => {
		const cases: Array<[string, string | Buffer, RegExp]> = [
			[
				'no closing boundary',
				'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1',
				/ended before the closing boundary/,
			],
			['no boundary at all', 'just some bytes', /ended before the closing boundary/],
			[
				'no Content-Disposition',
				'--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--',
				/without Content-Disposition/,
			],
			[
				'not form-data',
				'--b\r\nContent-Disposition: attachment; name="a"\r\n\r\n1\r\n--b--',
				/not form-data/,
			],
			['no name', '--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--', /without a name/],
			['garbage after a boundary', '--bX\r\n\r\n', /unexpected bytes after a boundary/],
			['a single dash', '--b-x', /single "-"/],
			['CR without LF', '--b\rx', /CR without LF/],
			['endless headers', `--b\r\n${'X-Long: y\r\n'.repeat(2000)}`, /part headers longer/],
			[
				'a field over the cap',
				Buffer.concat([
					Buffer.from('--b\r\nContent-Disposition: form-data; name="big"\r\n\r\n'),
					Buffer.alloc(MAX_FIELD_BYTES + 1, 0x61),
					Buffer.from('\r\n--b--'),
				]),
				/field "big" is longer than 65536 bytes/,
			],
		];
		for (const [label, body, error] of cases) {
			const record = parse('b', [Buffer.from(body)]);
			expect({ label, complete: record.complete, error: record.error }).toEqual({
				label,
				complete: false,
				error: expect.stringMatching(error),
			});
		}
		// Exactly at the cap is fine.
		const atCap = Buffer.concat([
			Buffer.from('--b\r\nContent-Disposition: form-data; name="big"\r\n\r\n'),
			Buffer.alloc(MAX_FIELD_BYTES, 0x61),
			Buffer.from('\r\n--b--'),
		]);
		expect(parse('b', [atCap]).fields.big).toHaveLength(MAX_FIELD_BYTES);
	});

	it('abort(): incomplete, with the reason and the hash of the part of the file that came', () => {
		const boundary = 'b';
		const body = multipartBody(
			[
				{ name: 'project_name', value: 'x' },
				{ name: 'media_file', fileName: 'a.wav', patternBytes: 100_000 },
			],
			{ boundary },
		).toBuffer();
		const fileStart = body.indexOf('\r\n\r\n', body.indexOf('filename')) + 4;
		const parser = new MultipartParser(boundary);
		parser.write(body.subarray(0, fileStart + 30_000));
		const record = parser.abort('the client went away');
		expect(record.complete).toBe(false);
		expect(record.error).toBe('the client went away');
		expect(record.fields).toEqual({ project_name: 'x' });
		expect(record.files).toHaveLength(1);
		expect(record.files[0].bytes).toBe(30_000);
		expect(record.files[0].sha256).toBe(sha256(streamPattern(0, 30_000)));
		// Nothing more is taken after the end.
		parser.write(body.subarray(fileStart + 30_000));
		expect(parser.record.files[0].bytes).toBe(30_000);
	});

	it("reads bodies encoded by undici (Node's own fetch FormData), fields and binary file alike", async () => {
		const file = trickyFile('whatever');
		const form = new FormData();
		form.append('project_name', 'Mix — été 🎵');
		form.append(
			'media_file',
			new Blob([new Uint8Array(file)], { type: 'audio/flac' }),
			'song.flac',
		);
		form.append('folder_id', '7');
		const request = new Request('http://127.0.0.1/', { method: 'POST', body: form });
		const contentType = request.headers.get('content-type') ?? undefined;
		expect(isMultipartFormData(contentType)).toBe(true);
		const boundary = boundaryOf(contentType) as string;
		const body = Buffer.from(await request.arrayBuffer());
		expect(parse(boundary, randomSplit(body, 7, 50))).toEqual({
			fields: { project_name: 'Mix — été 🎵', folder_id: '7' },
			files: [
				{
					field: 'media_file',
					fileName: 'song.flac',
					contentType: 'audio/flac',
					bytes: file.length,
					sha256: sha256(file),
				},
			],
			complete: true,
		});
	});
});

describe('content-type helpers', () => {
	it('recognise multipart/form-data and find its boundary, quoted or not', () => {
		expect(isMultipartFormData('Multipart/Form-Data; boundary=x')).toBe(true);
		expect(isMultipartFormData('multipart/mixed; boundary=x')).toBe(false);
		expect(isMultipartFormData(undefined)).toBe(false);
		expect(boundaryOf('multipart/form-data; boundary=abc')).toBe('abc');
		expect(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b;c"')).toBe('a b;c');
		expect(boundaryOf('multipart/form-data')).toBeUndefined();
		expect(boundaryOf('multipart/form-data; boundary=')).toBeUndefined();
	});
});

describe('multipartBody()', () => {
	it('states its exact length, and streams the same bytes it builds in memory', async () => {
		const body = multipartBody([
			{ name: 'project_name', value: 'é' },
			{ name: 'media_file', fileName: 'a.bin', patternBytes: 300_001 },
		]);
		const whole = body.toBuffer();
		expect(whole.length).toBe(body.contentLength);
		expect(body.contentType).toBe(`multipart/form-data; boundary=${body.boundary}`);
		const streamed: Buffer[] = [];
		for await (const chunk of body.stream(4099)) streamed.push(chunk as Buffer);
		expect(Buffer.concat(streamed).equals(whole)).toBe(true);
		expect(parse(body.boundary, [whole]).files[0]).toEqual({
			field: 'media_file',
			fileName: 'a.bin',
			contentType: 'application/octet-stream',
			bytes: 300_001,
			sha256: patternSha256(300_001),
		});
	});

	it('picks a new random boundary each time unless one is given', () => {
		expect(multipartBody([]).boundary).not.toBe(multipartBody([]).boundary);
		expect(multipartBody([], { boundary: 'fixed' }).toBuffer().toString()).toBe('--fixed--\r\n');
	});
});

describe('uploadProblems()', () => {
	const file = Buffer.from('RIFF....WAVE');
	const good = () => ({
		method: 'POST',
		path: '/audio-separation',
		bodyComplete: true,
		multipart: {
			fields: { project_name: 'p' },
			files: [
				{
					field: 'media_file',
					fileName: 'a.wav',
					contentType: 'audio/wav',
					bytes: file.length,
					sha256: sha256(file),
				},
			],
			complete: true,
		} as MultipartRecord,
	});
	const want = {
		fields: { project_name: 'p' },
		file: { fileName: 'a.wav', contentType: 'audio/wav', data: file },
	};

	it('finds nothing wrong with a matching upload', () => {
		expect(uploadProblems(good(), want)).toEqual([]);
		expect(uploadProblems(good(), { file: { sha256: sha256(file), bytes: file.length } })).toEqual(
			[],
		);
	});

	it('names every difference', () => {
		const changed = good();
		changed.bodyComplete = false;
		changed.multipart.complete = false;
		changed.multipart.error = 'cut';
		changed.multipart.fields.folder_id = '1';
		changed.multipart.files[0].fileName = 'b.wav';
		changed.multipart.files[0].contentType = 'application/octet-stream';
		changed.multipart.files[0].bytes += 1;
		changed.multipart.files[0].sha256 = sha256(Buffer.from('other'));
		const problems = uploadProblems(changed, want);
		expect(problems).toEqual([
			expect.stringMatching(/did not arrive whole/),
			expect.stringMatching(/multipart incomplete: cut/),
			expect.stringMatching(/^fields .*folder_id/),
			expect.stringMatching(/^fileName "b.wav", expected "a.wav"/),
			expect.stringMatching(/^contentType/),
			expect.stringMatching(/^file is 13 bytes, expected 12/),
			expect.stringMatching(/^file sha256/),
		]);
	});

	it('wants exactly one file in the field, and says when there are others', () => {
		const none = good();
		none.multipart.files = [];
		expect(uploadProblems(none, want)).toEqual(['0 files in "media_file", expected 1']);
		const two = good();
		two.multipart.files.push({ ...two.multipart.files[0] });
		expect(uploadProblems(two, want)).toEqual(['2 files in "media_file", expected 1']);
		const extra = good();
		extra.multipart.files.push({ ...extra.multipart.files[0], field: 'cover' });
		expect(uploadProblems(extra, want)).toEqual(['1 more file(s) in other fields']);
		expect(uploadProblems({ ...good(), multipart: undefined }, want)).toEqual([
			'POST /audio-separation is not multipart/form-data',
		]);
	});
});
