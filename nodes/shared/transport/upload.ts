/**
 * Uploads to CAMB.AI: one multipart POST per item, through the same gate, retry loop and
 * credential as every other CAMB request. A POST is not idempotent: it is sent again only after
 * failures that show CAMB.AI cannot have taken it (retryPolicy's mayHaveCreatedTask), unless the
 * user allowed retrying uploads that may have arrived.
 *
 * Request Timeout is an idle time-out here: an upload fails only when the connection takes no
 * bytes for that long, and then CAMB.AI has that long again to answer after the last byte. n8n's
 * own `timeout` option cannot say this (it bounds the whole request until the answer's headers
 * arrive), so a streamed upload is watched by the execution's watchdog instead, and a stall fails
 * the body, which tears the request down. A file held in memory (n8n's in-memory binary mode) is
 * handed to the connection in one piece: no progress can be seen, so n8n's time-out bounds it.
 */
import { cancelledError, uploadMayHaveArrived } from '../errors';
import { describe, networkProblem, type Attempt } from './attempt';
import { judge, refusal, sendToCamb, type CambAnswer, type CambHost } from './camb';
import { multipartBody, type FilePart } from './multipart';
import { isCancelled } from './retrying';
import { mayHaveCreatedTask } from './retryPolicy';

export interface Upload {
	/** Path below the base URL (see cambApi.ts). */
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
	const { retrier } = host;
	const label = `POST ${upload.path} of "${upload.file.fileName}"`;
	return await retrier.run(host.gate, {
		itemIndex,
		label,
		who: 'CAMB.AI',
		send: async () => await sendOnce(host, upload),
		mustNotRepeat: (failed) =>
			!upload.retryIfMayHaveArrived && mayHaveCreatedTask(failed)
				? uploadMayHaveArrived(itemIndex, upload.file.fileName, {
						statusCode: failed.kind === 'error status' ? failed.statusCode : undefined,
						problem: describe(failed),
					})
				: undefined,
		refuse: refusal(
			itemIndex,
			`CAMB.AI refused the upload of item ${itemIndex} ("${upload.file.fileName}")`,
		),
	});
}

/**
 * One attempt, under an idle watch from the first byte to the answer's headers (then readCapped
 * watches the answer's body). A failure says whether the connection had taken the last byte:
 * before that, CAMB.AI cannot have the whole file.
 */
async function sendOnce(host: CambHost, upload: Upload): Promise<Attempt<CambAnswer>> {
	const { ctx, timeoutMs } = host;
	const watch = host.watchdog.watch();
	let lastByteTaken = false;
	let answered = (): void => {};
	const answer = new Promise<void>((resolve) => (answered = resolve));
	const end = Promise.race([answer, watch.stalled]);
	// Awaited only by a body that got to its end.
	end.catch(() => {});
	// Built afresh for each attempt: a stream can be read only once.
	const { body, headers } = await multipartBody(upload.fields, upload.file, {
		taken: () => watch.progressed(),
		lastByteTaken: () => {
			lastByteTaken = true;
			watch.progressed();
		},
		end,
	});
	const inMemory = Buffer.isBuffer(body);
	if (inMemory) {
		watch.stop();
		lastByteTaken = true;
	}
	let stalled: string | undefined;
	watch.stalled.catch((error: Error) => {
		const seconds = Math.round(timeoutMs / 1000);
		stalled = lastByteTaken
			? `CAMB.AI did not answer within ${seconds} s of the last byte of the upload`
			: `the upload stalled: the connection took no bytes for ${seconds} s`;
		if (!inMemory) body.destroy(error);
	});
	let response;
	try {
		response = await sendToCamb(host, {
			method: 'POST',
			url: `${host.baseUrl}${upload.path}`,
			body,
			headers: { ...headers, accept: 'application/json' },
			encoding: 'stream',
			// n8n's time-out bounds the whole request until the answer's headers: only for a body whose
			// progress cannot be seen. 0 turns it off (left out, n8n's default of 300 s would apply).
			timeout: inMemory ? timeoutMs : 0,
			ignoreHttpStatusErrors: true,
			disableFollowRedirect: true,
		});
	} catch (error) {
		if (!inMemory) body.destroy();
		if (isCancelled(ctx)) throw cancelledError();
		const problem = stalled ? { code: 'ETIMEDOUT', message: stalled } : networkProblem(error);
		return { kind: 'network', ...problem, ...(lastByteTaken ? {} : { beforeLastByte: true }) };
	} finally {
		watch.stop();
		// The request's writing side may end now: every byte is out, or the attempt is over.
		answered();
	}
	return await judge(host, response, (statusCode) => statusCode >= 200 && statusCode < 300);
}
