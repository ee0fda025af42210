/**
 * What the README promises a canvas user about Camb Separation Status: its parameters and options
 * with their defaults, read from the tables of the README's "Camb Separation Status: check tasks"
 * section, in the form the editor shows them (a switch as `on`/`off`, a number or text as typed).
 * The browser suite (editor.e2e.test.ts) holds the node's panel to them, so neither can drift.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { REPO_DIR } from './n8n';

const README = path.join(REPO_DIR, 'README.md');
const SECTION = '## Camb Separation Status: check tasks';

export interface ReadmeSetting {
	/** The label the panel shows, e.g. "Max Checks". */
	label: string;
	/** The default as the panel shows it: `on`, `off`, `3`, `{{ $json.task_id }}`. */
	shown: string;
}

/** The rows of the first markdown table after `heading` (within the section), as cells. */
function tableAfter(lines: string[], heading: RegExp): string[][] {
	const start = lines.findIndex((line) => heading.test(line));
	if (start < 0) throw new Error(`README: no line matching ${heading} in "${SECTION}"`);
	const rows: string[][] = [];
	for (const line of lines.slice(start + 1)) {
		if (!line.startsWith('|')) {
			if (rows.length) break;
			continue;
		}
		rows.push(
			line
				.slice(1, -1)
				.split(/(?<!\\)\|/)
				.map((cell) => cell.trim()),
		);
	}
	// Drop the header and the |---| line.
	return rows.slice(2);
}

/** "`3`", "0 (no limit)", "off", "`{{ $json.task_id }}`" → what the panel shows. */
function shownDefault(cell: string): string {
	const text = cell.replace(/`/g, '').trim();
	if (text === 'on' || text === 'off') return text;
	const number = /^(\d+)\b/.exec(text);
	if (number) return number[1];
	return text;
}

/** Expands "Foreground / Background Binary Field" with "`foreground` / `background`" into two. */
function settings(rows: string[][]): ReadmeSetting[] {
	return rows.flatMap(([label, value]) => {
		const pair = /^(\w+) \/ (\w+) (.+)$/.exec(label);
		if (!pair) return [{ label, shown: shownDefault(value) }];
		const values = value.split('/').map(shownDefault);
		return [
			{ label: `${pair[1]} ${pair[3]}`, shown: values[0] },
			{ label: `${pair[2]} ${pair[3]}`, shown: values[1] },
		];
	});
}

export function statusNodeReadme(): { parameters: ReadmeSetting[]; options: ReadmeSetting[] } {
	const text = fs.readFileSync(README, 'utf8');
	const start = text.indexOf(SECTION);
	if (start < 0) throw new Error(`README: no section "${SECTION}"`);
	const end = text.indexOf('\n## ', start + SECTION.length);
	const lines = text.slice(start, end < 0 ? undefined : end).split('\n');
	return {
		parameters: settings(tableAfter(lines, /^## Camb Separation Status/)),
		options: settings(tableAfter(lines, /^\*\*Options\*\*/)),
	};
}
