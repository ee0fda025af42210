/**
 * n8n's editor as a canvas user works it, in 1.x and 2.x alike: the nodes panel and its search,
 * the node panel (NDV) with its parameters, options and output, the credential dialog, and
 * "Execute workflow". Every wait is on what the page shows; the selectors are n8n's own
 * `data-test-id`s, read from both majors.
 */
import type { Locator, Page } from 'playwright-core';

import type { N8nServer } from './n8n';

export interface FoundNode {
	name: string;
	/** The icon's file name, e.g. camb.svg or camb.dark.svg. */
	icon: string;
	/** Whether the browser loaded and decoded the icon (naturalWidth > 0). */
	iconLoaded: boolean;
}

export interface ShownParameter {
	label: string;
	/** `on`/`off` for a switch, else what the field holds. */
	value: string;
}

const NDV_PARAMETERS = '[data-test-id="node-parameters"]';

/** Opens a saved workflow and waits until all its nodes are on the canvas. */
export async function openWorkflow(
	page: Page,
	server: N8nServer,
	workflowId: string,
	nodeCount: number,
): Promise<void> {
	await page.goto(`${server.baseUrl}/workflow/${workflowId}`, { waitUntil: 'domcontentloaded' });
	await page.waitForFunction(
		(count) => document.querySelectorAll('[data-test-id="canvas-node"]').length >= count,
		nodeCount,
		{ timeout: 60_000 },
	);
}

/**
 * The editor's theme from the next page load on (n8n reads it from localStorage, else the
 * system's). localStorage belongs to n8n's origin, so a page not yet there goes there first.
 */
export async function setTheme(
	page: Page,
	server: N8nServer,
	theme: 'light' | 'dark',
): Promise<void> {
	await page.emulateMedia({ colorScheme: theme });
	if (!page.url().startsWith(server.baseUrl))
		await page.goto(server.baseUrl, { waitUntil: 'domcontentloaded' });
	await page.evaluate((value) => localStorage.setItem('N8N_THEME', value), theme);
}

/** In the open node's panel: picks a saved credential by name and waits until the panel shows it. */
export async function pickCredential(page: Page, name: string): Promise<void> {
	const select = page.locator('[data-test-id="node-credentials-select"]');
	await select.click();
	await page.locator('.el-select-dropdown__item:visible', { hasText: name }).first().click();
	await page.waitForFunction(
		(wanted) =>
			(
				document.querySelector(
					'[data-test-id="node-credentials-select"] input',
				) as HTMLInputElement | null
			)?.value === wanted,
		name,
	);
}

/** A new, empty workflow with the nodes panel open. */
export async function newWorkflowWithNodesPanel(page: Page, server: N8nServer): Promise<void> {
	await page.goto(`${server.baseUrl}/workflow/new`, { waitUntil: 'domcontentloaded' });
	await page.locator('[data-test-id="node-creator-plus-button"]').click();
	await page.locator('[data-test-id="node-creator-search-bar"]').waitFor();
}

/**
 * Runs `check` (an assertion on what the page shows) until it passes or `timeoutMs` is over, and
 * then throws its last error: what the page showed. For what the editor changes a moment after an
 * action (node types still loading, icons switching with the theme, a panel redrawing), without
 * a fixed sleep and without a wait that gives up quietly.
 */
export async function untilPasses<T>(
	page: Page,
	check: () => Promise<T>,
	timeoutMs = 10_000,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			return await check();
		} catch (error) {
			if (Date.now() >= deadline) throw error;
			await page.waitForTimeout(150);
		}
	}
}

/** Types `word` into the nodes panel's search (read what it lists with listedNodes). */
export async function searchNodes(page: Page, word: string): Promise<void> {
	await page.locator('[data-test-id="node-creator-search-bar"]').fill(word);
	await page.waitForFunction(
		(typed) =>
			(document.querySelector('[data-test-id="node-creator-search-bar"]') as HTMLInputElement)
				?.value === typed,
		word,
	);
}

/**
 * The package's nodes the nodes panel lists now (others are left out), with their icons. The
 * list can still change after a search (node types loading on a fresh page, the theme switching
 * an icon's source): read it inside untilPasses.
 */
export async function listedNodes(page: Page): Promise<FoundNode[]> {
	const found = await page.locator('[data-test-id="node-creator-node-item"]').evaluateAll((items) =>
		items.map((item) => {
			const img = item.querySelector('img');
			return {
				name: item.querySelector('[data-test-id="node-creator-item-name"]')?.textContent ?? '',
				icon: (img?.getAttribute('src') ?? '').split('/').pop() ?? '',
				iconLoaded: Boolean(img && img.complete && img.naturalWidth > 0),
			};
		}),
	);
	return found.filter((node) => node.name.startsWith('Camb '));
}

/**
 * Clicks a node in the nodes panel's results and waits for its panel (NDV): 2.x first shows a
 * community node's details with "Add to workflow".
 */
