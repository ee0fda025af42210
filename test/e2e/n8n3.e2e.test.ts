/**
 * n8n 3.0's switches, as far as REAL n8n 2.41 (the newest that installs here) accepts them, with
 * this package installed as a community package: what 2.41 does with it under
 * N8N_UNVERIFIED_PACKAGES_ENABLED=false (3.0's default), and n8n's own report of what 3.0 breaks
 * (GET /rest/breaking-changes/report) over an instance holding every shipped example.
 *
 * Run with `npm run test:e2e` (build, cached n8n install, then jest -c jest.e2e.config.js).
 */
import * as fs from 'node:fs';

import {
	CREDENTIAL_TYPE,
	credentialRecord,
	PACKAGE_NAME,
	STATUS_NODE_TYPE,
	SUBMIT_NODE_TYPE,
} from '../fixtures/package';
import { startStandIn, type StandIn } from '../stand-in/cambStandIn';
import {
	EXAMPLES_DIR,
	expectRun,
	loadExample,
	N8nRest,
	startSession,
	withTaskIds,
	type Json,
	type N8nServer,
	type N8nSession,
} from './n8n';

const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const OWNER = {
	email: 'owner@example.invalid',
	firstName: 'Camb',
	lastName: 'Tester',
	password: 'Camb3Report!',
};

describeE2e("n8n 2.x with n8n 3.0's switches", () => {
	let camb: StandIn;
	let session: N8nSession;

	beforeAll(async () => {
		camb = await startStandIn();
		session = await startSession('2');
		await session.importCredentials([credentialRecord(camb.baseUrl)]);
	}, 240_000);

	afterAll(async () => {
		await session?.close();
		await camb?.close();
	});

	it('N8N_UNVERIFIED_PACKAGES_ENABLED=false: what 2.41 does with the installed package', async () => {
		// Every 2.x session of every suite runs with 3.0's default (versions.json), so each 2.x test
		// that runs a Camb node also shows 2.41 loading the package: n8n execute here, n8n start in
		// the section below, the MCP and Data table suites, queue mode's main and workers.
		expect(session.install.env.N8N_UNVERIFIED_PACKAGES_ENABLED).toBe('false');
		camb.task('done', { json: { status: 'SUCCESS', run_id: 1 } });
		const workflow = withTaskIds(loadExample('check-once-and-route.json'), ['done']);
		const result = await session.run(workflow);
		// 2.41 still loads and runs an installed package that n8n has not verified: the variable
		// only refuses installs through the Community Nodes panel there ("Installation of
		// unverified community packages is forbidden!"). 3.0 stops loading it (n8n's rule
		// "Unverified community packages are disabled by default").
		expectRun(result, 'success', 0);
		expect(camb.requestsForTask('done')).toHaveLength(1);
	});

	describe("n8n's report of what 3.0 breaks", () => {
		let server: N8nServer;
		let report: Json;
		let rest: N8nRest;
		/** The workflows each workflow rule flagged, by rule id. */
		const flagged: Record<string, string[]> = {};
		const examples = fs
			.readdirSync(EXAMPLES_DIR)
			.filter((name) => name.endsWith('.json'))
			.sort();
		let ids: string[];

		beforeAll(async () => {
			// Every example as shipped, and one planted copy with "Always Output Data" on the status
			// node: the report must see that one, so it is seen to read our workflows at all.
			const planted = loadExample('check-once-and-route.json');
			planted.name = 'planted: Always Output Data on';
			for (const node of planted.nodes as Json[])
				if (String(node.type).endsWith('.cambSeparationStatus')) node.alwaysOutputData = true;
			ids = await session.importWorkflows([...examples.map((name) => loadExample(name)), planted]);
			server = await session.startServer();
			rest = new N8nRest(server.baseUrl);
			await rest.setUpOwner(OWNER);
			const answer = await rest.request('GET', '/breaking-changes/report?version=v3');
			expect(answer.status).toBe(200);
			report = (answer.body?.data as Json).report as Json;
			for (const result of report.workflowResults as Json[]) {
				const detail = await rest.request('GET', `/breaking-changes/report/${result.ruleId}`);
				const affected = ((detail.body?.data as Json).affectedWorkflows ?? []) as Json[];
				flagged[result.ruleId as string] = affected.map((workflow) => workflow.id as string);
			}
			const rules = (list: unknown) => (list as Json[]).map((result) => result.ruleId).join(', ');
			console.log(
				`n8n ${report.currentVersion} -> ${report.targetVersion}: workflow findings: ${rules(report.workflowResults) || 'none'}; ` +
					`instance findings: ${rules(report.instanceResults)}`,
			);
		}, 300_000);

		afterAll(async () => {
			await server?.stop();
		});

		it("n8n start offers the package's nodes and credential to the editor", async () => {
			// What the editor loads once logged in: every node and credential type n8n loaded.
			const names = async (file: string) =>
				((await rest.send('GET', `/types/${file}`)).body as Json[]).map(
					(type) => type.name as string,
				);
			expect(await names('nodes.json')).toEqual(
				expect.arrayContaining([STATUS_NODE_TYPE, SUBMIT_NODE_TYPE]),
			);
			expect(await names('credentials.json')).toContain(CREDENTIAL_TYPE);
		});

		it('flags the planted workflow, and no shipped example or anything of this package', () => {
			expect(flagged).toEqual({ 'always-output-data-multi-output-v3': [ids[examples.length]] });
			// Instance findings are about the instance's settings; none names this package.
			expect(JSON.stringify(report.instanceResults)).not.toContain(PACKAGE_NAME);
		});
	});
});
