/** checkTaskId and checkBaseUrl: the input that is refused before any request, with the reason. */
import { checkBaseUrl, checkTaskId } from '../../nodes/shared/validate';

describe('checkTaskId', () => {
	it.each([
		['a1b2c3d4-e5f6-7890-abcd-ef0123456789', 'a1b2c3d4-e5f6-7890-abcd-ef0123456789'],
		['  abc  ', 'abc'],
		[12345, '12345'],
		['../list-voices', '../list-voices'],
		['a?b#c', 'a?b#c'],
		['tâsk', 'tâsk'],
		['...', '...'],
	])('accepts %j as %j', (raw, id) => expect(checkTaskId(raw)).toEqual({ ok: true, value: id }));

	it.each([
		[undefined, /empty/],
		[null, /empty/],
		['', /empty/],
		['   ', /empty/],
		['a\nb', /control characters/],
		['a\r\nb', /control characters/],
		['a\u0000b', /control characters/],
		['a\u0085b', /control characters/],
		['.', /not a task id/],
		['..', /not a task id/],
		['x'.repeat(201), /characters long/],
		['\ud800', /broken Unicode/],
		[{ id: 1 }, /must be text, but is of type object/],
		[['a'], /must be text, but is a list/],
		[true, /of type boolean/],
		[1.5, /number 1.5/],
		[-1, /number -1/],
		[NaN, /number NaN/],
	])('rejects %j', (raw, problem) => {
		const checked = checkTaskId(raw);
		expect(checked.ok).toBe(false);
		expect((checked as { problem: string }).problem).toMatch(problem);
	});
});

describe('checkBaseUrl', () => {
	it.each([
		['https://client.camb.ai/apis', 'https://client.camb.ai/apis'],
		['https://client.camb.ai/apis/', 'https://client.camb.ai/apis'],
		['https://proxy.example.com', 'https://proxy.example.com'],
		['http://127.0.0.1:8080/apis', 'http://127.0.0.1:8080/apis'],
		['http://localhost:3000', 'http://localhost:3000'],
		['http://[::1]:3000/x/', 'http://[::1]:3000/x'],
		['  HTTPS://Client.Camb.AI/apis  ', 'https://client.camb.ai/apis'],
	])('accepts %s', (raw, url) => expect(checkBaseUrl(raw)).toEqual({ ok: true, value: url }));

	it.each([
		['', /empty/],
		[undefined, /empty/],
		['client.camb.ai/apis', /not a URL/],
		['ftp://client.camb.ai', /must start with https/],
		['file:///etc/passwd', /must start with https/],
		['http://client.camb.ai/apis', /unencrypted/],
		['http://10.0.0.5/apis', /unencrypted/],
		['http://127.0.0.1.evil.example/apis', /unencrypted/],
		['https://user:pass@client.camb.ai/apis', /user name or password/],
		['https://client.camb.ai/apis?x=1', /query/],
		['https://client.camb.ai/apis#x', /fragment/],
	])('rejects %s', (raw, problem) => {
		const checked = checkBaseUrl(raw);
		expect(checked.ok).toBe(false);
		expect((checked as { problem: string }).problem).toMatch(problem);
	});
});
