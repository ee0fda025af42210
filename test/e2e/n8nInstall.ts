/**
 * The pinned n8n releases (versions.json, installed by install-n8n.sh into a cache outside the
 * clone), the repository's paths, free ports, and this package packed and installed the way n8n's
 * Community Nodes panel installs it; and the Debian packages the browser and queue suites run
 * (install-debian-packages.sh). Part of the e2e runner (n8n.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_NAME } from '../fixtures/package';

export type Major = '1' | '2';

/** The repository: found upwards, so this works from test/e2e (ts-jest) and from dist-test/test/e2e (compiled scripts). */
function findRepoDir(from: string): string {
	for (let dir = from; ; dir = path.dirname(dir)) {
		const manifest = path.join(dir, 'package.json');
		// dist-test/ holds a copy of package.json too, but not test/e2e/versions.json.
		if (
			fs.existsSync(manifest) &&
			fs.existsSync(path.join(dir, 'test', 'e2e', 'versions.json')) &&
			(JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name ===
				'n8n-nodes-camb-separation'
		) {
			return dir;
		}
		if (path.dirname(dir) === dir)
			throw new Error(`no n8n-nodes-camb-separation package.json above ${from}`);
	}
}
export const REPO_DIR = findRepoDir(__dirname);
const E2E_DIR = path.join(REPO_DIR, 'test', 'e2e');
export const EXAMPLES_DIR = path.join(REPO_DIR, 'examples');

export type DebianPackage = 'chromium' | 'postgresql' | 'redis-server';

/**
 * Installs the Debian packages whose programs are missing (install-debian-packages.sh: one
 * apt-get at a time, so it waits for the one .ci/run starts in the background). Returns what it
 * did, for the log; throws with apt's output when that failed.
 */
export function installDebianPackages(...packages: DebianPackage[]): string {
	const result = spawnSync(
		'bash',
		[path.join(E2E_DIR, 'install-debian-packages.sh'), ...packages],
		{
			encoding: 'utf8',
			timeout: 900_000,
		},
	);
	if (result.status !== 0)
		throw new Error(
			`install-debian-packages.sh ${packages.join(' ')} failed (${result.status ?? result.signal}):\n${(result.stdout ?? '').slice(-3000)}\n${(result.stderr ?? '').slice(-3000)}`,
		);
	return result.stdout.trim().split('\n').pop() ?? '';
}

interface VersionPin {
	n8n: string;
	node: string | null;
	overrides?: Record<string, string>;
	env?: Record<string, string>;
}

function cacheDir(): string {
	return process.env.CAMB_E2E_CACHE || path.join(os.homedir(), '.cache', PACKAGE_NAME);
}

export function versionPins(): Record<Major, VersionPin> {
	const file = path.join(E2E_DIR, 'versions.json');
	return (JSON.parse(fs.readFileSync(file, 'utf8')) as { majors: Record<Major, VersionPin> })
		.majors;
}

export interface N8nInstall {
	major: Major;
	version: string;
	nodeBin: string;
	nodeVersion: string;
	/** n8n's bin/n8n script, run as `<nodeBin> <n8nScript>`. */
	n8nScript: string;
	/** Extra environment this major needs (versions.json). */
	env: Record<string, string>;
}

/**
 * The installed n8n for one major, as install-n8n.sh left it. Throws (never skips) when it is
 * missing or was installed for something else: the e2e tests must fail loudly then.
 */
export function findInstall(major: Major): N8nInstall {
	const pin = versionPins()[major];
	if (!pin) throw new Error(`test/e2e/versions.json pins no n8n ${major}.x`);
	const dir = path.join(cacheDir(), `n8n-${pin.n8n}`);
	const markerFile = path.join(dir, '.camb-e2e-installed.json');
	const hint = `Run \`bash test/e2e/install-n8n.sh ${major}\` (npm run test:e2e does).`;
	if (!fs.existsSync(markerFile)) {
		throw new Error(
			`n8n ${pin.n8n} is not installed in ${dir} (no ${path.basename(markerFile)}). ${hint}`,
		);
	}
	const marker = JSON.parse(fs.readFileSync(markerFile, 'utf8')) as {
		n8n: string;
		nodeBin: string;
		nodeVersion: string;
	};
	if (marker.n8n !== pin.n8n)
		throw new Error(`${dir} holds n8n ${marker.n8n}, versions.json pins ${pin.n8n}. ${hint}`);
	if (pin.node && marker.nodeVersion !== `v${pin.node}`) {
		throw new Error(
			`n8n ${pin.n8n} was installed for Node ${marker.nodeVersion}, versions.json pins ${pin.node}. ${hint}`,
		);
	}
	const n8nScript = path.join(dir, 'node_modules', 'n8n', 'bin', 'n8n');
	for (const file of [marker.nodeBin, n8nScript]) {
		if (!fs.existsSync(file))
			throw new Error(`${file} is missing from the n8n ${pin.n8n} install. ${hint}`);
	}
	return {
		major,
		version: pin.n8n,
		nodeBin: marker.nodeBin,
		nodeVersion: marker.nodeVersion,
		n8nScript,
		env: pin.env ?? {},
	};
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

// ---------------------------------------------------------------------------------------------
// The package under test

/**
 * Packs the package (dist/ must be built) into `destination` and returns the tarball's path.
 * Runs in globalSetup once per test run; packTarball() reuses it.
 */
export function packPackage(destination: string): string {
	for (const file of [
		'dist/nodes/CambSeparationStatus/CambSeparationStatus.node.js',
		'dist/credentials/CambAiApi.credentials.js',
	]) {
		if (!fs.existsSync(path.join(REPO_DIR, file)))
			throw new Error(`${file} is missing: run \`npm run build\` first`);
	}
	fs.mkdirSync(destination, { recursive: true });
	const result = spawnSync('npm', ['pack', '--json', '--pack-destination', destination], {
		cwd: REPO_DIR,
		encoding: 'utf8',
		env: { ...process.env, npm_config_ignore_scripts: 'true' },
	});
	if (result.status !== 0) throw new Error(`npm pack failed (${result.status}): ${result.stderr}`);
	const [packed] = JSON.parse(result.stdout) as Array<{ filename: string }>;
	return path.join(destination, packed.filename);
}

let ownTarball: string | undefined;

/** The tarball globalSetup packed (CAMB_E2E_TARBALL), or one packed now for this process. */
export function packTarball(): string {
	const fromSetup = process.env.CAMB_E2E_TARBALL;
	if (fromSetup && fs.existsSync(fromSetup)) return fromSetup;
	ownTarball ??= packPackage(fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-pack-')));
	return ownTarball;
}

// Whatever way this process ends, the tarball packTarball() made for it (scripts without jest's
// global setup) goes too.
process.once('exit', () => {
	if (ownTarball) fs.rmSync(path.dirname(ownTarball), { recursive: true, force: true });
});

/**
 * Installs the tarball into `<userFolder>/.n8n/nodes` the way the Community Nodes panel does:
 * extract into node_modules/<name> (replacing an earlier install), drop dev/peer/optional dependencies from its package.json,
 * and list it with its exact version in the folder's package.json.
 */
export function installPackage(userFolder: string, tarball: string): string {
	const nodesDir = path.join(userFolder, '.n8n', 'nodes');
	const packageDir = path.join(nodesDir, 'node_modules', PACKAGE_NAME);
	// A reinstall (npm run dev's rebuild) replaces the old files: none may linger from an earlier build.
	fs.rmSync(packageDir, { recursive: true, force: true });
	fs.mkdirSync(packageDir, { recursive: true });
	const tar = spawnSync('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1'], {
		encoding: 'utf8',
	});
	if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);

	const manifestFile = path.join(packageDir, 'package.json');
	const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Record<string, unknown>;
	if (manifest.dependencies && Object.keys(manifest.dependencies).length > 0) {
		throw new Error(
			`the package has runtime dependencies (${Object.keys(manifest.dependencies).join(', ')}); n8n would npm-install them`,
		);
	}
	const kept = { ...manifest };
	for (const field of ['devDependencies', 'peerDependencies', 'optionalDependencies'])
		delete kept[field];
	fs.writeFileSync(manifestFile, JSON.stringify(kept, null, 2));
	fs.writeFileSync(
		path.join(nodesDir, 'package.json'),
		JSON.stringify(
			{
				name: 'installed-nodes',
				private: true,
				dependencies: { [PACKAGE_NAME]: manifest.version },
			},
			null,
			2,
		),
	);

	// n8n puts its own node_modules on NODE_PATH for community packages; a copy of n8n-workflow
	// next to (or inside) the package would be found first and break instanceof checks.
	for (const shadow of [
		path.join(packageDir, 'node_modules'),
		path.join(nodesDir, 'node_modules', 'n8n-workflow'),
	]) {
		if (fs.existsSync(shadow))
			throw new Error(`${shadow} exists and would shadow n8n's own n8n-workflow`);
	}
	return packageDir;
}
