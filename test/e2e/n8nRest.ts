/**
 * n8n's REST API as the editor uses it (owner set-up, login, credentials), for a server the e2e
 * runner (n8n.ts) started.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { Json } from './n8nRunResults';

// ---------------------------------------------------------------------------------------------
// The REST API the editor uses (after `startServer()`)

/** What n8n's owner set-up takes; the email and password are also the login. */
export interface N8nAccount {
	email: string;
	firstName: string;
	lastName: string;
	/** n8n wants 8+ characters with a digit and an upper-case letter. */
	password: string;
}

interface RestAnswer {
	status: number;
	headers: http.IncomingHttpHeaders;
	/** The parsed JSON body, if it was JSON; n8n wraps results in `{ data }`. */
	body?: Json;
	text: string;
}

/**
 * Talks to a running n8n's REST API (`/rest/...`) as its editor does: it keeps the `n8n-auth`
 * cookie n8n sets, and sends one fixed `browser-id` header, to which n8n binds that cookie (a
 * cookie shown with another browser id is refused).
 */
export class N8nRest {
	private cookie = '';
	private readonly browserId = `camb-e2e-${randomUUID()}`;

	constructor(readonly baseUrl: string) {}

	async request(method: string, apiPath: string, body?: unknown): Promise<RestAnswer> {
		return await this.send(method, `/rest${apiPath}`, body);
	}

	/**
	 * Any path of the server (e.g. `/types/nodes.json`, which also wants the login), as the logged-in
	 * editor asks for it. One connection per request (no keep-alive): reusing a kept-alive socket races
	 * with the server closing it when idle, which a busy machine turns into "other side closed".
	 */
	async send(method: string, pathFromRoot: string, body?: unknown): Promise<RestAnswer> {
		const payload = body === undefined ? undefined : JSON.stringify(body);
		const { status, headers, text } = await new Promise<{
			status: number;
			headers: http.IncomingHttpHeaders;
			text: string;
		}>((resolve, reject) => {
			const request = http.request(
				`${this.baseUrl}${pathFromRoot}`,
				{
					method,
					agent: false,
					timeout: 60_000,
					headers: {
						'content-type': 'application/json',
						'browser-id': this.browserId,
						...(this.cookie ? { cookie: this.cookie } : {}),
						...(payload === undefined ? {} : { 'content-length': Buffer.byteLength(payload) }),
					},
				},
				(response) => {
					let received = '';
					response.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
					response.once('end', () =>
						resolve({
							status: response.statusCode ?? 0,
							headers: response.headers,
							text: received,
						}),
					);
					response.once('error', reject);
				},
			);
			request.once('timeout', () =>
				request.destroy(new Error(`${method} ${pathFromRoot}: no answer from n8n in 60 s`)),
			);
			request.once('error', reject);
			request.end(payload);
		});
		const authCookie = (headers['set-cookie'] ?? []).find((cookie) =>
			cookie.startsWith('n8n-auth='),
		);
		if (authCookie) this.cookie = authCookie.split(';')[0];
		let parsed: Json | undefined;
		try {
			parsed = JSON.parse(text) as Json;
		} catch {
			parsed = undefined; // Not JSON (an HTML error page, say): `text` has it.
		}
		return { status, headers, body: parsed, text };
	}

	/** The answer's `data`; throws with the status and body unless n8n answered 2xx. */
	async data(method: string, apiPath: string, body?: unknown): Promise<any> {
		const answer = await this.request(method, apiPath, body);
		if (answer.status < 200 || answer.status > 299) {
			throw new Error(
				`n8n answered ${method} /rest${apiPath} with ${answer.status}: ${answer.text.slice(0, 1000)}`,
			);
		}
		return answer.body?.data;
	}

	/** Creates the instance owner (only possible once per user folder) and logs in as it. */
	async setUpOwner(owner: N8nAccount): Promise<void> {
		await this.data('POST', '/owner/setup', owner);
	}

	async login(email: string, password: string): Promise<void> {
		await this.data('POST', '/login', { emailOrLdapLoginId: email, password });
	}
}
