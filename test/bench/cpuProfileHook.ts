/**
 * Preloaded into an n8n process by `npm run bench:uploads -- --profile <dir>` or `--v8-flags`
 * (NODE_OPTIONS `--require`), to see where an upload's CPU time goes:
 * - $CAMB_V8_FLAGS: V8 flags set at start-up (v8.setFlagsFromString), for flags NODE_OPTIONS does
 *   not take, e.g. --external-memory-accounted-in-global-limit.
 * - $CAMB_CPU_PROFILE: a V8 CPU profile of the main thread from start to exit, written there as a
 *   .cpuprofile (what `node --cpu-prof` writes; Node 20 does not allow --cpu-prof in NODE_OPTIONS),
 *   sampled every $CAMB_CPU_PROFILE_INTERVAL_US µs (default 1000). The in-thread inspector session
 *   answers synchronously, so the profile is complete at 'exit'.
 * - $CAMB_GC_LOG: every garbage collection (perf_hooks 'gc' entries) as JSON lines
 *   {"at": epoch ms, "ms": duration, "kind": minor|major|incremental|weakcb, "flags"}.
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as v8 from 'node:v8';
import { constants, performance, PerformanceObserver } from 'node:perf_hooks';

if (process.env.CAMB_V8_FLAGS) v8.setFlagsFromString(process.env.CAMB_V8_FLAGS);

const profileTarget = process.env.CAMB_CPU_PROFILE;
const gcTarget = process.env.CAMB_GC_LOG;
const finish: Array<() => void> = [];

if (profileTarget) {
	const session = new inspector.Session();
	session.connect();
	session.post('Profiler.enable');
	session.post('Profiler.setSamplingInterval', {
		interval: Number(process.env.CAMB_CPU_PROFILE_INTERVAL_US ?? '1000'),
	});
	session.post('Profiler.start');
	// The profile's clock (µs, monotonic) against the wall clock, to find a node's span in it.
	fs.writeFileSync(
		profileTarget.replace(/\.cpuprofile$/, '.clock.json'),
		JSON.stringify({ monotonicUs: Number(process.hrtime.bigint() / 1000n), epochMs: Date.now() }),
	);
	finish.push(() =>
		session.post('Profiler.stop', (error, result) => {
			if (!error) fs.writeFileSync(profileTarget, JSON.stringify(result.profile));
		}),
	);
}

if (gcTarget) {
	const kinds: Record<number, string> = {
		[constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
		[constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
		[constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
		[constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
	};
	const lines: string[] = [];
	const observer = new PerformanceObserver((list) => {
		for (const entry of list.getEntries()) {
			const detail = (entry as unknown as { detail?: { kind: number; flags: number } }).detail;
			lines.push(
				JSON.stringify({
					at: Math.round(performance.timeOrigin + entry.startTime),
					ms: Number(entry.duration.toFixed(2)),
					kind: kinds[detail?.kind ?? 0] ?? String(detail?.kind),
					flags: detail?.flags,
				}),
			);
		}
	});
	observer.observe({ entryTypes: ['gc'] });
	finish.push(() => fs.writeFileSync(gcTarget, lines.join('\n') + '\n'));
}

process.once('exit', () => finish.forEach((done) => done()));
