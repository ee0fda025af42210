/**
 * CAMB.AI's audio separation API, named: every path this package calls and the reading of every
 * answer CAMB.AI sends. The nodes call these and never build a path or parse a CAMB body; a new
 * endpoint is one more function here. Verdicts on what an answer means are not made here (see
 * CambSeparationStatus/classifyStatus.ts).
 */
import { excerpt, isPlainObject, quote, readJson } from '../json';
import type { CambAnswer, CambClient } from './index';
import type { FilePart } from './multipart';

// ---- POST /audio-separation: submit a file ---------------------------------------------------

/** CAMB.AI's form field for the file. */
const MEDIA_FIELD = 'media_file';

/** The audio file to submit: the form field is CAMB.AI's business, set here. */
export type AudioUpload = Omit<FilePart, 'field'>;

export interface Submission {
	file: AudioUpload;
	/** CAMB.AI's optional form fields (project_name, project_description, folder_id). */
	fields: Record<string, string>;
	/** Retry after failures that may have created the task anyway (the user's choice). */
	retryIfMayHaveArrived: boolean;
}

/** The task CAMB.AI made for the file, or (no task id in its answer) the body to quote. */
export type Submitted = { taskId: string } | { noTaskId: string };

export async function submitSeparation(
	client: CambClient,
	itemIndex: number,
	submission: Submission,
): Promise<Submitted> {
	const answer = await client.upload(itemIndex, {
		path: '/audio-separation',
		...submission,
		file: { ...submission.file, field: MEDIA_FIELD },
	});
	const taskId = taskIdIn(answer.body);
	return taskId === undefined ? { noTaskId: answer.body } : { taskId };
}

/** CAMB.AI answers {"task_id": "..."}; a number is taken as its text. */
function taskIdIn(body: string): string | undefined {
	const parsed = readJson(body);
	if (!isPlainObject(parsed)) return undefined;
	const id = parsed.task_id;
	if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
	return typeof id === 'string' && id.trim() ? id.trim() : undefined;
}

// ---- GET /audio-separation/{task_id}: a task's status -----------------------------------------

/**
 * The status answer, whatever HTTP code it came with: 404 (no such task) and 422 (a malformed
 * id) are answers too, and so is 429 when `rateLimitIsAnAnswer` (a waiting caller slows down
 * instead of failing). `taskId` must be a checked id (validate.ts): it always travels as exactly
 * one encoded path segment.
 */
export async function getStatus(
	client: CambClient,
	itemIndex: number,
	taskId: string,
	rateLimitIsAnAnswer: boolean,
): Promise<CambAnswer> {
	return await client.request(itemIndex, {
		method: 'GET',
		path: statusPath(taskId),
		alsoAccepted: rateLimitIsAnAnswer ? [404, 422, 429] : [404, 422],
	});
}

/** The status path for a checked id: the id is always exactly one encoded path segment. */
export function statusPath(taskId: string): string {
	return `/audio-separation/${encodeURIComponent(taskId)}`;
}

/**
 * A status body as CAMB.AI sends it, in either known shape: a bare string ("SUCCESS"), or an
 * object with `status`, `run_id`, `exception_reason` and `message`.
 */
export interface StatusFields {
	status: string;
	runId?: number;
	exceptionReason?: string;
	cambMessage?: string;
}

/** The fields of a status body, or why it is no status (a problem to quote). */
export function readStatus(body: string): StatusFields | { problem: string } {
	const parsed = readJson(body);
	if (parsed === undefined) return { problem: `the answer is not JSON: ${excerpt(body)}` };
	if (typeof parsed === 'string') {
		return parsed.trim() ? { status: parsed.trim() } : { problem: 'the answer is an empty string' };
	}
	if (!isPlainObject(parsed)) return { problem: `the answer is not a status: ${quote(parsed)}` };
	const status = parsed.status;
	if (typeof status !== 'string' || !status.trim()) {
		return { problem: `the answer has no status: ${quote(parsed)}` };
	}
	return {
		status: status.trim(),
		runId: runIdOf(parsed.run_id),
		exceptionReason: nonEmptyString(parsed.exception_reason),
		cambMessage: messageText(parsed.message),
	};
}

