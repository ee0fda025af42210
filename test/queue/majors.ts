/** Which n8n majors the queue suite runs: every one versions.json pins, or those CAMB_QUEUE_MAJORS names. */
import { versionPins, type Major } from '../e2e/n8n';

/** Every pinned major, or those in CAMB_QUEUE_MAJORS (e.g. "2"), for running one while debugging. */
export function queueMajors(): Major[] {
	const all = Object.keys(versionPins()) as Major[];
	const chosen = process.env.CAMB_QUEUE_MAJORS?.split(/[ ,]+/).filter(Boolean);
	if (!chosen) return all;
	const unknown = chosen.filter((major) => !all.includes(major as Major));
	if (unknown.length)
		throw new Error(
			`CAMB_QUEUE_MAJORS names majors versions.json does not pin: ${unknown.join(', ')}`,
		);
	return chosen as Major[];
}
