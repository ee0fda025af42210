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
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import {
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
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
	'--headless',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
];
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
/** Editor chrome that would sit on top of the workflow in the picture. */
const HIDDEN = [
	'[data-test-id="canvas-controls"]',
	'[data-test-id="execute-workflow-button"]',
	'[data-test-id^="execute-workflow-button-"]',
	'[data-test-id="canvas-node-toolbar"]',
	'[data-test-id="canvas-handle-plus-wrapper"]',
	'[data-test-id="node-creator-plus-button"]',
	'[data-test-id="command-bar-button"]',
	'[data-test-id="add-sticky-button"]',
	'[data-test-id="toggle-focus-panel-button"]',
	'[data-test-id="instance-ai-canvas-action-button"]',
	'.vue-flow__panel',
];
/** The node's output names (Success, Pending, Failure) a little larger and darker than n8n draws them, so they read at README size. */
const OUTPUT_LABELS =
	'[data-test-id="canvas-node-output-handle"] [class*="label"] { font-size: 15px !important; color: #333 !important; font-weight: 500 !important; }';
/** Room around the nodes in the crop, in CSS pixels. */
const MARGIN = 36;

function isLoopback(url: string): boolean {
	try {
		const { protocol, hostname } = new URL(url);
		if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
		return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
	} catch {
		return false;
	}
}

async function setUpOwner(context: BrowserContext, server: N8nServer): Promise<void> {
	// The browser context's request client shares its cookie jar: the session cookie this sets is the page's.
	const response = await context.request.post(`${server.baseUrl}/rest/owner/setup`, {
		data: OWNER,
	});
	if (!response.ok())
		throw new Error(
			`owner setup answered ${response.status()}: ${(await response.text()).slice(0, 500)}`,
		);
}

/** Closes whatever n8n shows on top of a fresh instance (news, tours, chat panels...). */
async function dismissOverlays(page: Page): Promise<void> {
	for (let round = 0; round < 3; round++) {
		await page.keyboard.press('Escape');
		for (const selector of [
			'[data-test-id="close-button"]',
			'.el-dialog__headerbtn',
			'.el-message-box__headerbtn',
			'.el-notification__closeBtn',
		]) {
			for (const handle of await page.locator(selector).all()) {
				if (await handle.isVisible().catch(() => false))
					await handle.click({ timeout: 1000 }).catch(() => undefined);
			}
		}
		await page.waitForTimeout(300);
	}
}

/** The smallest box around every node and its labels, in page coordinates. */
async function nodesBox(
	page: Page,
): Promise<{ x: number; y: number; width: number; height: number }> {
	const boxes = await page.locator('[data-test-id="canvas-node"]').evaluateAll((nodes) =>
		nodes.map((node) => {
			// The node plus its name, subtitle and handle labels, which hang outside its box.
			const rects = [node, ...Array.from(node.querySelectorAll('*'))].map((element) =>
				element.getBoundingClientRect(),
			);
			const parent = node.closest('.vue-flow__node') ?? node;
			rects.push(
				...Array.from(parent.querySelectorAll('*')).map((element) =>
					element.getBoundingClientRect(),
				),
			);
			const visible = rects.filter((rect) => rect.width > 0 && rect.height > 0);
			return {
				left: Math.min(...visible.map((rect) => rect.left)),
				top: Math.min(...visible.map((rect) => rect.top)),
				right: Math.max(...visible.map((rect) => rect.right)),
				bottom: Math.max(...visible.map((rect) => rect.bottom)),
			};
		}),
	);
	if (boxes.length === 0) throw new Error('no nodes on the canvas');
	const left = Math.min(...boxes.map((box) => box.left)) - MARGIN;
	const top = Math.min(...boxes.map((box) => box.top)) - MARGIN;
	const right = Math.max(...boxes.map((box) => box.right)) + MARGIN;
	const bottom = Math.max(...boxes.map((box) => box.bottom)) + MARGIN;
	return {
		x: Math.max(0, left),
		y: Math.max(0, top),
		width: right - Math.max(0, left),
		height: bottom - Math.max(0, top),
	};
}

async function main(): Promise<void> {
	if (!fs.existsSync(CHROMIUM))
		throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
	const workflow = loadExample(EXAMPLE);
	const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-screenshot-chromium-'));
	let session: N8nSession | undefined;
	let server: N8nServer | undefined;
	let context: BrowserContext | undefined;
	try {
		session = await startSession(MAJOR);
		console.log(
			`n8n ${session.install.version} on Node ${session.install.nodeVersion}, user folder ${session.userFolder}`,
		);
		await session.importCredentials([CREDENTIAL]);
		const [workflowId] = await session.importWorkflows([workflow]);
		server = await session.startServer();
		console.log(`n8n is up at ${server.baseUrl}`);

		context = await chromium.launchPersistentContext(profileDir, {
			executablePath: CHROMIUM,
			headless: true,
			args: CHROMIUM_FLAGS,
			viewport: { width: 1280, height: 820 },
			deviceScaleFactor: 2,
			colorScheme: 'light',
			locale: 'en-US',
			timezoneId: 'UTC',
		});
		await context.route('**/*', (route) =>
			isLoopback(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
		);
		await setUpOwner(context, server);

		const page = context.pages()[0] ?? (await context.newPage());
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
			content: `${HIDDEN.join(',\n')} { display: none !important; }\n${OUTPUT_LABELS}`,
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
		const clip = await nodesBox(page);
		await page.screenshot({ path: OUT, clip, animations: 'disabled' });
		const size = fs.statSync(OUT).size;
		console.log(
			`wrote ${OUT} (${Math.round(clip.width)}x${Math.round(clip.height)} CSS px, ${(size / 1024).toFixed(0)} KB)`,
		);
	} finally {
		await context?.close().catch(() => undefined);
		await server?.stop().catch(() => undefined);
		await session?.close().catch(() => undefined);
		fs.rmSync(profileDir, { recursive: true, force: true });
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
