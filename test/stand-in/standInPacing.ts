/**
 * A slow link in the CAMB stand-in: the pace at which request bodies are read
 * (StandInOptions.readBytesPerSecond) and streamed answers written (StreamedBody.bytesPerSecond),
 * and the chunk sizes of streamed answers.
 */
import { MAX_PATTERN_VIEW_BYTES } from './pattern';

// ---- streamed bodies -------------------------------------------------------------------------

const DEFAULT_STREAM_CHUNK_BYTES = 64 * 1024;
export const MAX_STREAM_CHUNK_BYTES = MAX_PATTERN_VIEW_BYTES;

/**
 * How much idle time a paced link (readBytesPerSecond, StreamedBody.bytesPerSecond) may catch up
 * on: enough to absorb the stand-in's own timer and event-loop delays, too little to let a client
 * that stalled burst. Never more than the pace allows since the first byte.
 */
const PACE_CREDIT_MS = 50;

/** StreamedBody.chunkBytes unset: 64 KiB, or 50 ms at the pace, so a slow link trickles, not lurches. */
export function defaultChunkBytes(bytesPerSecond: number | undefined): number {
	if (bytesPerSecond === undefined) return DEFAULT_STREAM_CHUNK_BYTES;
	return Math.max(1, Math.min(DEFAULT_STREAM_CHUNK_BYTES, Math.floor(bytesPerSecond / 20)));
}

/** A pace is a positive, finite number of bytes per second. */
export function isPace(value: unknown): boolean {
	return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

/**
 * When a link at `pace` bytes per second will have carried `bytes` more: after all it carried
 * before (`freeAt`, if anything), and never sooner than PACE_CREDIT_MS of idle credit allows.
 */
export function paceDueAt(
	freeAt: number | undefined,
	now: number,
	bytes: number,
	pace: number,
): number {
	return Math.max(freeAt ?? now, now - PACE_CREDIT_MS) + (bytes * 1000) / pace;
}
