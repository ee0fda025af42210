/**
 * CAMB.AI's API as cambApi.ts names it: the status path a checked id becomes, and the stem links
 * read from a result answer.
 */
import { resultUrlsIn, statusPath } from '../../nodes/shared/transport/cambApi';

describe('statusPath', () => {
	it('makes the id exactly one encoded segment', () => {
		expect(statusPath('abc')).toBe('/audio-separation/abc');
		expect(statusPath('../list-voices')).toBe('/audio-separation/..%2Flist-voices');
		expect(statusPath('a?b#c%d')).toBe('/audio-separation/a%3Fb%23c%25d');
		expect(statusPath('a b')).toBe('/audio-separation/a%20b');
	});
});

describe('resultUrlsIn', () => {
	const urls = {
		foreground_audio_url: 'https://s.example/a/fg_audio.flac?sig=1',
		background_audio_url: 'http://127.0.0.1:9/bg_audio.flac',
	};
	it('takes both http(s) links', () => {
		expect(resultUrlsIn({ ...urls, extra: 1 })).toEqual(urls);
	});
	it.each([
		[{ foreground_audio_url: urls.foreground_audio_url }],
		[{ ...urls, background_audio_url: 'file:///etc/passwd' }],
		[{ ...urls, foreground_audio_url: 'javascript:alert(1)' }],
		[{ ...urls, foreground_audio_url: 'ftp://s.example/x' }],
		[{ ...urls, foreground_audio_url: 'not a url' }],
		[{ ...urls, foreground_audio_url: 42 }],
		[null],
		['https://s.example/x'],
		[[urls]],
	])('refuses %j', (value) => expect(resultUrlsIn(value)).toBeUndefined());
});