/** What CAMB.AI said in an error body: FastAPI's `detail` (text or a list of {msg}), `error` or `message`. */
export function errorDetail(body: string): string | undefined {
	const parsed = readJson(body);
	if (!isPlainObject(parsed)) return undefined;
	const { detail, error, message } = parsed;
	const listed = Array.isArray(detail)
		? detail
				.map((entry) => (isPlainObject(entry) ? nonEmptyString(entry.msg) : undefined))
				.filter(Boolean)
				.join('; ')
		: undefined;
	return (
		nonEmptyString(detail) ??
		(listed || undefined) ??
		nonEmptyString(error) ??
		nonEmptyString(message)
	);
}

// ---- GET /audio-separation-result/{run_id} and POST /audio-separation-results: stem links -----

export interface ResultUrls {
	foreground_audio_url: string;
	background_audio_url: string;
}

/** One run's links; `notFound` when CAMB.AI has no result for the run (404); `noLinks`: the body. */
export type Result = { urls: ResultUrls } | { notFound: true } | { noLinks: string };

export async function getResult(
	client: CambClient,
	itemIndex: number,
	runId: number,
): Promise<Result> {
	const answer = await client.request(itemIndex, {
		method: 'GET',
		path: `/audio-separation-result/${runId}`,
		alsoAccepted: [404],
	});
	if (answer.statusCode === 404) return { notFound: true };
	const urls = resultUrlsIn(readJson(answer.body));
	return urls ? { urls } : { noLinks: answer.body };
}

// A bulk call answered with one of these means "not here": the caller asks per run instead.
const BULK_REFUSED = [400, 404, 405, 422, 501];

/**
 * The links of several runs in one request, by run id; runs the answer leaves out are missing
 * from the map, and a refused bulk call gives an empty map.
 */
export async function getResults(
	client: CambClient,
	itemIndex: number,
	runIds: number[],
): Promise<Map<number, ResultUrls>> {
	const found = new Map<number, ResultUrls>();
	const answer = await client.request(itemIndex, {
		method: 'POST',
		path: '/audio-separation-results',
		body: { run_ids: runIds },
		alsoAccepted: BULK_REFUSED,
	});
	if (answer.statusCode < 200 || answer.statusCode >= 300) return found;
	const parsed = readJson(answer.body);
	// CAMB documents a map run_id -> result; a list of results carrying run_id is accepted too.
	const entries: Array<[unknown, unknown]> = Array.isArray(parsed)
		? parsed.map((entry) => [isPlainObject(entry) ? entry.run_id : undefined, entry])
		: isPlainObject(parsed)
			? Object.entries(parsed)
			: [];
	for (const [runId, value] of entries) {
		const urls = resultUrlsIn(value);
		if (urls && /^\d+$/.test(String(runId))) found.set(Number(runId), urls);
	}
	return found;
}

/** Both links, and only http(s) ones: anything else is never followed. */
export function resultUrlsIn(value: unknown): ResultUrls | undefined {
	if (!isPlainObject(value)) return undefined;
	const foreground = value.foreground_audio_url;
	const background = value.background_audio_url;
	if (!isWebUrl(foreground) || !isWebUrl(background)) return undefined;
	return { foreground_audio_url: foreground, background_audio_url: background };
}

function isWebUrl(value: unknown): value is string {
	if (typeof value !== 'string') return false;
	try {
		const url = new URL(value);
		return url.protocol === 'https:' || url.protocol === 'http:';
	} catch {
		return false;
	}
}

// ---- small readers -----------------------------------------------------------------------------

function runIdOf(value: unknown): number | undefined {
	if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
	if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
	return undefined;
}

function messageText(value: unknown): string | undefined {
	if (typeof value === 'string') return nonEmptyString(value);
	if (isPlainObject(value)) return quote(value);
	return undefined;
}

function nonEmptyString(value: unknown): string | undefined {
	return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}
