/**
 * Once per queue-mode test run: what the e2e setup does (the pinned n8n installed, the package
 * packed once), plus Debian's Postgres and Redis, installed with apt-get when missing.
 */
import { checkInstallsAndPack } from '../e2e/globalSetup';
import { installDebianPackages } from '../e2e/n8n';
import { queueMajors } from './majors';

export default async function globalSetup(): Promise<void> {
	checkInstallsAndPack(queueMajors());
	console.log(`\n[queue] ${installDebianPackages('postgresql', 'redis-server')}`);
}
