/**
 * Once per queue-mode test run: what the e2e setup does (the pinned n8n installed, the package
 * packed once), plus Debian's Postgres and Redis, installed with apt-get when missing.
 */
import { checkInstallsAndPack } from '../e2e/globalSetup';
import { queueMajors } from './majors';
import { ensureServicePackages } from './services';

export default async function globalSetup(): Promise<void> {
	checkInstallsAndPack(queueMajors());
	console.log(`\n[queue] ${ensureServicePackages()}`);
}