export async function addNodeFromPanel(page: Page, name: string): Promise<void> {
	await page.locator('[data-test-id="node-creator-node-item"]', { hasText: name }).click();
	const addButton = page.getByText('Add to workflow', { exact: true });
	const parameters = page.locator(NDV_PARAMETERS);
	await addButton.or(parameters).first().waitFor();
	if (await addButton.isVisible()) await addButton.click();
	await parameters.waitFor();
}

/** Double-clicks a canvas node by name and waits for its panel. */
export async function openNode(page: Page, name: string): Promise<void> {
	await page.locator('[data-test-id="canvas-node"]').filter({ hasText: name }).first().dblclick();
	await page.locator(NDV_PARAMETERS).waitFor();
}

export async function closeNode(page: Page): Promise<void> {
	await page.keyboard.press('Escape');
	await page.locator(NDV_PARAMETERS).waitFor({ state: 'hidden' });
}

/** The parameters (and added options) the open panel shows, in order, with their values. */
export async function shownParameters(page: Page): Promise<ShownParameter[]> {
	const rows = await page
		.locator(`${NDV_PARAMETERS} [data-test-id="parameter-item"]:visible`)
		.evaluateAll((items) =>
			items.map((item) => {
				const label = (item.querySelector('[data-test-id="input-label"] label')?.textContent ?? '')
					.replace(/FixedExpression$/, '')
					.replace(/\s+/g, ' ')
					.trim();
				const input = item.querySelector('[data-test-id^="parameter-input-"]');
				const toggle = input?.querySelector('.el-switch');
				const field = input?.querySelector('input, textarea') as HTMLInputElement | null;
				const value = toggle
					? toggle.classList.contains('is-checked')
						? 'on'
						: 'off'
					: field
						? field.value
						: (input?.textContent ?? '').trim();
				return { label, value };
			}),
		);
	// The Options collection is a parameter item too; its rows are listed one by one.
	return rows.filter((row) => row.label !== 'Options');
}

/**
 * The description n8n shows for a parameter of the open panel: the tooltip of the ? icon by its
 * label (shown while the label is hovered). '' when the label has no such icon.
 */
export async function parameterTooltip(page: Page, label: string): Promise<string> {
	// The label element itself: a collection's label box also holds its options' labels.
	const labelElement = page
		.locator(`${NDV_PARAMETERS} label.n8n-input-label:visible`, {
			hasText: new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
		})
		.first();
	await labelElement.hover();
	const icon = labelElement.locator('[class*="infoIcon"]').first();
	if ((await icon.count()) === 0) return '';
	await icon.hover();
	// 2.x draws the tooltip in n8n's own element (its role="tooltip" span is visually hidden);
	// 1.x in an Element Plus popper.
	const tip = page
		.locator('[data-test-id="tooltip-content"]:visible')
		.or(page.locator('.el-popper[role="tooltip"]:visible'))
		.filter({ hasText: /\S/ })
		.last();
	await tip.waitFor();
	const text = (await tip.innerText()).replace(/\s+/g, ' ').trim();
	await page.mouse.move(1, 1);
	await tip.waitFor({ state: 'hidden' });
	return text;
}

/** The options "Add Option" offers now, by name (closes the list again). */
export async function optionsOffered(page: Page): Promise<string[]> {
	const add = page.locator(`${NDV_PARAMETERS} input[placeholder="Add Option"]`);
	if (!(await add.isVisible())) return [];
	await add.click();
	const items = page.locator('[data-test-id="collection-parameter-option"]:visible');
	await items.first().waitFor();
	const names = (await items.allInnerTexts()).map((name) => name.trim());
	await page.keyboard.press('Escape');
	await items.first().waitFor({ state: 'hidden' });
	return names;
}

/** Adds every option "Add Option" offers, one after the other. */
export async function addEveryOption(page: Page): Promise<void> {
	for (const name of await optionsOffered(page)) {
		await page.locator(`${NDV_PARAMETERS} input[placeholder="Add Option"]`).click();
		await page
			.locator('[data-test-id="collection-parameter-option"]:visible', { hasText: name })
			.click();
		await page
			.locator(`${NDV_PARAMETERS} [data-test-id="parameter-item"]`, { hasText: name })
			.first()
			.waitFor();
	}
}

/** Sets a switch parameter of the open panel (by its parameter name) and waits until it shows. */
export async function setSwitch(page: Page, parameter: string, on: boolean): Promise<void> {
	const toggle = page.locator(
		`${NDV_PARAMETERS} [data-test-id="parameter-input-${parameter}"] .el-switch`,
	);
	const isOn = async () => ((await toggle.getAttribute('class')) ?? '').includes('is-checked');
	if ((await isOn()) !== on) await toggle.click();
	await page.waitForFunction(
		([selector, wanted]) =>
			document.querySelector(selector as string)?.classList.contains('is-checked') === wanted,
		[`${NDV_PARAMETERS} [data-test-id="parameter-input-${parameter}"] .el-switch`, on] as const,
	);
}

