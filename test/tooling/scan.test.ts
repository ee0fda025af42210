/**
 * `npm run scan` (scripts/scan.mjs) runs n8n's own scanner rules offline. It must pass on this
 * package, and it must fail on a violation in either leg it checks, including one an inline
 * `eslint-disable` comment tries to hide (the scanner ignores such comments). Needs dist/ built
 * (`npm test` builds first).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO_DIR = path.join(__dirname, '..', '..');
const SCAN = path.join(REPO_DIR, 'scripts', 'scan.mjs');

function scan(packageDir: string) {
	const result = spawnSync(process.execPath, [SCAN, packageDir], {
		cwd: REPO_DIR,
		encoding: 'utf8',
		timeout: 120_000,
	});
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A copy of what the scanner sees of this package: its manifest, node sources and build. */
function copyPackage(): string {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-scan-test-'));
	for (const entry of ['package.json', '.npmrc', 'nodes', 'credentials', 'dist']) {
		fs.cpSync(path.join(REPO_DIR, entry), path.join(dir, entry), { recursive: true });
	}
	return dir;
}

// Each scan packs and lints the package: seconds alone, much longer on a busy machine.
jest.setTimeout(180_000);

const copies: string[] = [];
afterAll(() => {
	for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
});

describe('npm run scan', () => {
	test('passes on this package: source and packed tarball', () => {
		const { status, output } = scan(REPO_DIR);
		expect(output).toContain('passed: source');
		expect(output).toMatch(/passed: packed tarball \(\d+ files\)/);
		expect(status).toBe(0);
	});

	test('fails on a violation in node source, even behind an eslint-disable comment', () => {
		const dir = copyPackage();
		copies.push(dir);
		fs.appendFileSync(
			path.join(dir, 'nodes', 'CambSeparationStatus', 'validate.ts'),
			"\n// eslint-disable-next-line no-console\nconsole.log('planted');\n",
		);
		const { status, output } = scan(dir);
		expect(output).toContain('FAILED: source');
		expect(output).toContain('no-console');
		// The tarball is built from dist/, which was not touched.
		expect(output).toContain('passed: packed tarball');
		expect(status).toBe(1);
	});

	test('fails on a violation that exists only in the packed build output', () => {
		const dir = copyPackage();
		copies.push(dir);
		fs.appendFileSync(
			path.join(dir, 'dist', 'nodes', 'CambSeparationStatus', 'validate.js'),
			'\nsetTimeout(() => undefined, 1);\n',
		);
		const { status, output } = scan(dir);
		expect(output).toContain('passed: source');
		expect(output).toContain('FAILED: packed tarball');
		expect(output).toContain('@n8n/community-nodes/no-restricted-globals');
		expect(status).toBe(1);
	});
});
