/**
 * An abortable pause that works with the n8n-workflow of every n8n the node runs in: n8n 1.x
 * exports `sleepWithAbort(ms, signal)`; n8n 2.x dropped it and lets `sleep(ms, signal)` take the
 * signal instead. Either way the timer is cleared the moment the execution is cancelled.
 */
import * as n8nWorkflow from 'n8n-workflow';

type AbortableSleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
	const { sleepWithAbort } = n8nWorkflow as { sleepWithAbort?: AbortableSleep };
	const sleep = sleepWithAbort ?? (n8nWorkflow.sleep as AbortableSleep);
	if (!signal) return await sleep(ms);
	// 1.x's sleepWithAbort never removes its listener: give it a signal of its own, and take ours
	// off the execution's signal when the pause ends, so thousands of pauses leave nothing behind.
	const own = new AbortController();
	const forward = () => own.abort(signal.reason);
	signal.addEventListener('abort', forward, { once: true });
	try {
		if (signal.aborted) forward();
		await sleep(ms, own.signal);
	} finally {
		signal.removeEventListener('abort', forward);
	}
}
