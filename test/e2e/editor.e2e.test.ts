/**
 * The canvas as a no-code user meets it, in a real browser (issue 23): Debian's Chromium driven by
 * playwright-core against REAL n8n 1.x and 2.x (`n8n start`) with the package installed as a
 * community package, the CAMB stand-ins on 127.0.0.1 (the browser may reach nothing else). One n8n
 * and one browser per major. The steps carry the numbers and run in that order: find the
 * nodes (1), set up the credential (2), configure the status node (3), run the demo (4), submit a
 * file (5), meet the errors (6); in 2.x, make the README's pictures (7, readmePictures.ts). Each
 * step leaves a screenshot in CAMB_E2E_SCREENSHOTS (default `test-results/editor/`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { INodeProperties } from 'n8n-workflow';
import type { Page } from 'playwright-core';

import { DEV_AUDIO_FILE, devCredential, devWorkflows, DEV_CREDENTIAL } from '../dev/devWorkflows';
import { properties as statusProperties } from '../../nodes/CambSeparationStatus/description';
import { API_KEY, STATUS_NODE_NAME, SUBMIT_NODE_NAME } from '../fixtures/package';
import { demoRecording, startDemoCamb, type DemoCamb } from '../fixtures/demoScenario';
import { launchEditorBrowser, setUpOwner, VIEWPORT, type EditorBrowser } from './editorBrowser';
import {
	addEveryOption,
	addNodeFromPanel,
	closeCredentialDialog,
	closeNode,
	createCredentialFromNode,
	executeWorkflow,
	newWorkflowWithNodesPanel,
	openNode,
	openWorkflow,
	optionsOffered,
	outputBranches,
	outputPanel,
	saveAndReadVerdict,
	searchNodes,
	listedNodes,
	untilPasses,
	setTheme,
	pickCredential,
	parameterTooltip,
	setSwitch,
	shownParameters,
	showOutput,
	typeInto,
	waitForItems,
} from './editorPage';
import {
	README_PICTURES,
	canvasPicture,
	keepForReadme,
	picturesInReadme,
	PICTURES_DIR,
} from './readmePictures';
import { statusNodeReadme } from './readmeTables';
import {
	installDebianPackages,
	loadExample,
	nodeNamed,
	REPO_DIR,
	startSession,
	type Json,
	type Major,
	type N8nServer,
	type N8nSession,
} from './n8n';

// jest.config.js (unit tests) matches *.test.ts too; this needs jest.e2e.config.js (n8n installed).
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const SCREENSHOTS =
	process.env.CAMB_E2E_SCREENSHOTS || path.join(REPO_DIR, 'test-results', 'editor');
const OWNER = {
	email: 'owner@example.com',
	firstName: 'Camb',
	lastName: 'Canvas',
	password: 'Editor-test-0wner',
};
const WRONG_KEY = 'camb-e2e-wrong-key-5d1c9a7e3f2b8064';
const WRONG_KEY_CREDENTIAL = { id: 'cambAiWrongKey01', name: 'CAMB.AI wrong key' };
/** What each major shows for the credential test, as credentialTest.e2e.test.ts found them. */
const CREDENTIAL_TEST_SAYS: Record<Major, { rejected: RegExp; unreachable: RegExp }> = {
	'1': {
		rejected: /Authorization failed - please check your credentials/,
		unreachable: /The connection cannot be established/,
	},
	'2': { rejected: /CAMB\.AI rejected the API key \(HTTP 401\)/, unreachable: /ENOTFOUND/ },
};
/** Parameters only an AI Agent's tool has: never on the canvas. */
const TOOL_ONLY = ['Description', 'Give Stem Links to the Model'];
const SEARCH_WORDS = ['camb', 'separation', 'stems'];
const BOTH_NODES = [SUBMIT_NODE_NAME, STATUS_NODE_NAME].sort();