/** Clicks "Execute workflow" (force: 2.x's canvas pane can sit on top of it). */
export async function executeWorkflow(page: Page): Promise<void> {
	await page.locator('[data-test-id="execute-workflow-button"]').click({ force: true });
}

/** Waits until the canvas node `name` shows an item count (it ran and passed items on). */
export async function waitForItems(page: Page, name: string, count: number): Promise<void> {
	const label = `${count} item${count === 1 ? '' : 's'}`;
	await page
		.locator('[data-test-id="canvas-node"]')
		.filter({ hasText: name })
		.filter({ hasText: label })
		.first()
		.waitFor({ timeout: 90_000 });
}

/** The output panel of the open node. */
export function outputPanel(page: Page): Locator {
	return page.locator('[data-test-id="output-panel"]');
}

/** The output branch tabs' labels, e.g. "Success Branch (3 items)". */
export async function outputBranches(page: Page): Promise<string[]> {
	const tabs = outputPanel(page).locator('[data-test-id="branches"] [data-test-id^="tab-"]');
	await tabs.first().waitFor();
	return (await tabs.allInnerTexts()).map((text) => text.replace(/\s+/g, ' ').trim());
}

/** Shows output `branch` (0 Success, 1 Pending, 2 Failure) in `mode` (json, binary, table). */
export async function showOutput(
	page: Page,
	branch: number | undefined,
	mode: string,
): Promise<string> {
	const panel = outputPanel(page);
	if (branch !== undefined)
		await panel.locator(`[data-test-id="branches"] [data-test-id="tab-${branch}"]`).click();
	await panel.locator(`[data-test-id="radio-button-${mode}"]`).click();
	const data = panel.locator('[data-test-id="ndv-data-container"]');
	await data.waitFor();
	// JSON and binary views render a moment after the switch: wait for their content.
	await page.waitForFunction(
		([element, json]) => {
			const text = (element as HTMLElement).innerText;
			return json ? text.includes('"') : text.trim().length > 0;
		},
		[await data.elementHandle(), mode === 'json'] as const,
	);
	return await data.innerText();
}

/** The credential dialog (new or edited). */
export function credentialDialog(page: Page): Locator {
	return page.locator('[data-test-id="editCredential-modal"]');
}

/** From the open node's panel: Credential → "Create new credential"; waits for the dialog. */
export async function createCredentialFromNode(page: Page): Promise<Locator> {
	await page.locator('[data-test-id="node-credentials-select"]').click();
	await page.getByText('Create new credential', { exact: true }).click();
	const dialog = credentialDialog(page);
	await dialog.locator('[data-test-id="parameter-input-apiKey"] input').waitFor();
	return dialog;
}

/**
 * Types into a credential field. The value is left out of any error (Playwright's call log would
 * quote it), since it may be a key.
 */
export async function typeInto(dialog: Locator, field: string, value: string): Promise<void> {
	try {
		await dialog.locator(`[data-test-id="parameter-input-${field}"] input`).fill(value);
	} catch {
		throw new Error(`could not type into the credential's ${field} field`);
	}
}

export interface TestVerdict {
	ok: boolean;
	/** The text of the banner, with "More details" opened: n8n's message. */
	text: string;
}

/**
 * In a dialog that has not been tested yet: clicks Save (n8n saves, then runs the credential's test) and reads the verdict: the red banner
 * with its details opened, the green one, or (2.x) the dialog closing by itself after a test passed.
 */
export async function saveAndReadVerdict(page: Page, dialog: Locator): Promise<TestVerdict> {
	const failed = dialog
		.locator('.el-tag--danger')
		.filter({ hasText: 'connect with these settings' });
	const passed = dialog.getByText('Connection tested successfully');
	await dialog.locator('[data-test-id="credential-save-button"]').click();
	await page.waitForFunction(
		() => {
			const modal = document.querySelector('[data-test-id="editCredential-modal"]');
			const shown = (element: Element | null) =>
				Boolean(element && (element as HTMLElement).offsetParent);
			if (!shown(modal)) return true;
			const text = (modal as HTMLElement).innerText;
			return /connect with these settings|Connection tested successfully/.test(text);
		},
		undefined,
		{ timeout: 60_000 },
	);
	if (!(await dialog.isVisible())) return { ok: true, text: 'dialog closed after the test passed' };
	if (await failed.isVisible()) {
		await failed.getByText('More details').click();
		await failed.getByText('More details').waitFor({ state: 'hidden' });
		return { ok: false, text: (await failed.innerText()).replace(/\s+/g, ' ').trim() };
	}
	return { ok: true, text: (await passed.innerText()).trim() };
}

/** Closes the credential dialog (its × button). */
export async function closeCredentialDialog(page: Page): Promise<void> {
	const dialog = credentialDialog(page);
	if (!(await dialog.isVisible())) return;
	await page.keyboard.press('Escape');
	await dialog.waitFor({ state: 'hidden' });
}
