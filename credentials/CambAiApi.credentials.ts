/**
 * The "CAMB.AI API" credential: the API key (sent as the x-api-key header, only to the Base URL) and
 * the Base URL, with the Test button n8n shows in the credential's form.
 */
import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

// n8n expression: the base URL when it is https:// or http:// to a loopback host, otherwise a
// host under the reserved .invalid domain that can never resolve.
const SAFE_BASE_URL_EXPRESSION =
	"/^https:\\/\\//i.test($credentials.baseUrl) || /^http:\\/\\/(localhost|127(\\.\\d{1,3}){3}|\\[::1\\])(:\\d+)?(\\/|$)/i.test($credentials.baseUrl) ? $credentials.baseUrl.replace(/\\/+$/, '') : 'https://plain-http-is-only-allowed-for-localhost.invalid'";

export class CambAiApi implements ICredentialType {
	name = 'cambAiApi';

	displayName = 'CAMB.AI API';

	icon: Icon = { light: 'file:camb.svg', dark: 'file:camb.dark.svg' };

	documentationUrl = 'https://docs.camb.ai/';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'Your key from the API section of CAMB.AI Studio',
		},
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://client.camb.ai/apis',
			description:
				'Change only for a proxy or a local stand-in. Must be https://, except http:// to localhost, so the key never travels unencrypted.',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'x-api-key': '={{$credentials.apiKey}}',
			},
		},
	};

	// CAMB's own integration checks a key this way. An insecure base URL is swapped for an
	// unresolvable one, so the test fails and sends the key nowhere. Without the rules, n8n would
	// show only the HTTP status text ("Unauthorized"); they say what CAMB.AI's answer means.
	test: ICredentialTestRequest = {
		request: {
			baseURL: `={{ ${SAFE_BASE_URL_EXPRESSION} }}`,
			url: '/list-voices',
			method: 'GET',
		},
		rules: [
			{
				type: 'responseCode',
				properties: {
					value: 401,
					message:
						'CAMB.AI rejected the API key (HTTP 401). Copy it again from the API section of CAMB.AI Studio.',
				},
			},
			{
				type: 'responseCode',
				properties: {
					value: 403,
					message: 'CAMB.AI refused the request (HTTP 403): this key may not use the API.',
				},
			},
		],
	};
}
