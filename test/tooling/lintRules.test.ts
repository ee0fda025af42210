/**
 * The lint's rules of shape, as `npm run lint` applies them (ESLint with config lookup from the
 * file, so nodes/ and credentials/ take their own eslint.config.mjs and test/ its own): each is
 * shown failing on a planted violation, linted as text under a real path so nothing is written
 * into the tree; and n8n's own rules still apply to node code beside them. (Import cycles are
 * checked by structure.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const REPO_DIR = path.join(__dirname, '..', '..');
const ESLINT = path.join(REPO_DIR, 'node_modules', 'eslint', 'bin', 'eslint.js');

/** The rules ESLint's CLI reports for `text` linted as if it were `file` (a child process: ESLint loads its configs with import()). */
async function ruleIdsFor(file: string, text: string): Promise<string[]> {
	const run = spawnSync(
		process.execPath,
		[ESLINT, '--format', 'json', '--stdin', '--stdin-filename', file],
		{
			cwd: REPO_DIR,
			input: text,
			encoding: 'utf8',
			timeout: 120_000,
			env: { ...process.env, ESLINT_FLAGS: 'unstable_config_lookup_from_file' },
		},
	);
	if (run.status === 2 || !run.stdout) throw new Error(`eslint failed: ${run.stderr}`);
	const [result] = JSON.parse(run.stdout) as Array<{
		messages: Array<{ ruleId: string | null; message: string }>;
	}>;
	return result.messages.map((message) => message.ruleId ?? message.message);
}

const longFunction = (lines: number) =>
	`export function long(): number {\n\tlet n = 0;\n${'\tn++;\n'.repeat(lines)}\treturn n;\n}\n`;

describe('npm run lint', () => {
	it('fails a function over 60 lines in nodes/ and credentials/, not one of 60', async () => {
		expect(await ruleIdsFor('nodes/shared/planted.ts', longFunction(57))).toContain(
			'max-lines-per-function',
		);
		expect(await ruleIdsFor('credentials/planted.ts', longFunction(57))).toContain(
			'max-lines-per-function',
		);
		expect(await ruleIdsFor('nodes/shared/planted.ts', longFunction(56))).toEqual([]);
	});

	it("still applies n8n's rules to node code", async () => {
		const text = 'export const later = (f: () => void) => setTimeout(f, 1);\n';
		expect(await ruleIdsFor('nodes/shared/planted.ts', text)).toContain(
			'@n8n/community-nodes/no-restricted-globals',
		);
	});

	it('fails a test file over 800 lines', async () => {
		const text = `export const lines = [\n${'\t0,\n'.repeat(800)}];\n`;
		expect(await ruleIdsFor('test/unit/planted.ts', text)).toContain('max-lines');
	});
});
