/**
 * The CAMB.AI API credential's Test button, in REAL n8n 1.x and 2.x: n8n's own credential test,
 * called through its REST API the way the editor does it (log in; Save = `POST /rest/credentials`;
 * Test = `POST /rest/credentials/test` with the form's data and the saved credential's id), against
 * the CAMB stand-in on 127.0.0.1.
 */
import { API_KEY } from '../fixtures/package';
import { startStandIn, type StandIn } from '../stand-in/cambStandIn';
import {
	N8nRest,
	startSession,
	type Json,
	type Major,
	type N8nAccount,
	type N8nServer,
	type N8nSession,
} from './n8n';

// jest.config.js (unit tests) matches *.test.ts too; this needs jest.e2e.config.js (n8n installed).
const describeE2e = process.env.CAMB_E2E_TARBALL ? describe : describe.skip;

const OWNER: N8nAccount = {
	email: 'owner@example.com',
	firstName: 'Camb',
	lastName: 'Tester',
	password: 'Credential-test-0wner',
};
/** A key the stand-in does not accept; as long and distinctive as API_KEY, so a leak of it cannot be missed. */
const WRONG_KEY = 'camb-e2e-wrong-key-5d1c9a7e3f2b8064';
/** What each major shows, as read from the running n8n. */
const SHOWN: Record<Major, { rejected: RegExp; unreachable: RegExp }> = {
	// 1.x does not apply the credential's test rules to this error, and shows its own text for a 401.
	'1': {
		rejected: /^Authorization failed - please check your credentials$/,
		unreachable:
			/^The connection cannot be established, this usually occurs due to an incorrect host \(domain\) value$/,
	},
	// 2.x applies the credential's rule for 401, and reports a failed lookup by its code.
	'2': { rejected: /^CAMB\.AI rejected the API key \(HTTP 401\)\. /, unreachable: /^ENOTFOUND$/ },
};
/** Both majors send a request that got 401 once more, after "pre-authentication" (a no-op for this credential). */
const REQUESTS_ON_401 = 2;

interface TestAnswer {
	/** n8n's verdict, as the editor shows it: status 'OK' or 'Error', and a message. */
	result: { status: string; message: string };
	/** The whole HTTP answer, to search for the key. */
	text: string;
}

describeE2e.each(['1', '2'] as Major[])(
	"n8n %s.x: the CAMB.AI API credential's Test button",
	(major) => {
		let camb: StandIn;
		let session: N8nSession;
		let server: N8nServer;
		let rest: N8nRest;

		beforeAll(async () => {
			camb = await startStandIn({ apiKey: API_KEY });
			session = await startSession(major);
			server = await session.startServer();
			rest = new N8nRest(server.baseUrl);
			await rest.setUpOwner(OWNER);
		}, 240_000);

		afterAll(async () => {
			await server?.stop();
			await session?.close();
			await camb?.close();
		});

		beforeEach(() => camb.reset());

		async function test(id: string, data: Json): Promise<TestAnswer> {
			const answer = await rest.request('POST', '/credentials/test', {
				credentials: { id, name: 'CAMB.AI account', type: 'cambAiApi', data },
			});
			expect([answer.status, answer.text]).toEqual([200, expect.any(String)]);
			return { result: answer.body?.data as TestAnswer['result'], text: answer.text };
		}

		/** Save, then Test with the data the form holds, as the editor's credential dialog does. */
		async function saveAndTest(data: Json): Promise<TestAnswer & { id: string }> {
			const saved = (await rest.data('POST', '/credentials', {
				name: 'CAMB.AI account',
				type: 'cambAiApi',
				data,
			})) as Json;
			return { id: saved.id as string, ...(await test(saved.id as string, data)) };
		}

		it('a good key: "Connection successful", after one GET /list-voices with the key; also once the dialog is reopened (key redacted)', async () => {
			const { id, result } = await saveAndTest({ apiKey: API_KEY, baseUrl: camb.baseUrl });

			expect(result).toEqual({ status: 'OK', message: 'Connection successful!' });
			expect(
				camb.requests.map((request) => [
					request.method,
					request.path,
					request.headers['x-api-key'],
				]),
			).toEqual([['GET', '/list-voices', API_KEY]]);

			// Reopened, the dialog gets the key redacted and sends that back on Test: n8n fills in the stored key.
			const reopened = await rest.request('GET', `/credentials/${id}?includeData=true`);
			expect(reopened.status).toBe(200);
			expect(reopened.text).not.toContain(API_KEY);
			const formData = reopened.body?.data.data as Json;
			expect(formData.baseUrl).toBe(camb.baseUrl);
			const again = await test(id, formData);
			expect(again.result).toEqual({ status: 'OK', message: 'Connection successful!' });
			expect(camb.requests.map((request) => request.headers['x-api-key'])).toEqual([
				API_KEY,
				API_KEY,
			]);
		});

		it("a wrong key: the test fails saying CAMB.AI rejected the key, and n8n's answer does not hold the key", async () => {
			const { result, text } = await saveAndTest({ apiKey: WRONG_KEY, baseUrl: camb.baseUrl });

			expect(result).toEqual({
				status: 'Error',
				message: expect.stringMatching(SHOWN[major].rejected),
			});
			// The stand-in really was asked (the key went nowhere else), and its answer was 401.
			expect(
				camb.requests.map((request) => [
					request.method,
					request.path,
					request.headers['x-api-key'],
				]),
			).toEqual(Array(REQUESTS_ON_401).fill(['GET', '/list-voices', WRONG_KEY]));
			expect(text).not.toContain(WRONG_KEY);
			expect(text).not.toContain(API_KEY);
		});

		it('a plain-http Base URL to another host: refused as a host that cannot be reached, nothing sent', async () => {
			const { result, text } = await saveAndTest({
				apiKey: API_KEY,
				baseUrl: 'http://camb.example.com/apis',
			});

			expect(result).toEqual({
				status: 'Error',
				message: expect.stringMatching(SHOWN[major].unreachable),
			});
			expect(text).not.toContain(API_KEY);
			expect(camb.requests).toHaveLength(0);
		});

		it('a plain-http Base URL that is not loopback by name but would reach the stand-in (0.0.0.0): refused, the stand-in sees nothing', async () => {
			const sneaky = `http://0.0.0.0:${camb.port}`;
			// The control: this URL does reach the stand-in on this machine (a request without the key gets its 401).
			expect((await fetch(`${sneaky}/list-voices`)).status).toBe(401);
			camb.reset();

			const { result, text } = await saveAndTest({ apiKey: API_KEY, baseUrl: sneaky });

			expect(result).toEqual({
				status: 'Error',
				message: expect.stringMatching(SHOWN[major].unreachable),
			});
			expect(text).not.toContain(API_KEY);
			expect(camb.requests).toHaveLength(0);
		});
	},
);
