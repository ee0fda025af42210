/**
 * Debian's Chromium driven by playwright-core against a local n8n editor, for the browser suite
 * (editor.e2e.test.ts) and its README pictures (readmePictures.ts). Never downloads a browser (the
 * suite installs Debian's `chromium` with installDebianPackages when it is missing), starts it
 * with a new empty profile and lets it reach 127.0.0.1 only (every other request is aborted).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import type { N8nAccount, N8nServer } from './n8n';

export const CHROMIUM = '/usr/bin/chromium';
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

export function isLoopback(url: string): boolean {
	try {
		const { protocol, hostname } = new URL(url);
		if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
		return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
	} catch {
		return false;
	}
}

export interface EditorBrowser {
	readonly context: BrowserContext;
	readonly page: Page;
	/** Requests the browser wanted to make to anything but loopback (all aborted). */
	readonly blocked: string[];
	close(): Promise<void>;
}

/** The window the editor is shown in (step 7 widens it for one picture, then restores it). */
export const VIEWPORT = { width: 1280, height: 820 };

interface BrowserOptions {
	deviceScaleFactor?: number;
}

/** Headless Chromium with a new empty profile (removed on close), loopback only. */
export async function launchEditorBrowser(options: BrowserOptions = {}): Promise<EditorBrowser> {
	if (!fs.existsSync(CHROMIUM))
		throw new Error(`${CHROMIUM} is missing: bash test/e2e/install-debian-packages.sh chromium`);
	const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-chromium-'));
	const blocked: string[] = [];
	let context: BrowserContext | undefined;
	try {
		context = await chromium.launchPersistentContext(profileDir, {
			executablePath: CHROMIUM,
			headless: true,
			args: CHROMIUM_FLAGS,
			viewport: VIEWPORT,
			deviceScaleFactor: options.deviceScaleFactor ?? 1,
			colorScheme: 'light',
			locale: 'en-US',
			timezoneId: 'UTC',
		});
		await context.route('**/*', (route) => {
			const url = route.request().url();
			if (isLoopback(url)) return route.continue();
			blocked.push(url);
			return route.abort('blockedbyclient');
		});
	} catch (error) {
		fs.rmSync(profileDir, { recursive: true, force: true });
		throw error;
	}
	const page = context.pages()[0] ?? (await context.newPage());
	const opened = context;
	return {
		context: opened,
		page,
		blocked,
		close: async () => {
			await opened.close().catch(() => undefined);
			fs.rmSync(profileDir, { recursive: true, force: true });
		},
	};
}

/**
 * Creates n8n's owner account through its REST API from inside the browser context: the context's
 * request client shares its cookie jar, so the page is logged in afterwards.
 */
export async function setUpOwner(
	context: BrowserContext,
	server: N8nServer,
	owner: N8nAccount,
): Promise<void> {
	const response = await context.request.post(`${server.baseUrl}/rest/owner/setup`, {
		data: owner,
	});
	if (!response.ok())
		throw new Error(
			`owner setup answered ${response.status()}: ${(await response.text()).slice(0, 500)}`,
		);
}

/** Closes whatever n8n shows on top of a fresh instance (news, tours, chat panels...). */
export async function dismissOverlays(page: Page): Promise<void> {
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

/** Editor chrome that would sit on top of the workflow in a picture of the canvas. */
export const CANVAS_CHROME = [
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

/** The smallest box around every canvas node and its labels, in page coordinates, plus `margin`. */
export async function nodesBox(
	page: Page,
	margin: number,
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
	const left = Math.min(...boxes.map((box) => box.left)) - margin;
	const top = Math.min(...boxes.map((box) => box.top)) - margin;
	const right = Math.max(...boxes.map((box) => box.right)) + margin;
	const bottom = Math.max(...boxes.map((box) => box.bottom)) + margin;
	return {
		x: Math.max(0, left),
		y: Math.max(0, top),
		width: right - Math.max(0, left),
		height: bottom - Math.max(0, top),
	};
}
