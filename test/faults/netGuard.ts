/**
 * Records every TCP connection this process opens, and refuses those to anything but loopback
 * before a name is looked up or a byte is sent: the socket fails as an unknown host would
 * (ENOTFOUND). So a test can assert where the node tried to go, and a node that tried to go
 * elsewhere still reaches nothing.
 *
 * Works on net.Socket.prototype.connect, which every HTTP and TLS connection of Node goes through
 * (http.Agent -> net.createConnection -> socket.connect; tls.connect -> tlsSocket.connect).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

interface ConnectAttempt {
	host: string;
	port: number;
	/** A TLS socket: what was sent would have been encrypted. */
	tls: boolean;
	/** Not loopback: refused by the guard, nothing left the process. */
	blocked: boolean;
}

export interface NetGuard {
	readonly connects: ConnectAttempt[];
	restore(): void;
}

function isLoopbackHost(host: string): boolean {
	return (
		host === 'localhost' ||
		host === '::1' ||
		host === '[::1]' ||
		/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
	);
}

type ConnectOptions = { host?: unknown; port?: unknown; path?: unknown };

/** The options of any of connect()'s call forms, including the pre-normalised array net.createConnection passes. */
function optionsOf(args: unknown[]): ConnectOptions {
	const [first, second] = args;
	if (Array.isArray(first)) return (first[0] ?? {}) as ConnectOptions;
	if (typeof first === 'object' && first !== null) return first as ConnectOptions;
	if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
	return { port: first, host: typeof second === 'string' ? second : undefined };
}

export function guardNetwork(): NetGuard {
	const original = net.Socket.prototype.connect;
	const connects: ConnectAttempt[] = [];
	const guarded = function (this: net.Socket, ...args: unknown[]) {
		const options = optionsOf(args);
		if (typeof options.path === 'string' && options.path)
			return original.apply(this, args as never); // IPC, not the network
		const host = typeof options.host === 'string' && options.host ? options.host : 'localhost';
		const attempt: ConnectAttempt = {
			host,
			port: Number(options.port),
			tls: this instanceof tls.TLSSocket,
			blocked: !isLoopbackHost(host),
		};
		connects.push(attempt);
		if (!attempt.blocked) return original.apply(this, args as never);
		const error = Object.assign(
			new Error(`getaddrinfo ENOTFOUND ${host} (refused by the test's network guard)`),
			{
				code: 'ENOTFOUND',
				syscall: 'getaddrinfo',
				hostname: host,
			},
		);
		process.nextTick(() => this.destroy(error));
		return this;
	};
	net.Socket.prototype.connect = guarded as typeof original;
	return {
		connects,
		restore() {
			net.Socket.prototype.connect = original;
		},
	};
}
