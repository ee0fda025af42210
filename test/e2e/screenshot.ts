/**
 * `npm run screenshot`: a picture of examples/poll-until-done.json on n8n's own editor canvas.
 *
 * Starts real n8n (`n8n start`, 2.x by default; CAMB_SCREENSHOT_MAJOR=1 for 1.x) in a fresh user
 * folder with this package installed as a community package (test/e2e/n8n.ts), listening on
 * 127.0.0.1 and a free port. Imports a CAMB.AI credential (a placeholder key) and the example,
 * creates the owner account through n8n's REST API, opens the workflow in headless Debian
 * Chromium driven by playwright-core (no browser download: executablePath /usr/bin/chromium, a new
 * empty profile), crops to the workflow's nodes and writes examples/poll-until-done.png.
 *
 * The browser may reach 127.0.0.1 only: every other request is aborted. Everything it starts
 * (n8n's process group, Chromium, temp folders) is ended and removed, also on failure, and the
 * whole run is bounded (SCREENSHOT_TIMEOUT_MS, default 240 s).
 *
 * Options (environment): CAMB_SCREENSHOT_OUT=<file.png> writes elsewhere;
 * CAMB_SCREENSHOT_FULL=<file.png> also saves the whole window (for debugging the crop).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
	CANVAS_CHROME,
	dismissOverlays,
	launchEditorBrowser,
	nodesBox,
	setUpOwner,
	type EditorBrowser,
} from './editorBrowser';
import {
	installDebianPackages,
	EXAMPLES_DIR,
	loadExample,
	startSession,
	type Major,
	type N8nServer,
	type N8nSession,
} from './n8n';

const EXAMPLE = 'poll-until-done.json';
const OUT = process.env.CAMB_SCREENSHOT_OUT || path.join(EXAMPLES_DIR, 'poll-until-done.png');
const MAJOR = (process.env.CAMB_SCREENSHOT_MAJOR || '2') as Major;
const TIMEOUT_MS = Number(process.env.SCREENSHOT_TIMEOUT_MS || 240_000);
/** Not a secret: n8n only needs a credential to exist so the node shows no credential warning. */
const CREDENTIAL = {
	id: 'cambAiAccount01',
	name: 'CAMB.AI account',
	type: 'cambAiApi',
	data: { apiKey: 'placeholder-key-for-the-screenshot', baseUrl: 'https://client.camb.ai/apis' },
};
const OWNER = {
	email: 'owner@example.com',
	firstName: 'Camb',
	lastName: 'Example',
	password: 'Screenshot-0wner-pass',
};
/** The node's output names (Success, Pending, Failure) a little larger and darker than n8n draws them, so they read at README size. */
const OUTPUT_LABELS =
	'[data-test-id="canvas-node-output-handle"] [class*="label"] { font-size: 15px !important; color: #333 !important; font-weight: 500 !important; }';
/** Room around the nodes in the crop, in CSS pixels. */
const MARGIN = 36;

async function main(): Promise<void> {
	console.log(installDebianPackages('chromium'));
	const workflow = loadExample(EXAMPLE);
	let session: N8nSession | undefined;
	let server: N8nServer | undefined;
	let browser: EditorBrowser | undefined;
	try {
		session = await startSession(MAJOR);
		console.log(
			`n8n ${session.install.version} on Node ${session.install.nodeVersion}, user folder ${session.userFolder}`,
		);
		await session.importCredentials([CREDENTIAL]);
		const [workflowId] = await session.importWorkflows([workflow]);
		server = await session.startServer();
		console.log(`n8n is up at ${server.baseUrl}`);

		browser = await launchEditorBrowser({ deviceScaleFactor: 2 });
		await setUpOwner(browser.context, server, OWNER);
		const page = browser.page;
		await page.goto(`${server.baseUrl}/workflow/${workflowId}`, {
			waitUntil: 'domcontentloaded',
			timeout: 60_000,
		});
		await page
			.locator('[data-test-id="canvas-node"]')
			.first()
			.waitFor({ state: 'visible', timeout: 60_000 });
		const nodeCount = (workflow.nodes as unknown[]).length;
		await page.waitForFunction(
			(count) => document.querySelectorAll('[data-test-id="canvas-node"]').length >= count,
			nodeCount,
			{ timeout: 30_000 },
		);
		await dismissOverlays(page);
		// Only the workflow in the picture: no editor controls, hover toolbars, run buttons or "+" stubs.
		await page.addStyleTag({
			content: `${CANVAS_CHROME.join(',\n')} { display: none !important; }\n${OUTPUT_LABELS}`,
		});
		// Zoom to fit ("1" in n8n's editor), then let the canvas and the node icons settle.
		await page.locator('[data-test-id="canvas-node"]').first().hover();
		await page.mouse.move(5, 400);
		await page.keyboard.press('1');
		await page.waitForLoadState('networkidle', { timeout: 15_000 }).catch(() => undefined);
		await page.waitForTimeout(1500);

		if (process.env.CAMB_SCREENSHOT_FULL)
			await page.screenshot({ path: process.env.CAMB_SCREENSHOT_FULL });
		if (process.env.CAMB_SCREENSHOT_DEBUG) {
			console.log(
				await page.evaluate(() =>
					Array.from(document.querySelectorAll('[data-test-id]'))
						.map((element) => {
							const rect = element.getBoundingClientRect();
							return `${element.getAttribute('data-test-id')} <${element.tagName.toLowerCase()} class="${element.className}"> ${Math.round(rect.left)},${Math.round(rect.top)} ${Math.round(rect.width)}x${Math.round(rect.height)}`;
						})
						.join('\n'),
				),
			);
		}
		const clip = await nodesBox(page, MARGIN);
		await page.screenshot({ path: OUT, clip, animations: 'disabled' });
		const size = fs.statSync(OUT).size;
		console.log(
			`wrote ${OUT} (${Math.round(clip.width)}x${Math.round(clip.height)} CSS px, ${(size / 1024).toFixed(0)} KB)`,
		);
	} finally {
		await browser?.close();
		await server?.stop().catch(() => undefined);
		await session?.close().catch(() => undefined);
	}
}

const watchdog = setTimeout(() => {
	console.error(`screenshot: not done after ${TIMEOUT_MS / 1000} s, giving up`);
	// n8n.ts kills every process group it started on exit; playwright-core kills the browser it launched.
	process.exit(2);
}, TIMEOUT_MS);
watchdog.unref();

main().then(
	() => clearTimeout(watchdog),
	(error: unknown) => {
		clearTimeout(watchdog);
		console.error(error);
		process.exitCode = 1;
	},
);
