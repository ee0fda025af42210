/**
 * Downloads from the storage host that serves the stems: pre-signed links fetched WITHOUT the
 * API key, behind a gate of their own, the body handed on as a stream.
 */
import type { IDataObject, IExecuteFunctions, IN8nHttpFullResponse } from 'n8n-workflow';

import { unexpectedAnswer } from '../errors';
import { describe, errorStatus, type Attempt } from './attempt';
import type { Gate } from './gate';
import { readStart, type Readable } from './readAnswer';
import type { Retrier } from './retrying';

export interface StorageHost {
	ctx: IExecuteFunctions;
	retrier: Retrier;
	gate: Gate;
	timeoutMs: number;
}

export async function download<T>(
	host: StorageHost,
	itemIndex: number,
	url: string,
	store: (body: Readable, headers: IDataObject) => Promise<T>,
): Promise<T> {
	const { ctx, timeoutMs } = host;
	const label = `GET ${new URL(url).origin}${new URL(url).pathname}`;
	const send = async (): Promise<Attempt<T>> => {
		// Plain httpRequest: the storage link is pre-signed and must never see the API key.
		const response = (await ctx.helpers.httpRequest({
			method: 'GET',
			url,
			encoding: 'stream',
			timeout: timeoutMs,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
		})) as IN8nHttpFullResponse;
		const body = response.body as Readable;
		if (response.statusCode < 200 || response.statusCode >= 300) {
			return errorStatus(response.statusCode, response.headers, await readStart(body));
		}
		return {
			kind: 'done',
			statusCode: response.statusCode,
			value: await store(body, response.headers),
		};
	};
	return await host.retrier.run(host.gate, {
		itemIndex,
		label,
		who: 'The storage host',
		send,
		refuse: (answer) =>
			unexpectedAnswer(
				itemIndex,
				[403, 404, 410].includes(answer.statusCode)
					? `The stem link has expired or the file is gone (HTTP ${answer.statusCode})`
					: `The storage host answered ${label}`,
				{ statusCode: answer.statusCode, problem: describe(answer) },
				'Stem links are pre-signed and expire. Run the check again to get fresh links.',
			),
	});
}
