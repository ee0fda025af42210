/**
 * Checks the two user inputs that decide where a request goes: the task id (a path segment)
 * and the credential's base URL. Pure: each returns the clean value or a problem to report,
 * so a crafted id can never reach another path and the key never leaves over plain HTTP.
 */
import { hasControlCharacters } from './json';

export type Validated<T> = { ok: true; value: T } | { ok: false; problem: string };

/** CAMB task ids are UUIDs; anything far longer is a wrong field, not an id. */
const MAX_TASK_ID_LENGTH = 200;

export function checkTaskId(raw: unknown): Validated<string> {
	if (raw === undefined || raw === null) return fail('is empty (the expression gave nothing)');
	if (typeof raw === 'number') {
		return Number.isSafeInteger(raw) && raw >= 0
			? ok(String(raw))
			: fail(`is the number ${raw}, not a task id`);
	}
	if (typeof raw !== 'string')
		return fail(`must be text, but is ${Array.isArray(raw) ? 'a list' : `of type ${typeof raw}`}`);

	const id = raw.trim();
	if (!id) return fail('is empty');
	if (id.length > MAX_TASK_ID_LENGTH)
		return fail(`is ${id.length} characters long; task ids are far shorter`);
	if (hasControlCharacters(id)) return fail('contains control characters (such as line breaks)');
	// "." and ".." would be resolved away by URL parsing, even when percent-encoded.
	if (id === '.' || id === '..') return fail(`is "${id}", which is not a task id`);
	if (!isWellFormedUnicode(id)) return fail('contains broken Unicode');
	return ok(id);
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

function isLoopbackHost(hostname: string): boolean {
	return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Returns the base URL without a trailing slash, ready to have a path appended. */
export function checkBaseUrl(raw: unknown): Validated<string> {
	if (typeof raw !== 'string' || !raw.trim()) return fail('is empty');
	let url: URL;
	try {
		url = new URL(raw.trim());
	} catch {
		// Not quoted: a key pasted into the wrong field would end up in the execution data.
		return fail('is not a URL; it must look like https://client.camb.ai/apis');
	}
	if (url.username || url.password) return fail('must not contain a user name or password');
	if (url.search || url.hash) return fail('must not contain a query (?) or fragment (#)');
	if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
		return fail(
			'uses plain http:// to a host that is not this machine; the API key would travel unencrypted. Use https://, or http:// only for localhost',
		);
	}
	if (url.protocol !== 'https:' && url.protocol !== 'http:')
		return fail(`must start with https://, not ${url.protocol}//`);
	return ok(`${url.origin}${url.pathname.replace(/\/+$/, '')}`);
}

function isWellFormedUnicode(text: string): boolean {
	try {
		encodeURIComponent(text);
		return true;
	} catch {
		return false;
	}
}

function ok<T>(value: T): Validated<T> {
	return { ok: true, value };
}

function fail<T>(problem: string): Validated<T> {
	return { ok: false, problem };
}
