/**
 * `npm run bench:poll`: what each way of polling a slow task costs, for tasks that take D seconds.
 * It runs the node's own schedule (followTask, the code that decides when to check and what
 * next_check_in_seconds to suggest) on a simulated clock, with n8n's Wait node in between passes:
 * a Wait under 65 s stays in the worker's memory, a longer one parks the execution in the
 * database (n8n's rule; the recipe uses 66 s because n8n compares the time left, a millisecond
 * under the amount, against 65 s). Jitter is fixed at its midpoint. Prints figures; asserts nothing.
 *
 * Per strategy and task duration:
 *   requests  status checks until the check that sees SUCCESS
 *   late      seconds from the task finishing to that check
 *   slot      seconds the execution held a worker slot (waiting inside the node or in a short Wait)
 *   exposed   seconds during which a worker crash loses the execution (2.x) or re-runs it (1.x):
 *             the same as slot, since a parked execution is in the database, not on a worker
 */
import { DEFAULTS } from '../../nodes/CambSeparationStatus/description';
import {
	followTask,
	type Clock,
	type FollowSettings,
	type Progress,
} from '../../nodes/CambSeparationStatus/followTask';

/** n8n's Wait node parks waits of 65 s or more; under that it sleeps inside the worker. */
const PARK_THRESHOLD_S = 65;
const PARKING_WAIT_S = 66;

interface Strategy {
	name: string;
	/** Wait for Completion on the n-th pass of the node (0 = the first). */
	waitInside(pass: number): boolean;
	/** The Wait node's amount, given the item's next_check_in_seconds. */
	waitAmount(nextCheckInSeconds: number): number;
}

const STRATEGIES: Strategy[] = [
	{
		name: 'loop, Wait next_check_in_seconds (the old recipe)',
		waitInside: () => false,
		waitAmount: (next) => next,
	},
	{
		name: 'Wait for Completion only, Max Wait = task length',
		waitInside: () => true,
		waitAmount: (next) => next,
	},
	{
		name: 'loop, Wait 66 s every time',
		waitInside: () => false,
		waitAmount: (next) => Math.max(PARKING_WAIT_S, next),
	},
	{
		name: 'Wait for Completion on every pass + Wait 66 s',
		waitInside: () => true,
		waitAmount: (next) => Math.max(PARKING_WAIT_S, next),
	},
	{
		name: 'Wait for Completion on the first pass + Wait 66 s (the recipe)',
		waitInside: (pass) => pass === 0,
		waitAmount: (next) => Math.max(PARKING_WAIT_S, next),
	},
];

interface Cost {
	requests: number;
	lateS: number;
	slotS: number;
}

async function simulate(
	strategy: Strategy,
	taskSeconds: number,
	settings: Omit<FollowSettings, 'wait'>,
	maxWaitInsideMs: number,
): Promise<Cost> {
	let now = 0;
	let requests = 0;
	let slotMs = 0;
	const clock: Clock = {
		now: () => now,
		sleep: async (ms) => {
			now += ms;
		},
		random: () => 0.5,
	};
	const check = async () => {
		requests++;
		return {
			verdict:
				now >= taskSeconds * 1000
					? { route: 'success' as const, status: 'SUCCESS' }
					: { route: 'pending' as const, status: 'PENDING' },
		};
	};
	let progress: Progress = { checkCount: 0 };
	for (let pass = 0; pass < 10_000; pass++) {
		const wait = strategy.waitInside(pass);
		const passStart = now;
		const followed = await followTask(
			check,
			progress,
			{ ...settings, wait, maxWaitMs: wait ? maxWaitInsideMs : settings.maxWaitMs },
			clock,
		);
		slotMs += now - passStart;
		if (followed.verdict.route === 'success')
			return { requests, lateS: now / 1000 - taskSeconds, slotS: slotMs / 1000 };
		progress = {
			checkCount: followed.checkCount,
			pendingSince: followed.pendingSince ?? undefined,
		};
		const amountS = strategy.waitAmount(
			(followed.nextCheckInMs ?? settings.firstIntervalMs) / 1000,
		);
		if (amountS < PARK_THRESHOLD_S) slotMs += amountS * 1000;
		now += amountS * 1000;
	}
	throw new Error(`${strategy.name}: task of ${taskSeconds} s never finished`);
}

/** Task lengths, every second of each band, so phase luck (a check just before or after the finish) averages out. */
const BANDS = [
	{ label: 'tasks of 1-60 s', from: 1, to: 60 },
	{ label: '1-5 min', from: 61, to: 300 },
	{ label: '5-30 min', from: 301, to: 1800 },
];

async function main(): Promise<void> {
	// The node's defaults: First Interval 3 s growing by half up to Max Interval 30 s; Max Wait 60 s.
	const settings = {
		firstIntervalMs: DEFAULTS.firstIntervalSeconds * 1000,
		maxIntervalMs: DEFAULTS.maxIntervalSeconds * 1000,
		maxWaitMs: DEFAULTS.maxWaitSeconds * 1000,
		maxChecks: 0,
	};
	console.log(
		`Polling a task that finishes D seconds after the first check, D every second of each band (First Interval ${DEFAULTS.firstIntervalSeconds} s, Max Interval ${DEFAULTS.maxIntervalSeconds} s, Max Wait ${DEFAULTS.maxWaitSeconds} s).`,
	);
	console.log(
		'Each cell: requests (mean) / seconds late, mean (max) / seconds holding a worker slot, mean; a worker crash in that time loses the execution (2.x) or re-runs it (1.x).\n',
	);
	console.log(`| strategy | ${BANDS.map((band) => band.label).join(' | ')} |`);
	console.log(`| --- | ${BANDS.map(() => '---').join(' | ')} |`);
	for (const strategy of STRATEGIES) {
		const cells: string[] = [];
		for (const band of BANDS) {
			const costs: Cost[] = [];
			for (let taskSeconds = band.from; taskSeconds <= band.to; taskSeconds++) {
				// "Wait for Completion only" waits as long as the task takes: Max Wait must cover it.
				const maxWaitInsideMs = strategy.name.startsWith('Wait for Completion only')
					? (taskSeconds + 60) * 1000
					: settings.maxWaitMs;
				costs.push(await simulate(strategy, taskSeconds, settings, maxWaitInsideMs));
			}
			const mean = (pick: (cost: Cost) => number) =>
				costs.reduce((sum, cost) => sum + pick(cost), 0) / costs.length;
			const maxLate = Math.max(...costs.map((cost) => cost.lateS));
			cells.push(
				`${mean((c) => c.requests).toFixed(1)} / ${mean((c) => c.lateS).toFixed(0)} (${maxLate.toFixed(0)}) / ${mean((c) => c.slotS).toFixed(0)}`,
			);
		}
		console.log(`| ${strategy.name} | ${cells.join(' | ')} |`);
	}
}

main().catch((error: unknown) => {
	console.error(error);
	process.exitCode = 1;
});
