/**
 * The e2e runner itself: parsing `n8n execute --rawOutput`, and the promise that no n8n process
 * (nor a task runner it started) outlives a run that went over its time limit.
 */
import * as fs from 'node:fs';

import { groupGone, N8nProcessError, parseRunJson, startSession, type Major } from './n8n';

const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const pretty = (value: unknown) => JSON.stringify(value, null, 2);
const aRun = {
	data: { resultData: { runData: { Start: [] }, error: { message: 'a } in a string {' } } },
	status: 'error',
};

describe('parseRunJson', () => {
	it('reads the run that 1.x prints after "Execution was NOT successful"', () => {
		const stdout = [
			'Execution was NOT successful. See log message for details.',
			'Execution error:',
			'====================================',
			pretty(aRun),
			'Error executing workflow. See log messages for details.',
			'',
			'Execution error:',
			'====================================',
			'a } in a string {',
		].join('\n');
		expect(parseRunJson(stdout)).toEqual(aRun);
	});

	it('skips the log lines 2.x prints first, and objects that are not a run', () => {
		const stdout = [
			'n8n Task Broker ready on 127.0.0.1, port 40000',
			pretty({ not: 'a run' }),
			pretty(aRun),
			'',
		].join('\n');
		expect(parseRunJson(stdout)).toEqual(aRun);
	});

	it('gives undefined when there is no run', () => {
		expect(parseRunJson('Error: something broke before the run\n{\n')).toBeUndefined();
	});
});

describeE2e.each(['1', '2'] as Major[])('n8n %s.x runner', (major) => {
	it('kills a run that goes over its time limit, with its whole process group, and close() removes the user folder', async () => {
		const session = await startSession(major);
		const workflow = {
			name: 'sleeps past the limit',
			nodes: [
				{
					id: 'r1',
					name: 'Start',
					type: 'n8n-nodes-base.manualTrigger',
					typeVersion: 1,
					position: [0, 0],
					parameters: {},
				},
				// A Code node makes 2.x start its JS task runner, a child process that must die too.
				{
					id: 'r2',
					name: 'Code',
					type: 'n8n-nodes-base.code',
					typeVersion: 2,
					position: [200, 0],
					parameters: { jsCode: 'return [{ json: {} }];' },
				},
				{
					id: 'r3',
					name: 'Wait',
					type: 'n8n-nodes-base.wait',
					typeVersion: 1.1,
					position: [400, 0],
					webhookId: '6f0f5a4e-8c1d-4e2b-9a3f-1b2c3d4e5f60',
					parameters: { resume: 'timeInterval', amount: 60, unit: 'seconds' },
				},
			],
			connections: {
				Start: { main: [[{ node: 'Code', type: 'main', index: 0 }]] },
				Code: { main: [[{ node: 'Wait', type: 'main', index: 0 }]] },
			},
			settings: { executionOrder: 'v1' },
		};
		try {
			const error = await session.run(workflow, { timeoutMs: 12_000 }).then(
				() => undefined,
				(thrown: unknown) => thrown,
			);
			expect(error).toBeInstanceOf(N8nProcessError);
			const { result } = error as N8nProcessError;
			expect(result.timedOut).toBe(true);
			expect(result.durationMs).toBeLessThan(30_000);
			expect(result.pid).toBeDefined();
			// SIGKILL is delivered asynchronously: give the kernel a moment, then nothing may be left.
			expect(await groupGone(result.pid as number)).toEqual([]);
		} finally {
			await session.close();
		}
		if (process.env.CAMB_E2E_KEEP !== '1') expect(fs.existsSync(session.userFolder)).toBe(false);
	});
});
