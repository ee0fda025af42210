/**
 * What the CAMB stand-in records of each request: the request itself (RecordedRequest), the
 * tasks uploads created, the body read as it streams (BodyRecorder: multipart parsed on the fly,
 * other bodies kept as text up to MAX_RECORDED_BODY_BYTES), and, from this process's side, when
 * each request was sent and how many were in flight at once.
 */
import * as diagnostics from 'node:diagnostics_channel';
import * as http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import {
	MultipartParser,
	boundaryOf,
	isMultipartFormData,
	type MultipartRecord,
} from './multipart';

export interface RecordedRequest {
	method: string;
	/** Raw request URL exactly as received, query included. */
	path: string;
	/** Node's lower-cased request headers. */
	headers: Record<string, string | string[] | undefined>;
	/**
	 * The request body as UTF-8 ('' when there was none), its first MAX_RECORDED_BODY_BYTES only
	 * (see bodyTruncated). Always '' for multipart/form-data: see `multipart`.
	 */
	body: string;
	/** True when `body` holds only the first MAX_RECORDED_BODY_BYTES of a longer body. */
	bodyTruncated?: true;
	/** Body bytes received, multipart or not, whole or not. */
	bodyBytes: number;
	/**
	 * False when the body never finished arriving: the client went away, or a mid-body fault
	 * reset the connection or stopped reading. `bodyError` says which.
	 */
	bodyComplete: boolean;
	/** Date.now() when the body ended, whole or not (a mid-body fault struck, the client went away). */
	bodyEndedAt?: number;
	/** Why bodyComplete is false. */
	bodyError?: string;
	/** A multipart/form-data body as parsed (set for that content-type only, even when malformed). */
	multipart?: MultipartRecord;
	/** Date.now() when the request arrived. */
	at: number;
	/**
	 * Date.now() when an HTTP client in THIS process created the request (node:diagnostics_channel),
	 * i.e. when the node under test decided to send it; undefined for requests from other processes
	 * (real n8n in e2e tests). Timing checks of the node's pauses use it: on a busy machine the
	 * stand-in can notice a request late, which shortens the gap seen at `at`, never `sentAt`'s.
	 */
	sentAt?: number;
}

/** An upload CAMB accepted: one per task the node caused. */
export interface CreatedTask {
	/** The task_id answered. */
	taskId: string;
	/** Index in `requests` of the upload that created it (valid until reset()). */
	requestIndex: number;
	/** The media_file's sha256 and length; undefined when a script accepted a body without exactly one. */
	fileSha256: string | undefined;
	bytes: number | undefined;
}

/** A non-multipart body is recorded as text up to this many bytes, then only counted. */
export const MAX_RECORDED_BODY_BYTES = 1024 * 1024;
/**
 * Reads one request body as it arrives, keeping only what the record needs: multipart is parsed
 * on the fly (fields, file lengths and hashes), any other body is decoded as UTF-8 up to
 * MAX_RECORDED_BODY_BYTES and then only counted. Memory stays flat for bodies of any size.
 */
export class BodyRecorder {
	bytes = 0;
	private text = '';
	private textBytes = 0;
	private truncated = false;
	private readonly decoder = new StringDecoder('utf8');
	private readonly parser: MultipartParser | undefined;
	private readonly multipartError: string | undefined;

	constructor(contentType: string | undefined) {
		if (!isMultipartFormData(contentType)) return;
		const boundary = boundaryOf(contentType);
		if (boundary === undefined) this.multipartError = 'multipart/form-data without a boundary';
		else this.parser = new MultipartParser(boundary);
	}

	get isMultipart(): boolean {
		return this.parser !== undefined || this.multipartError !== undefined;
	}

