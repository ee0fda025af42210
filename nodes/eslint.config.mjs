// Lint set-up for node code: n8n's own rules (the template that ../eslint.config.mjs must stay,
// in strict mode) plus the package's rules of shape. `npm run lint` sets
// ESLINT_FLAGS=unstable_config_lookup_from_file, so files under nodes/ take this nearer config;
// n8n's patterns for node files ("./nodes/**") are rebased to this folder so none is lost
// (test/tooling/lintRules.test.ts plants violations of both kinds and sees them fail).
import { config } from '@n8n/node-cli/eslint';

import { shapeRules } from '../eslint.shape.mjs';

export default shapeRules(config, 'nodes');