function sortByName<T extends { name: string }>(nodes: T[]): T[] {
	return [...nodes].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The description each parameter and option of Camb Separation Status should show on the canvas
 * (tool-only parameters left out), by label, as text: what its description.ts says.
 */
function canvasDescriptions(): Record<string, string> {
	const text = (html = '') =>
		html
			.replace(/<[^>]+>/g, '')
			.replace(/\s+/g, ' ')
			.trim();
	const described: Record<string, string> = {};
	for (const property of statusProperties) {
		if (property.displayOptions?.show?.['@tool']) continue;
		const rows =
			property.type === 'collection' ? (property.options as INodeProperties[]) : [property];
		for (const row of rows) described[row.displayName] = text(row.description);
	}
	return described;
}

/** check-once-and-route.json fed with these task ids, under `name`, with `credential`. */
function errorWorkflow(
	name: string,
	taskIds: string[],
	credential: { id: string; name: string } = DEV_CREDENTIAL,
): Json {
	const workflow = loadExample('check-once-and-route.json');
	workflow.name = name;
	nodeNamed(workflow, 'Task IDs').parameters.jsCode =
		`return ${JSON.stringify(taskIds.map((task_id) => ({ json: { task_id } })))};`;
	nodeNamed(workflow, STATUS_NODE_NAME).credentials = {
		cambAiApi: { id: credential.id, name: credential.name },
	};
	return workflow;
}

describeE2e.each(['2', '1'] as Major[])('n8n %s.x editor in Chromium', (major) => {
	let demo: DemoCamb;
	let session: N8nSession;
	let server: N8nServer;
	let browser: EditorBrowser;
	let page: Page;
	let filesFolder: string;
	let workflowIds: Record<string, string>;
	const folder = path.join(SCREENSHOTS, `n8n${major}`);
	const shot = async (name: string) =>
		await page.screenshot({ path: path.join(folder, `${name}.png`), animations: 'disabled' });
	/** Runs a step; if it fails, the page as it was is kept as FAILED-<name>.png. */
	const step = (name: string, body: () => Promise<void>) => async () => {
		try {
			await body();
		} catch (error) {
			await shot(`FAILED-${name}`).catch(() => undefined);
			throw error;
		}
	};

	let startedAt = 0;

	beforeAll(async () => {
		startedAt = Date.now();
		console.log(`[editor] ${installDebianPackages('chromium')}`);
		fs.rmSync(folder, { recursive: true, force: true });
		fs.mkdirSync(folder, { recursive: true });
		demo = await startDemoCamb();
		filesFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-editor-files-'));
		fs.writeFileSync(path.join(filesFolder, DEV_AUDIO_FILE), demoRecording());
		session = await startSession(major, {
			env: {
				N8N_RESTRICT_FILE_ACCESS_TO: filesFolder,
				...(major === '2' ? { N8N_DISABLED_MODULES: 'mcp-registry' } : {}),
			},
		});
		await session.importCredentials([
			devCredential(demo),
			{
				...WRONG_KEY_CREDENTIAL,
				type: 'cambAiApi',
				data: { apiKey: WRONG_KEY, baseUrl: demo.camb.baseUrl },
			},
		]);
		const [demoWf, , , stemsWf] = devWorkflows(demo, filesFolder);
		const ids = await session.importWorkflows([
			demoWf,
			stemsWf,
			errorWorkflow('Errors: empty task id', ['sep-ready', '']),
			errorWorkflow('Errors: line break', ['sep-\nready']),
			errorWorkflow('Errors: rejected key', ['sep-ready'], WRONG_KEY_CREDENTIAL),
			loadExample('poll-until-done.json'),
		]);
		workflowIds = {
			demo: ids[0],
			stems: ids[1],
			empty: ids[2],
			lineBreak: ids[3],
			rejected: ids[4],
			poll: ids[5],
		};
		server = await session.startServer();
		// 2.x at twice the pixels: its pictures go into the README (readmePictures.ts).
		browser = await launchEditorBrowser({ deviceScaleFactor: major === '2' ? 2 : 1 });
		browser.context.setDefaultTimeout(30_000);
		page = browser.page;
		await setUpOwner(browser.context, server, OWNER);
	}, 300_000);

	afterAll(async () => {
		await browser?.close();
		await server?.stop();
		await session?.close();
		await demo?.close();
		console.log(
			`[editor] n8n ${major}.x: ${((Date.now() - startedAt) / 1000).toFixed(0)} s in all`,
		);
		if (filesFolder) fs.rmSync(filesFolder, { recursive: true, force: true });
		// The browser asked for nothing outside 127.0.0.1 that got through; what it tried is listed.
		if (browser?.blocked.length)
			console.log(`[editor] blocked: ${[...new Set(browser.blocked)].slice(0, 10).join(' ')}`);
	});

	it(
		'1. the nodes panel finds both nodes by "camb", "separation" and "stems", with their icons (light and dark theme)',
		step('1-find', async () => {
			await newWorkflowWithNodesPanel(page, server);
			for (const word of SEARCH_WORDS) {
				await searchNodes(page, word);
				await untilPasses(page, async () =>
					expect({ word, found: sortByName(await listedNodes(page)) }).toEqual({
						word,
						found: BOTH_NODES.map((name) => ({ name, icon: 'camb.svg', iconLoaded: true })),
					}),
				);
				await shot(`01-search-${word}`);
			}
			// Dark theme: n8n follows the system's colour scheme and serves the dark icon.
			await setTheme(page, server, 'dark');
			await newWorkflowWithNodesPanel(page, server);
			await searchNodes(page, 'camb');
			await untilPasses(page, async () =>
				expect(sortByName(await listedNodes(page))).toEqual(
					BOTH_NODES.map((name) => ({ name, icon: 'camb.dark.svg', iconLoaded: true })),
				),
			);
			await shot('01-search-camb-dark');
			await setTheme(page, server, 'light');
		}),
	);

	it(
		'2. the credential through its form: key masked, Base URL default; Test: good key, wrong key, plain-http host',
		step('2-credential', async () => {
			await newWorkflowWithNodesPanel(page, server);
			await searchNodes(page, 'separation');
			await addNodeFromPanel(page, STATUS_NODE_NAME);

			const says = CREDENTIAL_TEST_SAYS[major];
			const rounds: Array<[string, string, string, (text: string) => void]> = [
				['wrong-key', WRONG_KEY, demo.camb.baseUrl, (text) => expect(text).toMatch(says.rejected)],
				[
					'plain-http',
					API_KEY,
					'http://camb.example.com/apis',
					(text) => expect(text).toMatch(says.unreachable),
				],
			];
			for (const [name, key, baseUrl, check] of rounds) {
				// Escape closes the dialog and, in some majors, the node's panel behind it.
				if (!(await page.locator('[data-test-id="node-parameters"]').isVisible()))
					await openNode(page, STATUS_NODE_NAME);
				const dialog = await createCredentialFromNode(page);
				const keyField = dialog.locator('[data-test-id="parameter-input-apiKey"] input');
				const urlField = dialog.locator('[data-test-id="parameter-input-baseUrl"] input');
				expect(await keyField.getAttribute('type')).toBe('password');
				// The form fills in its defaults a moment after the dialog shows.
				await untilPasses(page, async () =>
					expect(await urlField.inputValue()).toBe('https://client.camb.ai/apis'),
				);
				await typeInto(dialog, 'apiKey', key);
				await typeInto(dialog, 'baseUrl', baseUrl);
				expect(await keyField.getAttribute('type')).toBe('password');
				const requestsBefore = demo.camb.requests.length;
				const verdict = await saveAndReadVerdict(page, dialog);
				await shot(`02-credential-${name}`);
				expect(verdict.ok).toBe(false);
				check(verdict.text);
				expect(verdict.text).not.toContain(key);
				if (name === 'plain-http') expect(demo.camb.requests.length).toBe(requestsBefore);
				await closeCredentialDialog(page);
			}

			if (!(await page.locator('[data-test-id="node-parameters"]').isVisible()))
				await openNode(page, STATUS_NODE_NAME);
			const dialog = await createCredentialFromNode(page);
			await typeInto(dialog, 'apiKey', API_KEY);
			await typeInto(dialog, 'baseUrl', demo.camb.baseUrl);
			// Counted, not reset: reset() would wipe the demo's scripted tasks for the steps after this.
			const requestsBefore = demo.camb.requests.length;
			const verdict = await saveAndReadVerdict(page, dialog);
			await shot('02-credential-good-key');
			expect(verdict.ok).toBe(true);
			expect(
				demo.camb.requests.slice(requestsBefore).map((request) => [request.method, request.path]),
			).toEqual([['GET', '/list-voices']]);
			await closeCredentialDialog(page);
			// The new credential is the one the node now uses, and Camb Separate Audio can pick it too.
			const saved = await page
				.locator('[data-test-id="node-credentials-select"] input')
				.inputValue();
			expect(saved).toMatch(/^CAMB\.AI account \d+$/);
			await closeNode(page);
			await page.locator('[data-test-id="node-creator-plus-button"]').click();
			await searchNodes(page, 'camb');
			await addNodeFromPanel(page, SUBMIT_NODE_NAME);
			await pickCredential(page, saved);
			// Left open: Escape goes to the credential select first; the next step opens a new workflow.
			await shot('02-credential-picked-by-submit-node');
		}),
	);

	it(
		'3. the status node panel: README parameters and options with README defaults; tool-only ones hidden; switches show and hide',
		step('3-panel', async () => {
			await newWorkflowWithNodesPanel(page, server);
			await searchNodes(page, 'stems');
			await addNodeFromPanel(page, STATUS_NODE_NAME);
			const readme = statusNodeReadme();

			const shown = await shownParameters(page);
			expect(shown).toEqual(readme.parameters.map(({ label, shown }) => ({ label, value: shown })));
			for (const label of TOOL_ONLY) expect(shown.map((row) => row.label)).not.toContain(label);
			await shot('03-status-panel-defaults');

			// Off by default: Max Wait needs Wait for Completion; the binary fields need Download Stems.
			const offered = await optionsOffered(page);
			expect(offered).not.toContain('Max Wait (Seconds)');
			expect(offered).not.toContain('Foreground Binary Field');
			await setSwitch(page, 'waitForCompletion', true);
			expect(await optionsOffered(page)).toContain('Max Wait (Seconds)');
			await setSwitch(page, 'downloadStems', true);
			const everything = await optionsOffered(page);
			expect(everything.sort()).toEqual(readme.options.map((option) => option.label).sort());

			await addEveryOption(page);
			const options = (await shownParameters(page)).slice(readme.parameters.length);
			expect(options.sort((a, b) => a.label.localeCompare(b.label))).toEqual(
				readme.options
					.map(({ label, shown }) => ({ label, value: shown }))
					.sort((a, b) => a.label.localeCompare(b.label)),
			);
			await shot('03-status-panel-every-option');

			// Every parameter and option shows the node's description in its label's tooltip.
			const descriptions = canvasDescriptions();
			for (const { label } of await shownParameters(page)) {
				const tooltip = await parameterTooltip(page, label);
				expect({ label, tooltip }).toEqual({ label, tooltip: descriptions[label] });
				expect({ label, described: tooltip.length > 0 }).toEqual({ label, described: true });
			}

			// Fetch Result URLs off: Download Stems goes (stems need the links), and so do its options.
			await setSwitch(page, 'fetchResultUrls', false);
			// The binary field options show only with both switches on: they go as the panel redraws.
			await untilPasses(page, async () => {
				const labels = (await shownParameters(page)).map((row) => row.label);
				expect(labels).not.toContain('Download Stems');
				expect(labels).not.toContain('Foreground Binary Field');
			});
			await shot('03-status-panel-no-links');
		}),
	);

	it(
		'4. the demo from "Execute workflow": 3 / 1 / 6 items, a Failure shows reason and message, Success both stems, Pending next_check_in_seconds',
		step('4-demo', async () => {
			await openWorkflow(page, server, workflowIds.demo, 6);
			await executeWorkflow(page);
			await waitForItems(page, 'Failed', 6);
			await shot('04-demo-canvas');
			await openNode(page, STATUS_NODE_NAME);
			expect(await outputBranches(page)).toEqual([
				'Success Branch (3 items)',
				'Pending Branch (1 item)',
				'Failure Branch (6 items)',
			]);
			const binary = await showOutput(page, 0, 'binary');
			for (const stem of ['foreground', 'background']) expect(binary).toContain(stem);
			expect(binary).toMatch(/File Name:\s*fg_audio\.flac/);
			expect(binary).toMatch(/File Name:\s*bg_audio\.flac/);
			expect(binary).toMatch(/Mime Type:\s*audio\/flac/);
			await shot('04-demo-success-stems');
			const failure = await showOutput(page, 2, 'json');
			expect(failure).toMatch(/"reason":\s*"SOURCE_TOO_LARGE"/);
			expect(failure).toMatch(/"message":\s*"[^"]+/);
			await shot('04-demo-failure');
			const pending = await showOutput(page, 1, 'json');
			expect(pending).toMatch(/"next_check_in_seconds":\s*\d/);
			await shot('04-demo-pending');
			await closeNode(page);
		}),
	);

	it(
		'5. submit from the editor: Read audio file → Camb Separate Audio → Camb Separation Status; task_id and the stems in the output',
		step('5-submit', async () => {
			await openWorkflow(page, server, workflowIds.stems, 8);
			await executeWorkflow(page);
			await waitForItems(page, 'Write background stem', 1);
			await shot('05-submit-canvas');
			await openNode(page, SUBMIT_NODE_NAME);
			const submitted = await showOutput(page, undefined, 'json');
			expect(submitted).toMatch(/"task_id":\s*"sep-uploaded"/);
			expect(submitted).toMatch(/"file_name":\s*"interview\.wav"/);
			await shot('05-submit-task-id');
			await closeNode(page);
			await openNode(page, STATUS_NODE_NAME);
			const stems = await showOutput(page, 0, 'binary');
			expect(stems).toMatch(/File Name:\s*fg_audio\.flac/);
			expect(stems).toMatch(/File Name:\s*bg_audio\.flac/);
			await shot('05-submit-stems');
			await closeNode(page);
		}),
	);

	it.each([
		['empty', 'an empty Task ID', /The task ID of item 1 is empty/],
		[
			'lineBreak',
			'a Task ID with a line break',
			/The task ID of item 0 contains control characters/,
		],
		['rejected', 'a rejected key', /CAMB\.AI rejected the API key \(HTTP 401\)/],
	])(
		'6. the error a user sees for %s: %s, on the node, no stack trace',
		async (key, _what, message) => {
			await openWorkflow(page, server, workflowIds[key], 6);
			await executeWorkflow(page);
			await openNode(page, STATUS_NODE_NAME);
			const error = outputPanel(page).getByText(message).first();
			await error.waitFor({ timeout: 90_000 });
			const text = await outputPanel(page).innerText();
			expect(text).not.toMatch(/\n\s*at .+\(.+:\d+:\d+\)/);
			expect(text).not.toContain(WRONG_KEY);
			await shot(`06-error-${key}`);
			await closeNode(page);
		},
	);

	// The README's pictures (readmePictures.ts), from n8n 2.x only: the editor the README shows.
	if (major === '2')
		it(
			"7. the README's pictures: the polling example and the demo run on the canvas (light and dark), the stems in the output",
			step('7-pictures', async () => {
				expect(picturesInReadme()).toEqual([...README_PICTURES].sort());
				const out = path.join(folder, 'readme');
				for (const theme of ['light', 'dark'] as const) {
					const suffix = theme === 'dark' ? '-dark' : '';
					await setTheme(page, server, theme);
					await openWorkflow(page, server, workflowIds.poll, 6);
					await canvasPicture(page, path.join(out, `poll-until-done${suffix}.png`));
					await openWorkflow(page, server, workflowIds.demo, 6);
					await executeWorkflow(page);
					await waitForItems(page, 'Failed', 6);
					await canvasPicture(page, path.join(out, `demo-run${suffix}.png`));
					if (theme === 'dark') continue;
					// The same run's stems: wider, so both show side by side; without the run's toast.
					await page.setViewportSize({ width: 1600, height: 900 });
					await page.addStyleTag({ content: '.el-notification { display: none !important; }' });
					await openNode(page, STATUS_NODE_NAME);
					await showOutput(page, 0, 'binary');
					await page.mouse.move(1, 1);
					await page.screenshot({ path: path.join(out, 'status-node-stems.png') });
					await closeNode(page);
					await page.setViewportSize(VIEWPORT);
				}
				await setTheme(page, server, 'light');
				console.log(`[editor] ${keepForReadme(out)}`);
				for (const picture of README_PICTURES) {
					expect(fs.existsSync(path.join(out, picture))).toBe(true);
					expect(fs.existsSync(path.join(PICTURES_DIR, picture))).toBe(true);
				}
			}),
		);
});
