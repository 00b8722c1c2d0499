// Listening and closing for components that serve HTTP (the agent's
// readiness and metrics endpoints, the mini-CP's servers).
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { FailureReport } from './component.js';

/** Listens; a failure (port in use...) rejects with the error `explain` makes of it, which names the setting to change. */
export function listenOn(server: NetServer, port: number, host: string, explain: (err: NodeJS.ErrnoException) => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(explain(err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
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
