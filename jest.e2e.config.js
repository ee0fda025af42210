/**
 * End-to-end tests in real n8n processes (test/e2e). Run with `npm run test:e2e`, which builds,
 * installs the pinned n8n releases into a cache outside the clone, then runs this config.
 * @type {import('jest').Config}
 */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['**/*.e2e.test.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json' }] },
	globalSetup: '<rootDir>/test/e2e/globalSetup.ts',
	globalTeardown: '<rootDir>/test/e2e/globalTeardown.ts',
	// One n8n at a time: each start is CPU-heavy and the machine has two cores.
	maxWorkers: 1,
	testTimeout: 300000,
	slowTestThreshold: 60,
};
