/**
 * Uploads to CAMB.AI: one multipart POST per item, through the same gate, retry loop and
 * credential as every other CAMB request. A POST is not idempotent: it is sent again only after
 * failures that show CAMB.AI cannot have taken it (retryPolicy's uploadNeverArrived), unless the
 * user allowed retrying uploads that may have arrived.
 */
import { keyRejected, unexpectedAnswer, uploadMayHaveArrived } from '../errors';
import { describe, type Attempt, type Failed } from './attempt';
import { sendToCamb, type CambAnswer, type CambHost } from './camb';
import { multipartBody, type FilePart } from './multipart';
import { readCapped } from './readAnswer';
import { uploadNeverArrived } from './retryPolicy';

export interface Upload {
	/** Path below the base URL, e.g. "/audio-separation". */
	path: string;
	fields: Record<string, string>;
	file: FilePart;
	/** Retry after failures that may have created the task anyway (the user's choice). */
	retryIfMayHaveArrived: boolean;
}

export async function uploadToCamb(
	host: CambHost,
	itemIndex: number,
	upload: Upload,
): Promise<CambAnswer> {
	const { ctx, retrier, timeoutMs } = host;
	const label = `POST ${upload.path} of "${upload.file.fileName}"`;
	const send = async (): Promise<Attempt<CambAnswer>> => {
		// Built afresh for each attempt: a stream can be read only once.
		const { body, headers } = await multipartBody(upload.fields, upload.file);
		const response = await sendToCamb(host, {
			method: 'POST',
			url: `${host.baseUrl}${upload.path}`,
			body,
			headers: { ...headers, accept: 'application/json' },
			encoding: 'stream',
			// An idle time-out: a large file keeps the connection busy while it uploads.
			timeout: timeoutMs,
			ignoreHttpStatusErrors: true,
			disableFollowRedirect: true,
		});
		const { statusCode } = response;
		const read = await readCapped(response.body, response.headers, host.watchdog);
		if ('oversized' in read) return { kind: 'oversized', statusCode, bytes: read.oversized };
		if (statusCode === 401 || statusCode === 403) retrier.keyRejectedWith(statusCode, read.text);
		if (statusCode >= 200 && statusCode < 300)
			return { kind: 'done', statusCode, value: { statusCode, body: read.text } };
		return { kind: 'error status', statusCode, body: read.text, headers: response.headers };
	};
	const mayHaveArrived = (failed: Failed) =>
		failed.kind !== 'oversized' &&
		!uploadNeverArrived(failed) &&
		// A rejected key or a refused request (4xx) took nothing: CAMB answered before creating a task.
		!(failed.kind === 'error status' && failed.statusCode < 500);
	return await retrier.run(host.gate, {
		itemIndex,
		label,
		who: 'CAMB.AI',
		send,
		mustNotRepeat: (failed) =>
			!upload.retryIfMayHaveArrived && mayHaveArrived(failed)
				? uploadMayHaveArrived(ctx, itemIndex, upload.file.fileName, {
						statusCode: failed.kind === 'error status' ? failed.statusCode : undefined,
						problem: describe(failed),
					})
				: undefined,
		refuse: (answer) =>
			answer.statusCode === 401 || answer.statusCode === 403
				? keyRejected(ctx, itemIndex, answer.statusCode, answer.body)
				: unexpectedAnswer(
						ctx,
						itemIndex,
						`CAMB.AI refused the upload of item ${itemIndex} ("${upload.file.fileName}")`,
						{
							statusCode: answer.statusCode,
							problem: describe(answer),
						},
					),
	});
}
