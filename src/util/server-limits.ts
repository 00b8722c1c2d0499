// The limits every listener of the agent and the mini-CP runs with, set in
// one place: how long a client may take to send its headers and its whole
// request, how long an idle connection is kept, and how many connections are
// served at once. A slow or stuck client then costs a bounded socket for a
// bounded time, never the server.
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer } from 'node:net';

export interface ServerLimits {
  /** Time to receive a request's headers (node:http headersTimeout). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (requestTimeout). */
  requestTimeoutMs: number;
  /** How long a kept-alive connection waits for its next request. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic for this long is closed (0: never, for long-lived streams such as ADS). */
  idleTimeoutMs: number;
  /** Connections beyond this are refused as they arrive. */
  maxConnections: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
  maxConnections: 1024,
};

function isHttpServer(server: HttpServer | NetServer): server is HttpServer {
  return 'headersTimeout' in server;
}

/** Servers whose limits were set, so a shared listen helper does not set them again over their owner's choice. */
const limited = new WeakSet<object>();

/** Applies `limits` (SERVER_LIMITS, with any overrides) to an HTTP(S) or a raw TCP/TLS server before it listens. */
export function applyServerLimits<S extends HttpServer | NetServer>(server: S, overrides: Partial<ServerLimits> = {}): S {
  limited.add(server);
  const limits = { ...SERVER_LIMITS, ...overrides };
  server.maxConnections = limits.maxConnections;
  if (isHttpServer(server)) {
    // node:http enforces the two request timeouts when it sweeps its connections (every 30 s by
    // default, read when the server starts listening): sweep often enough for them to mean something.
    (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(
      100,
      Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4,
    );
    server.headersTimeout = limits.headersTimeoutMs;
    server.requestTimeout = limits.requestTimeoutMs;
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.setTimeout(limits.idleTimeoutMs, (socket) => socket.destroy());
  } else if (limits.idleTimeoutMs > 0) {
    server.on('connection', (socket: import('node:net').Socket) => {
      socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy());
    });
  }
  return server;
}

/** For the shared listen helpers: the limits, unless the server's owner has already set its own (e.g. Kuma's readiness timeouts). */
export function ensureServerLimits<S extends HttpServer | NetServer>(server: S, overrides: Partial<ServerLimits> = {}): S {
  return limited.has(server) ? server : applyServerLimits(server, overrides);
}
