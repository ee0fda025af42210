/**
 * A node's Options collection: shown alike in both nodes (optionsCollection), and read the one way
 * both nodes read it: a value of the wrong type (or
 * a negative number) falls back to the option's default, a number below the option's minimum is
 * raised to it, and text is trimmed (empty text falls back too). A new option is a default in the node's
 * description.ts and one line in its settings.ts.
 */
import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

/** The "Options" collection of a node's panel, holding `options` (read back with readOptions). */
export function optionsCollection(options: INodeProperties[]): INodeProperties {
	return {
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		options,
	};
}

export interface Options<D extends Record<string, number | boolean | string>> {
	/** A number, at least `min`; whole numbers only when `whole` (rounded down). */
	number(name: keyof D & string, min: number, whole?: 'whole'): number;
	flag(name: keyof D & string): boolean;
	text(name: keyof D & string): string;
}

export function readOptions<D extends Record<string, number | boolean | string>>(
	ctx: IExecuteFunctions,
	defaults: D,
): Options<D> {
	const options = ctx.getNodeParameter('options', 0, {}) as IDataObject;
	return {
		number: (name, min, whole) => {
			const value = options[name];
			const given =
				typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
			const number = Math.max(min, given ?? (defaults[name] as number));
			return whole ? Math.floor(number) : number;
		},
		flag: (name) => {
			const value = options[name];
			return typeof value === 'boolean' ? value : (defaults[name] as boolean);
		},
		text: (name) => {
			const value = options[name];
			return typeof value === 'string' && value.trim() ? value.trim() : (defaults[name] as string);
		},
	};
}
