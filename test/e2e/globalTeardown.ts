/** After the e2e (and queue) suites: removes the packed package that globalSetup.ts made. */
import * as fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
	const packDir = process.env.CAMB_E2E_PACK_DIR;
	if (packDir) fs.rmSync(packDir, { recursive: true, force: true });
}
