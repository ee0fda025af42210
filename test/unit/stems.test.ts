/** The stem file's name and MIME type, from the storage link and the storage host's headers. */
import { stemFileName, stemMimeType } from '../../nodes/CambSeparationStatus/stems';

describe('stemFileName', () => {
	it('takes the last path segment, decoded', () => {
		expect(
			stemFileName('https://s.example/runs/7/fg_audio.flac?X-Amz-Signature=abc', 'foreground'),
		).toBe('fg_audio.flac');
		expect(stemFileName('https://s.example/my%20song.wav', 'foreground')).toBe('my song.wav');
	});
	it('never returns a path or an empty name', () => {
		expect(stemFileName('https://s.example/', 'background')).toBe('background.flac');
		expect(stemFileName('https://s.example/a%2F..%2Fb.flac', 'background')).toBe('a_.._b.flac');
		expect(stemFileName('https://s.example/%2e%2e', 'background')).toBe('background.flac');
		expect(stemFileName('https://s.example/%E0%A4%A', 'background')).toBe('%E0%A4%A');
	});
});

describe('stemMimeType', () => {
	it('uses the Content-Type unless it only says bytes', () => {
		expect(stemMimeType({ 'Content-Type': 'audio/x-flac; charset=binary' }, 'a.flac')).toBe(
			'audio/x-flac',
		);
		expect(stemMimeType({ 'content-type': 'application/octet-stream' }, 'a.flac')).toBe(
			'audio/flac',
		);
		expect(stemMimeType({}, 'a.WAV')).toBe('audio/wav');
		expect(stemMimeType({}, 'a.mp3')).toBe('audio/mpeg');
		expect(stemMimeType({}, 'noext')).toBe('application/octet-stream');
	});
});