	write(chunk: Buffer): void {
		this.bytes += chunk.length;
		if (this.isMultipart) return this.parser?.write(chunk);
		const room = MAX_RECORDED_BODY_BYTES - this.textBytes;
		if (room <= 0) {
			this.truncated = true;
			return;
		}
		const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
		if (kept.length < chunk.length) this.truncated = true;
		this.textBytes += kept.length;
		// The decoder holds back a multi-byte character split between chunks until its rest comes.
		this.text += this.decoder.write(kept);
	}

	/** Fills the record's body fields: `brokenOff` says why the body did not arrive whole, if it did not. */
	finish(record: RecordedRequest, brokenOff?: string): void {
		record.bodyBytes = this.bytes;
		record.bodyComplete = brokenOff === undefined;
		if (brokenOff !== undefined) record.bodyError = brokenOff;
		if (this.isMultipart) {
			record.body = '';
			if (this.parser)
				record.multipart =
					brokenOff === undefined ? this.parser.end() : this.parser.abort(brokenOff);
			else
				record.multipart = { fields: {}, files: [], complete: false, error: this.multipartError };
			return;
		}
		record.body = this.truncated ? this.text : this.text + this.decoder.end();
		if (this.truncated) record.bodyTruncated = true;
	}
}

// ---- when this process sent each request ------------------------------------------------------

/** Ports of the stand-ins listening in this process. */
export const livePorts = new Set<number>();
/** Per "port METHOD rawUrl": creation times of requests not yet seen by the stand-in, oldest first. */
const sendTimes = new Map<string, number[]>();

// Published synchronously when a ClientRequest is created, before a byte is written, so the
// time is on record before the stand-in can see the request.
diagnostics.subscribe('http.client.request.start', (message) => {
	const request = (message as { request: http.ClientRequest }).request;
	const host = String(request.getHeader('host') ?? '');
	const match = /^127\.0\.0\.1:(\d+)$/.exec(host);
	if (!match || !livePorts.has(Number(match[1]))) return;
	const key = `${match[1]} ${request.method} ${request.path}`;
	const times = sendTimes.get(key) ?? [];
	times.push(Date.now());
	sendTimes.set(key, times);
	// In flight on the client's side from creation until its answer has been read to the end (or
	// dropped, or the request failed), whichever comes first: the moment the node's gate frees the slot.
	const port = Number(match[1]);
	const counts = clientInFlight.get(port) ?? { now: 0, peak: 0 };
	counts.now += 1;
	counts.peak = Math.max(counts.peak, counts.now);
	clientInFlight.set(port, counts);
	let open = true;
	let answered = false;
	const done = () => {
		if (open) counts.now -= 1;
		open = false;
	};
	request.once('response', (response: http.IncomingMessage) => {
		answered = true;
		response.once('end', done);
		response.once('close', done);
	});
	request.once('error', done);
	request.once('close', () => {
		// Closed without an answer (refused, reset before the headers): nothing more will come.
		if (!answered) done();
	});
});

/** Per stand-in port: requests this process's HTTP clients have open to it now, and the most at once. */
export const clientInFlight = new Map<number, { now: number; peak: number }>();

/** When the node sent a request, where this process saw it (RecordedRequest.sentAt), else when it arrived. */
export function sendTime(request: RecordedRequest): number {
	return request.sentAt ?? request.at;
}

/** The oldest unclaimed send time for this request; requests to one path arrive in the order they were sent. */
export function claimSendTime(port: number, method: string, rawUrl: string): number | undefined {
	const key = `${port} ${method} ${rawUrl}`;
	const times = sendTimes.get(key);
	const sentAt = times?.shift();
	if (times && times.length === 0) sendTimes.delete(key);
	return sentAt;
}

export function forgetSendTimes(port: number): void {
	for (const key of sendTimes.keys()) if (key.startsWith(`${port} `)) sendTimes.delete(key);
}

/** A header node:http may give as a list: its first value. */
export function firstHeader(value: string | string[] | undefined): string | undefined {
	return Array.isArray(value) ? value[0] : value;
}

/** The content-length the client declared, if a valid one. */
export function declaredLength(value: string | undefined): number | undefined {
	return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}
