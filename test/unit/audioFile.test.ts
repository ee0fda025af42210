/** checkAudioFile: which files Camb Separate Audio refuses before sending anything, and why. */
import { checkAudioFile } from '../../nodes/CambSeparateAudio/audioFile';

const on = { checkFormat: true };
const off = { checkFormat: false };

describe('checkAudioFile', () => {
	it.each([
		['take.mp3', 'audio/mpeg', 'mp3'],
		['take.MP3', 'audio/mp3', 'mp3'],
		['take.wav', 'audio/x-wav', 'wav'],
		['take.flac', 'application/octet-stream', 'flac'],
		['take.aac', undefined, 'aac'],
		[undefined, 'audio/flac', 'flac'],
		['take', 'audio/wav', 'wav'],
	])('accepts %s (%s) as %s', (fileName, mimeType, format) => {
		expect(checkAudioFile({ fileName, mimeType, size: 10 }, on)).toEqual({
			ok: true,
			value: format,
		});
	});

	it.each([
		['take.ogg', 'audio/ogg', /extension \.ogg; CAMB.AI takes AAC, FLAC, MP3 or WAV/],
		['take.mp4', 'audio/mpeg', /extension \.mp4/],
		['take.mp3', 'video/mp4', /of type video\/mp4/],
		['take.mp3', 'audio/wav', /says \.mp3 by its name but WAV by its type/],
		[undefined, undefined, /neither an extension nor a type/],
		['take', 'application/octet-stream', /neither an extension nor a type/],
	])('refuses %s (%s)', (fileName, mimeType, problem) => {
		const checked = checkAudioFile({ fileName, mimeType, size: 10 }, on);
		expect(checked.ok).toBe(false);
		expect(checked).toMatchObject({ problem: expect.stringMatching(problem) });
	});

	it('names the file and its type in the problem', () => {
		expect(checkAudioFile({ fileName: 'a.ogg', mimeType: 'audio/ogg' }, on)).toEqual({
			ok: false,
			problem: '"a.ogg" (audio/ogg) has the extension .ogg; CAMB.AI takes AAC, FLAC, MP3 or WAV',
		});
	});

	it('lets any format through when the check is off, but never an empty file', () => {
		expect(checkAudioFile({ fileName: 'a.ogg', mimeType: 'audio/ogg', size: 5 }, off)).toEqual({
			ok: true,
			value: undefined,
		});
		expect(checkAudioFile({ fileName: 'a.mp3', size: 0 }, off)).toEqual({
			ok: false,
			problem: 'is empty (0 bytes)',
		});
		expect(checkAudioFile({ fileName: 'a.mp3', size: 0 }, on).ok).toBe(false);
	});
});
