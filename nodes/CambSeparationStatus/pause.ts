/**
 * An abortable pause that works with the n8n-workflow of every n8n the node runs in: n8n 1.x
 * exports `sleepWithAbort(ms, signal)`; n8n 2.x dropped it and lets `sleep(ms, signal)` take the
 * signal instead. Either way the timer is cleared the moment the execution is canceled.
 */
import * as n8nWorkflow from 'n8n-workflow';

type AbortableSleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
	const { sleepWithAbort } = n8nWorkflow as { sleepWithAbort?: AbortableSleep };
	const sleep = sleepWithAbort ?? (n8nWorkflow.sleep as AbortableSleep);
	await sleep(ms, signal);
}
