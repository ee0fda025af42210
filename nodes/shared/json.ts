/** Reading untrusted answers from CAMB.AI: JSON that may not parse, text to quote in a message. */

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
	try {
		return { ok: true, value: JSON.parse(text) };
	} catch {
		return { ok: false };
	}
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const EXCERPT_LENGTH = 120;

/** A short, single-line quote of what the server sent, safe to put in an error message. */
export function excerpt(text: string): string {
	// eslint-disable-next-line no-control-regex
	const oneLine = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
	if (!oneLine) return '(empty body)';
	return oneLine.length > EXCERPT_LENGTH ? `${oneLine.slice(0, EXCERPT_LENGTH)}…` : oneLine;
}
