/**
 * The GitHub Actions workflows are checked against GitHub's workflow schema by action-validator
 * (@action-validator/cli, offline: the schema is compiled into its WebAssembly core). The check
 * must accept the real files and reject broken copies of them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO_DIR = path.join(__dirname, '..', '..');
const WORKFLOWS_DIR = path.join(REPO_DIR, '.github', 'workflows');
const VALIDATOR = path.join(REPO_DIR, 'node_modules', '@action-validator', 'cli', 'cli.mjs');

function validate(file: string) {
	const result = spawnSync(process.execPath, [VALIDATOR, file], {
		encoding: 'utf8',
		timeout: 60_000,
	});
	return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const workflows = fs.readdirSync(WORKFLOWS_DIR).filter((name) => /\.ya?ml$/.test(name));
const read = (name: string) => fs.readFileSync(path.join(WORKFLOWS_DIR, name), 'utf8');

let scratch: string;
beforeAll(() => {
	scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-workflows-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A copy of a workflow with one edit, which must actually change the file. */
function brokenCopy(name: string, from: string | RegExp, to: string): string {
	const original = read(name);
	const broken = original.replace(from, to);
	expect(broken).not.toBe(original);
	const file = path.join(scratch, `broken-${name}`);
	fs.writeFileSync(file, broken);
	return file;
}

test('the workflows are ci.yml and publish.yml', () => {
	expect(workflows.sort()).toEqual(['ci.yml', 'publish.yml']);
});

test.each(workflows)('%s is a valid GitHub workflow', (name) => {
	const { status, output } = validate(path.join(WORKFLOWS_DIR, name));
	expect(output).toBe('');
	expect(status).toBe(0);
});

test('publish.yml runs on version tags with the permissions provenance needs', () => {
	const publish = read('publish.yml');
	expect(publish).toMatch(/tags:\s*\n\s*- 'v\*\.\*\.\*'/);
	expect(publish).toMatch(
		/permissions:\s*\n(\s*#.*\n)*\s*id-token: write\n(\s*#.*\n)*\s*contents: read/,
	);
	expect(publish).toContain('npm run release');
	expect(publish).toContain('secrets.NPM_TOKEN');
});

describe('the validator rejects broken workflows', () => {
	test('a misspelt job key (runs_on)', () => {
		const { status, output } = validate(brokenCopy('ci.yml', /^(\s+)runs-on:/m, '$1runs_on:'));
		expect(output).toContain("Additional property 'runs_on' is not allowed");
		expect(status).toBe(1);
	});

	test('a permission level that does not exist', () => {
		const { status, output } = validate(
			brokenCopy('publish.yml', /^(\s+)id-token: write$/m, '$1id-token: sign'),
		);
		expect(output).toContain('/jobs/publish/permissions/id-token');
		expect(status).toBe(1);
	});

	test('YAML that does not parse', () => {
		const { status, output } = validate(
			brokenCopy('publish.yml', /^(\s+)- 'v\*\.\*\.\*'$/m, "$1- ['v*.*.*'"),
		);
		expect(output).toContain('Parse Error');
		expect(status).toBe(1);
	});
});
