// The package's rules of shape for product code, added to n8n's template rules by the configs in
// nodes/ and credentials/ (the root eslint.config.mjs must stay n8n's template in strict mode):
// no function over 60 lines. (Import cycles are checked by test/tooling/structure.test.ts:
// import-x/no-cycle finds none here, as n8n's config gives it no parser for the files it follows.)
export function shapeRules(template, folder) {
	const prefix = `./${folder}/`;
	const rebased = template.map((entry) =>
		entry.files
			? {
					...entry,
					files: entry.files.map((pattern) =>
						pattern.startsWith(prefix) ? pattern.slice(prefix.length) : pattern,
					),
				}
			: entry,
	);
	return [
		...rebased,
		{
			files: ['**/*.ts'],
			rules: {
				'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
			},
		},
	];
}
