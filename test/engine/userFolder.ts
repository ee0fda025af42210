/**
 * Side-effect module: gives n8n-core a throw-away user folder and a quiet logger.
 *
 * `harness.ts` imports this module before anything from n8n-core, so the environment is in place
 * before n8n-core (or @n8n/config) is loaded. In n8n-core 1.122 the values are read lazily, when
 * the DI container first builds `InstanceSettingsConfig` / `GlobalConfig` (that happens at the
 * first node execution context, which constructs `InstanceSettings` and writes
 * `$N8N_USER_FOLDER/.n8n/config` with a generated encryption key), but setting them up front keeps
 * this working if a later version reads them at import time.
 *
 * Each jest test file gets its own module registry, so each test file that imports the harness
 * gets its own folder (and its own DI container, because @n8n/di is re-required as well).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ENV_KEYS = ['N8N_USER_FOLDER', 'N8N_LOG_LEVEL', 'N8N_DIAGNOSTICS_ENABLED'] as const;

const previousEnv: Partial<Record<(typeof ENV_KEYS)[number], string | undefined>> = {};
for (const key of ENV_KEYS) previousEnv[key] = process.env[key];

/** The temporary folder n8n-core uses as its user folder (it creates `.n8n/` inside). */
export const harnessUserFolder = mkdtempSync(join(tmpdir(), 'n8n-harness-'));

process.env.N8N_USER_FOLDER = harnessUserFolder;
// n8n's ErrorReporter logs every node error through the winston logger; keep jest output clean
// unless the developer asks for logs (e.g. N8N_LOG_LEVEL=debug npx jest ...).
if (process.env.N8N_LOG_LEVEL === undefined) process.env.N8N_LOG_LEVEL = 'silent';
if (process.env.N8N_DIAGNOSTICS_ENABLED === undefined)
	process.env.N8N_DIAGNOSTICS_ENABLED = 'false';

// Fallback cleanup if the test file never calls disposeHarness(). Removed again by
// removeHarnessUserFolder(), so listeners do not pile up across test files in one jest worker.
const removeOnExit = (): void => rmSync(harnessUserFolder, { recursive: true, force: true });
process.once('exit', removeOnExit);

let removed = false;

/** Deletes the temporary user folder and restores the environment variables set above. */
export function removeHarnessUserFolder(): void {
	if (removed) return;
	removed = true;
	rmSync(harnessUserFolder, { recursive: true, force: true });
	process.removeListener('exit', removeOnExit);
	for (const key of ENV_KEYS) {
		const value = previousEnv[key];
		if (value === undefined) delete process.env[key];
		else process.env[key] = value;
	}
}
