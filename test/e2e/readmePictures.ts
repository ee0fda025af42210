/**
 * The README's pictures of n8n's editor, made by the browser suite (editor.e2e.test.ts, n8n 2.x)
 * from the steps it checks, so they cannot drift from what a user sees: every run writes them to
 * its screenshot folder (`readme/`), and `npm run pictures` (CAMB_E2E_README_PICTURES=1) also
 * copies them into docs/editor/, where the README shows them. The suite fails if the README
 * shows a picture of docs/editor/ this list does not make, or misses one it makes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Page } from 'playwright-core';

import { CANVAS_CHROME, dismissOverlays, nodesBox } from './editorBrowser';
import { untilPasses } from './editorPage';
import { REPO_DIR } from './n8n';

export const PICTURES_DIR = path.join(REPO_DIR, 'docs', 'editor');

/** Each picture the suite makes, in light and (where it helps) dark theme. */
export const README_PICTURES = [
	'poll-until-done.png',
	'poll-until-done-dark.png',
	'demo-run.png',
	'demo-run-dark.png',
	'status-node-stems.png',
] as const;
export type ReadmePicture = (typeof README_PICTURES)[number];

/** The docs/editor/ pictures README.md shows (in `![…](…)` and `<img>`/`<source>` tags). */
export function picturesInReadme(): string[] {
	const text = fs.readFileSync(path.join(REPO_DIR, 'README.md'), 'utf8');
	const found = [...text.matchAll(/docs\/editor\/([\w.-]+\.png)/g)].map((match) => match[1]);
	return [...new Set(found)].sort();
}

/** Room around the nodes in a canvas picture, in CSS pixels. */
const MARGIN = 36;

/**
 * A picture of the open workflow's nodes only: n8n's controls hidden, zoomed to fit, once every
 * icon has loaded and the canvas has stopped moving; written to `file`.
 */
export async function canvasPicture(page: Page, file: string): Promise<void> {
	await dismissOverlays(page);
	await page.addStyleTag({
		content: `${CANVAS_CHROME.join(',\n')} { display: none !important; }`,
	});
	// Zoom to fit ("1" in n8n's editor), with the mouse off the nodes (no hover toolbars).
	await page.locator('[data-test-id="canvas-node"]').first().hover();
	await page.mouse.move(5, 400);
	await page.keyboard.press('1');
	await untilPasses(page, async () => {
		const icons = await page
			.locator('[data-test-id="canvas-node"] img')
			.evaluateAll((images) =>
				images.every(
					(image) =>
						(image as HTMLImageElement).complete && (image as HTMLImageElement).naturalWidth > 0,
				),
			);
		if (!icons) throw new Error('the canvas icons have not all loaded');
	});
	// The zoom animates: the same box twice in a row, 200 ms apart, means it has settled.
	let box = await nodesBox(page, MARGIN);
	await untilPasses(page, async () => {
		await page.waitForTimeout(200);
		const next = await nodesBox(page, MARGIN);
		const same = JSON.stringify(next) === JSON.stringify(box);
		box = next;
		if (!same) throw new Error('the canvas is still moving');
	});
	fs.mkdirSync(path.dirname(file), { recursive: true });
	await page.screenshot({ path: file, clip: box, animations: 'disabled' });
}

/** With CAMB_E2E_README_PICTURES=1 (`npm run pictures`): copies the pictures made in `folder` into docs/editor/. */
export function keepForReadme(folder: string): string {
	if (process.env.CAMB_E2E_README_PICTURES !== '1')
		return `README pictures in ${folder} (npm run pictures copies them into docs/editor/)`;
	fs.mkdirSync(PICTURES_DIR, { recursive: true });
	for (const picture of README_PICTURES)
		fs.copyFileSync(path.join(folder, picture), path.join(PICTURES_DIR, picture));
	return `README pictures copied into ${PICTURES_DIR}`;
}
