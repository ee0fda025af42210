/**
 * The rules of the code's shape that a linter does not check, checked on the real tree and shown
 * to fail on a planted violation: CAMB.AI's paths are built only in the transport's cambApi.ts,
 * and the imports of the product code (nodes/, credentials/) form no cycle.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO_DIR = path.join(__dirname, '..', '..');
const CAMB_API = path.join('nodes', 'shared', 'transport', 'cambApi.ts');

/** Every .ts file under `dirs` (relative to `root`), as repo-relative paths. */
function sources(root: string, dirs: string[]): string[] {
	const found: string[] = [];
	const walk = (dir: string) => {
		for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
			const relative = path.join(dir, entry.name);
			if (entry.isDirectory()) walk(relative);
			else if (entry.name.endsWith('.ts')) found.push(relative);
		}
	};
	for (const dir of dirs) walk(dir);
	return found.sort();
}

/** Files other than cambApi.ts that spell out a CAMB.AI path (a string or template part starting "/audio-separation"). */
function cambPathsOutsideApi(root: string, files: string[]): string[] {
	return files.filter(
		(file) =>
			file !== CAMB_API &&
			/['"`}]\/audio-separation/.test(fs.readFileSync(path.join(root, file), 'utf8')),
	);
}

/** The relative imports of a file (`import ... from './x'`, `export ... from '../y'`), resolved. */
function importsOf(root: string, file: string): string[] {
	const text = fs.readFileSync(path.join(root, file), 'utf8');
	const targets = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map(
		(match) => match[1],
	);
	return targets.map((target) => {
		const base = path.join(path.dirname(file), target);
		return fs.existsSync(path.join(root, `${base}.ts`))
			? `${base}.ts`
			: path.join(base, 'index.ts');
	});
}

/** The first import cycle found among `files`, as the chain of files; undefined when there is none. */
function importCycle(root: string, files: string[]): string[] | undefined {
	const state = new Map<string, 'open' | 'done'>();
	const visit = (file: string, chain: string[]): string[] | undefined => {
		if (state.get(file) === 'done') return undefined;
		if (state.get(file) === 'open') return [...chain.slice(chain.indexOf(file)), file];
		state.set(file, 'open');
		for (const next of importsOf(root, file)) {
			const cycle = visit(next, [...chain, file]);
			if (cycle) return cycle;
		}
		state.set(file, 'done');
		return undefined;
	};
	for (const file of files) {
		const cycle = visit(file, []);
		if (cycle) return cycle;
	}
	return undefined;
}

describe('the product code', () => {
	const files = sources(REPO_DIR, ['nodes', 'credentials']);

	it('builds CAMB.AI paths only in the transport (cambApi.ts)', () => {
		expect(files).toContain(CAMB_API);
		expect(cambPathsOutsideApi(REPO_DIR, files)).toEqual([]);
	});

	it('has no import cycle', () => {
		expect(importCycle(REPO_DIR, files)).toBeUndefined();
	});
});

describe('the checks fail on a planted violation', () => {
	let root: string;
	beforeAll(() => {
		root = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-structure-'));
		const write = (file: string, text: string) => {
			fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true });
			fs.writeFileSync(path.join(root, file), text);
		};
		write(CAMB_API, "export const path = '/audio-separation';\n");
		write('nodes/a.ts', "import { b } from './b';\nexport const a = () => b;\n");
		write('nodes/b.ts', "import type { c } from './sub';\nexport const b = 1;\n");
		write('nodes/sub/index.ts', "export { a as c } from '../a';\n");
		write('nodes/node.ts', 'const url = `${base}/audio-separation/${id}`;\n');
	});
	afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

	it('a path built in a node', () => {
		expect(cambPathsOutsideApi(root, sources(root, ['nodes']))).toEqual(['nodes/node.ts']);
	});

	it('a cycle through a type import and a folder index', () => {
		expect(importCycle(root, sources(root, ['nodes']))).toEqual([
			'nodes/a.ts',
			'nodes/b.ts',
			'nodes/sub/index.ts',
			'nodes/a.ts',
		]);
	});
});
