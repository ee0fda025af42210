// `npm run scan`: the lint half of n8n's community-package scanner, offline, before a release.
//
// n8n's scanner (@n8n/scan-community-package) first refuses a package that has no npm provenance
// attestation, then lints the provenance-attested source and the published tarball. Neither can
// be fetched before a release, so this runs the scanner's own analyzePackage (its ESLint rule
// sets, inline `eslint-disable` comments ignored) on this checkout and on the tarball `npm pack`
// makes from it, with the same file patterns the scanner uses for each. Provenance is not checked
// here: it exists only once publish.yml has published a version.
//
// Usage: node scripts/scan.mjs [package directory, default: this repository]. The directory must
// be built (dist/). Exits 1 if either leg finds an error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = path.resolve(
	process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'),
);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-scan-'));
// The scanner makes a temporary folder when it is loaded and never removes it; keep it inside ours.
process.env.TMPDIR = work;
// eslint-plugin-n8n-nodes-base switches to its own rule-test file names when NODE_ENV is "test"
// (as under jest), and then reports false errors; n8n's scanner never runs that way.
if (process.env.NODE_ENV === 'test') delete process.env.NODE_ENV;
const { analyzePackage, SOURCE_FILE_PATTERNS } = await import(
	'@n8n/scan-community-package/scanner/scanner.mjs'
);

function run(command, args, cwd) {
	const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
	if (result.status !== 0) {
		throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
	}
	return result.stdout;
}

/** The tarball exactly as `npm publish` would upload it, extracted as the scanner extracts it. */
function packAndExtract() {
	const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], packageDir));
	const tarball = path.join(work, packed[0].filename);
	const extracted = path.join(work, 'tarball');
	fs.mkdirSync(extracted);
	run('tar', ['-xzf', tarball, '-C', extracted, '--strip-components=1'], work);
	return { extracted, files: packed[0].files.length };
}

function report(label, result) {
	console.log(`${result.passed ? 'passed' : 'FAILED'}: ${label}`);
	if (!result.passed) {
		console.log(result.message);
		if (result.details) console.log(result.details);
	}
	return result.passed;
}

let passed = false;
try {
	if (!fs.existsSync(path.join(packageDir, 'dist'))) {
		throw new Error(`${packageDir} has no dist/: build it first (npm run build)`);
	}
	// The source leg: package.json and {nodes,credentials}/**/*.{js,ts,json}, full rule sets.
	const source = await analyzePackage(packageDir, SOURCE_FILE_PATTERNS);
	// The tarball leg: compiled .js and the published package.json.
	const { extracted, files } = packAndExtract();
	const tarball = await analyzePackage(extracted, ['**/*.js', 'package.json']);
	const sourceOk = report(`source (${packageDir})`, source);
	const tarballOk = report(`packed tarball (${files} files)`, tarball);
	passed = sourceOk && tarballOk;
	console.log(
		passed
			? 'Scan passed (provenance is not checked before a release: see README, Development).'
			: 'Scan failed.',
	);
} catch (error) {
	console.error(error instanceof Error ? error.message : error);
} finally {
	fs.rmSync(work, { recursive: true, force: true });
}
process.exitCode = passed ? 0 : 1;
