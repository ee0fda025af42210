/**
 * Queue mode in real n8n (test/queue): main + workers, Postgres and Redis. Run with
 * `npm run test:queue`, which builds, installs the pinned n8n releases into a cache outside the
 * clone (as test:e2e does), then runs this config in band.
 * @type {import('jest').Config}
 */
module.exports = {
	preset: 'ts-jest',
	testEnvironment: 'node',
	roots: ['<rootDir>/test/queue'],
	testMatch: ['**/*.queue.test.ts'],
	transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json' }] },
	globalSetup: '<rootDir>/test/queue/globalSetup.ts',
	globalTeardown: '<rootDir>/test/e2e/globalTeardown.ts',
	// One major at a time: each runs five n8n processes on a two-core machine.
	maxWorkers: 1,
	testTimeout: 300000,
	slowTestThreshold: 120,
};
