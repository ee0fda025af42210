/**
 * The pause must be abortable on both n8n-workflow APIs: 1.x's sleepWithAbort, and 2.x's
 * sleep(ms, signal) once sleepWithAbort is gone (a missing export broke waiting in n8n 2.x).
 */
describe('pause', () => {
	afterEach(() => {
		jest.resetModules();
		jest.dontMock('n8n-workflow');
	});

	it('uses sleepWithAbort where n8n-workflow has it (n8n 1.x), and is aborted by the signal', async () => {
		const { pause } = await import('../../nodes/shared/pause');
		const controller = new AbortController();
		const started = Date.now();
		const paused = pause(10_000, controller.signal);
		setTimeout(() => controller.abort(), 50);
		await expect(paused).rejects.toBeDefined();
		expect(Date.now() - started).toBeLessThan(1000);
	});

	it('hands the signal to sleep where sleepWithAbort is gone (n8n 2.x)', async () => {
		const sleep = jest.fn(async () => undefined);
		jest.doMock('n8n-workflow', () => ({ sleep }));
		const { pause } = await import('../../nodes/shared/pause');
		const signal = new AbortController().signal;
		await pause(1234, signal);
		expect(sleep).toHaveBeenCalledWith(1234, signal);
	});
});
