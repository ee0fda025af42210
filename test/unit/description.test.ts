/**
 * The parts of the node and credential descriptions that workflows and users depend on.
 */
import { Workflow, type INode, type INodeType } from 'n8n-workflow';

import { CambAiApi } from '../../credentials/CambAiApi.credentials';
import { CambSeparationStatus } from '../../nodes/CambSeparationStatus/CambSeparationStatus.node';
import { DEFAULTS, OUTPUT, SWITCH_DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import { CambSeparateAudio } from '../../nodes/CambSeparateAudio/CambSeparateAudio.node';
import { DEFAULTS as SUBMIT_DEFAULTS } from '../../nodes/CambSeparateAudio/description';
import packageJson from '../../package.json';

const node = new CambSeparationStatus();

describe('node description', () => {
	it('has the three outputs in the documented order', () => {
		expect(node.description.outputNames).toEqual(['Success', 'Pending', 'Failure']);
		expect(node.description.outputs).toEqual(['main', 'main', 'main']);
		expect(OUTPUT).toEqual({ success: 0, pending: 1, failure: 2 });
	});

	it('reads the task id from the incoming item by default', () => {
		const taskId = node.description.properties.find((p) => p.name === 'taskId');
		expect(taskId).toMatchObject({
			type: 'string',
			default: '={{ $json.task_id }}',
			required: true,
		});
	});

	it('shows the same option defaults the node applies', () => {
		const options = node.description.properties.find((p) => p.name === 'options')
			?.options as Array<{ name: string; default: unknown }>;
		const shown = Object.fromEntries(options.map((option) => [option.name, option.default]));
		expect(shown).toEqual(DEFAULTS);
		const switches = Object.fromEntries(
			Object.keys(SWITCH_DEFAULTS).map((name) => [
				name,
				node.description.properties.find((p) => p.name === name)?.default,
			]),
		);
		expect(switches).toEqual({
			waitForCompletion: false,
			fetchResultUrls: true,
			downloadStems: false,
		});
		expect(switches).toEqual(SWITCH_DEFAULTS);
	});

	it('is usable as an AI tool and needs the CAMB.AI credential', () => {
		expect(node.description.usableAsTool).toBe(true);
		expect(node.description.credentials).toEqual([{ name: 'cambAiApi', required: true }]);
	});

	it('is the node and credential package.json registers', () => {
		expect(packageJson.n8n.nodes).toEqual([
			'dist/nodes/CambSeparateAudio/CambSeparateAudio.node.js',
			'dist/nodes/CambSeparationStatus/CambSeparationStatus.node.js',
		]);
		expect(packageJson.n8n.credentials).toEqual(['dist/credentials/CambAiApi.credentials.js']);
		expect(packageJson).not.toHaveProperty('dependencies');
	});
});

describe('submit node description', () => {
	const submit = new CambSeparateAudio();

	it('reads the file from the "data" binary property by default, and has one output', () => {
		expect(
			submit.description.properties.find((p) => p.name === 'binaryPropertyName'),
		).toMatchObject({ type: 'string', default: 'data', required: true });
		expect(submit.description.outputs).toEqual(['main']);
	});

	it('shows the same option defaults the node applies', () => {
		const options = submit.description.properties.find((p) => p.name === 'options')
			?.options as Array<{ name: string; default: unknown }>;
		const shown = Object.fromEntries(options.map((option) => [option.name, option.default]));
		expect(shown).toEqual(SUBMIT_DEFAULTS);
		expect(shown).toMatchObject({
			keepBinary: false,
			checkFormat: true,
			retryIfMayHaveArrived: false,
		});
	});

	it('offers the optional CAMB.AI fields', () => {
		const fields = submit.description.properties.find((p) => p.name === 'additionalFields')
			?.options as Array<{ name: string }>;
		expect(fields.map((field) => field.name).sort()).toEqual([
			'folderId',
			'projectDescription',
			'projectName',
		]);
	});

	it('is usable as an AI tool, has light and dark icons, and needs the CAMB.AI credential', () => {
		expect(submit.description.usableAsTool).toBe(true);
		expect(submit.description.icon).toEqual({ light: 'file:camb.svg', dark: 'file:camb.dark.svg' });
		expect(submit.description.credentials).toEqual([{ name: 'cambAiApi', required: true }]);
	});
});

describe('credential', () => {
	const credential = new CambAiApi();

	it('sends the key as x-api-key through generic authentication', () => {
		expect(credential.name).toBe('cambAiApi');
		expect(credential.displayName).toBe('CAMB.AI API');
		expect(credential.authenticate).toEqual({
			type: 'generic',
			properties: { headers: { 'x-api-key': '={{$credentials.apiKey}}' } },
		});
		expect(credential.properties.find((p) => p.name === 'apiKey')).toMatchObject({
			typeOptions: { password: true },
			required: true,
		});
		expect(credential.properties.find((p) => p.name === 'baseUrl')).toMatchObject({
			default: 'https://client.camb.ai/apis',
		});
	});

	// The credential test's base URL is an n8n expression; evaluate it with n8n's own engine.
	const testBaseUrl = (baseUrl: string) => {
		const probe: INode = {
			id: '1',
			name: 'probe',
			type: 'probe',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		};
		const probeType: INodeType = {
			description: { ...node.description, name: 'probe', properties: [] },
		};
		const workflow = new Workflow({
			nodes: [probe],
			connections: {},
			active: false,
			nodeTypes: {
				getByName: () => probeType,
				getByNameAndVersion: () => probeType,
				getKnownTypes: () => ({}),
			},
		});
		return workflow.expression.getSimpleParameterValue(
			probe,
			credential.test.request.baseURL as string,
			'internal',
			{
				$credentials: { apiKey: 'k', baseUrl },
			},
		);
	};

	it('tests the key with GET /list-voices at the configured base URL', () => {
		expect(credential.test.request).toMatchObject({ url: '/list-voices', method: 'GET' });
		expect(testBaseUrl('https://client.camb.ai/apis')).toBe('https://client.camb.ai/apis');
		expect(testBaseUrl('https://proxy.example.com/apis/')).toBe('https://proxy.example.com/apis');
		expect(testBaseUrl('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
		expect(testBaseUrl('http://localhost:3000/x')).toBe('http://localhost:3000/x');
	});

	it("says what a 401 or 403 from CAMB.AI means instead of n8n's bare status text", () => {
		expect(credential.test.rules).toEqual([
			{
				type: 'responseCode',
				properties: {
					value: 401,
					message: expect.stringMatching(/^CAMB\.AI rejected the API key \(HTTP 401\)/),
				},
			},
			{
				type: 'responseCode',
				properties: {
					value: 403,
					message: expect.stringMatching(/^CAMB\.AI refused the request \(HTTP 403\)/),
				},
			},
		]);
	});

	it('never tests over plain http to a host that is not loopback', () => {
		for (const insecure of [
			'http://client.camb.ai/apis',
			'http://127.0.0.1.example.com',
			'ftp://x',
		]) {
			expect(testBaseUrl(insecure)).toBe(
				'https://plain-http-is-only-allowed-for-localhost.invalid',
			);
		}
	});
});
