/**
 * Runs the newcomer's main job, `npm run demo`, and holds it to what the README says it shows:
 * every state on its output with its reason, links and stems on finished tasks, a summary.
 */
import { DEMO_TASKS, DEMO_UPLOAD, demoRecording } from '../fixtures/demoScenario';
import { runDemo, type DemoReport } from './demo';

let report: DemoReport;
beforeAll(async () => {
	report = await runDemo();
});

const byOutput = (name: string) =>
	DEMO_TASKS.filter((task) => task.expected === name).map((task) => task.task_id);

it('submits the recording, follows its task to Success and downloads both stems', () => {
	const { pipeline } = report;
	expect(pipeline.run.error).toBeUndefined();
	expect(pipeline.submitted.map((item) => item.json.task_id)).toEqual([DEMO_UPLOAD.taskId]);
	expect(pipeline.success).toHaveLength(1);
	const [done] = pipeline.success;
	expect(done.json).toMatchObject({
		task_id: DEMO_UPLOAD.taskId,
		run_id: DEMO_UPLOAD.runId,
		check_count: 2,
	});
	expect(done.binary?.foreground).toMatchObject({
		fileName: 'fg_audio.flac',
		mimeType: 'audio/flac',
	});
	expect(done.binary?.background).toMatchObject({
		fileName: 'bg_audio.flac',
		mimeType: 'audio/flac',
	});
	// The uploaded recording does not travel on: only the two stems are on the item.
	expect(Object.keys(done.binary ?? {}).sort()).toEqual(['background', 'foreground']);
	const printed = report.lines.join('\n');
	expect(printed).toContain(
		`${DEMO_UPLOAD.fileName} (${demoRecording().length} bytes) -> Camb Separate Audio`,
	);
	expect(printed).toContain(`submitted: task_id ${DEMO_UPLOAD.taskId}`);
	expect(printed).toContain(
		`Success after 2 checks: task ${DEMO_UPLOAD.taskId}, run_id ${DEMO_UPLOAD.runId}`,
	);
	expect(printed).not.toContain('NOT separated');
});

it('routes every demo task to the output the README gives it, in input order', () => {
	const { success, pending, failure, run } = report.run;
	expect(run.error).toBeUndefined();
	expect(success.map((item) => item.json.task_id)).toEqual(byOutput('Success'));
	expect(pending.map((item) => item.json.task_id)).toEqual(byOutput('Pending'));
	expect(failure.map((item) => item.json.task_id)).toEqual(byOutput('Failure'));
	expect(failure.map((item) => item.json.reason)).toEqual(
		DEMO_TASKS.filter((task) => task.reason).map((task) => task.reason),
	);
});

it('shows result links and downloaded stems for every finished task with a run', () => {
	for (const task of DEMO_TASKS.filter((t) => t.stems)) {
		const item = report.run.success.find((i) => i.json.task_id === task.task_id);
		expect(item?.json.foreground_audio_url).toMatch(/\/runs\/\d+\/fg_audio\.flac\?/);
		expect(item?.binary?.foreground).toMatchObject({
			fileName: 'fg_audio.flac',
			mimeType: 'audio/flac',
		});
		expect(item?.binary?.background).toMatchObject({
			fileName: 'bg_audio.flac',
			mimeType: 'audio/flac',
		});
		const printed = report.lines.join('\n');
		expect(printed).toContain(`foreground_audio_url: ${String(item?.json.foreground_audio_url)}`);
		expect(printed).toMatch(new RegExp(`stem "foreground": fg_audio\\.flac, audio/flac, \\d`));
	}
});

it('prints each output with its count, every reason, and a summary line last', () => {
	const printed = report.lines.join('\n');
	expect(printed).toContain(`Success (${byOutput('Success').length})`);
	expect(printed).toContain(`Pending (${byOutput('Pending').length})`);
	expect(printed).toContain(`Failure (${byOutput('Failure').length})`);
	for (const task of DEMO_TASKS)
		if (task.reason)
			expect(printed).toMatch(new RegExp(`${task.task_id} .* reason ${task.reason}`));
	expect(printed).toContain('next_check_in_seconds: ');
	expect(report.lines[report.lines.length - 1]).toBe(report.summary);
	expect(report.summary).toMatch(
		/^Summary: 1 recording submitted and 1 separated; 10 tasks in, 10 out: 3 Success, 1 Pending, 6 Failure; 6 stems downloaded, in \d+\.\d s\.$/,
	);
	expect(printed).toContain('Storage host: 6 downloads, 0 with the key.');
});
