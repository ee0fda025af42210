/**
 * Once per e2e test run: checks that every pinned n8n is installed (failing loudly if not) and
 * packs the package a single time; the tests read the tarball's path from CAMB_E2E_TARBALL.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findInstall, packPackage, versionPins, type Major } from './n8n';

/** The check and the pack, for these majors (the queue-mode suite shares it). */
export function checkInstallsAndPack(majors: Major[]): void {
	for (const major of majors) findInstall(major);
	const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'camb-e2e-pack-'));
	process.env.CAMB_E2E_PACK_DIR = packDir;
	process.env.CAMB_E2E_TARBALL = packPackage(packDir);
}

export default async function globalSetup(): Promise<void> {
	checkInstallsAndPack(Object.keys(versionPins()) as Major[]);
}
