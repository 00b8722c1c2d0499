// Listening and closing for components that serve HTTP (the agent's
// readiness and metrics endpoints, the mini-CP's servers).
import type { Server as PlainServer } from 'node:http';
import type { Server as TlsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';

import { UserError } from '../util/errors.js';
import { ensureServerLimits, type ServerLimits } from '../util/server-limits.js';
import type { Component, FailureReport } from './component.js';

type Server = PlainServer | TlsServer;

/**
 * Listens, with the server limits every listener has (SERVER_LIMITS, with
 * `limits` overriding some, unless the server's owner set them already); a failure (port in use...) rejects with the
 * error `explain` makes of it, which names the setting to change.
 */
export function listenOn(
  server: NetServer,
  port: number,
  host: string,
  explain: (err: NodeJS.ErrnoException) => Error,
  limits: Partial<ServerLimits> = {},
): Promise<void> {
  ensureServerLimits(server, limits);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(explain(err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** For listenOn: a port in use or not allowed becomes an error naming the setting to change. */
export function portError(setting: string, host: string, port: number): (err: NodeJS.ErrnoException) => Error {
  return (err) =>
    err.code === 'EADDRINUSE' || err.code === 'EACCES'
      ? new UserError(`${setting}: cannot listen on ${host}:${port} (${err.code}); pick another port (0 picks a free one)`)
      : err;
}

/** Reports a server error after listening (the socket is gone) as the component's failure. */
export function reportServerErrors(server: NetServer, failed: FailureReport): void {
  server.on('error', (err) => failed(err));
}

/** Closes an HTTP server, ending kept-alive connections too. */
export function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** An HTTP(S) server as a component: listens at start (an error names `setting`), closes at stop. */
export class HttpServerComponent implements Component {
  constructor(
    readonly name: string,
    private readonly server: Server,
    private readonly at: { port: number; host: string; setting: string },
  ) {}

  /** The port it listens on, once started (the one picked, for port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(failed: FailureReport): Promise<void> {
    const { port, host, setting } = this.at;
    await listenOn(this.server, port, host, portError(setting, host, port));
    reportServerErrors(this.server, failed);
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }
}
