/**
 * Untrusted text, from CAMB.AI or the user: JSON that may not parse, control characters found or
 * replaced, and short quotes safe to put in a message.
 */

/** The parsed value, or undefined when the text is no JSON (JSON has no undefined). */
export function readJson(text: string): unknown {
	try {
		return JSON.parse(text) as unknown;
	} catch {
		return undefined;
	}
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** C0 and C1 controls, DEL, and Unicode's line and paragraph separators: the one list of them. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function hasControlCharacters(text: string): boolean {
	return CONTROL_CHARACTERS.test(text);
}

/** Each run of control characters replaced by `by`. */
export function replaceControlCharacters(text: string, by: string): string {
	return text.replace(new RegExp(`${CONTROL_CHARACTERS.source}+`, 'g'), by);
}

const EXCERPT_LENGTH = 120;

/** A short, single-line quote of what the server sent, safe to put in an error message. */
export function excerpt(text: string): string {
	const oneLine = replaceControlCharacters(text, ' ').trim();
	if (!oneLine) return '(empty body)';
	return oneLine.length > EXCERPT_LENGTH ? `${oneLine.slice(0, EXCERPT_LENGTH)}…` : oneLine;
}

/** An excerpt of a parsed value; a value too deep to print is described, not thrown on. */
export function quote(value: unknown): string {
	try {
		return excerpt(JSON.stringify(value) ?? String(value));
	} catch {
		return '(too deeply nested to quote)';
	}
}
