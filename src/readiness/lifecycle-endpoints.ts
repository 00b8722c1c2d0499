// The agent's own control endpoints, on a listener of their own bound to
// 127.0.0.1 only (--lifecycle-port; 0, the default, leaves it closed): never
// on the readiness port, which a pod exposes to its network. Not in Kuma.
//   POST /drain         drain inbound listeners and keep running (as SIGUSR2)
//   POST /quitquitquit  graceful shutdown (as SIGTERM)
//   POST /config_dump   save Envoy's config dump into the work dir; answers its path
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { Component, FailureReport } from '../lifecycle/component.js';
import { closeServer, listenOn, portError, reportServerErrors } from '../lifecycle/http-server.js';
import type { AgentControls } from '../lifecycle/phase.js';
import { createTimedServer, reply } from './reporter.js';

export const LIFECYCLE_HOST = '127.0.0.1';

const ACTIONS = ['/drain', '/quitquitquit', '/config_dump'] as const;
type Action = (typeof ACTIONS)[number];

export class LifecycleEndpoints implements Component {
  readonly name = 'lifecycle-endpoints';
  private server?: Server;

  constructor(private readonly opts: { port: number; controls: AgentControls; log: Logger }) {}

  /** The port it listens on, once started. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(failed: FailureReport): Promise<void> {
    const server = createTimedServer((req, res) => void this.handle(req, res));
    await listenOn(server, this.opts.port, LIFECYCLE_HOST, portError('--lifecycle-port (KUMA_DATAPLANE_LIFECYCLE_PORT)', LIFECYCLE_HOST, this.opts.port));
    this.server = server;
    reportServerErrors(server, failed);
    this.opts.log.info('lifecycle endpoints listening', { address: LIFECYCLE_HOST, port: this.port });
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://kuma-dp').pathname;
    if (!(ACTIONS as readonly string[]).includes(path)) return reply(res, 404, `not found: POST ${ACTIONS.join(', POST ')}\n`);
    if (req.method !== 'POST') return reply(res, 405, 'use POST\n');
    const { controls } = this.opts;
    const reason = `POST ${path}`;
    try {
      switch (path as Action) {
        case '/quitquitquit':
          controls.shutdown(reason);
          return reply(res, 200, 'OK\n');
        case '/drain':
          await controls.drainInbound(reason);
          return reply(res, 200, 'OK\n');
        case '/config_dump':
          return reply(res, 200, `${await controls.dumpConfig(reason)}\n`);
      }
    } catch (err) {
      reply(res, 503, `${(err as Error).message}\n`);
    }
  }
}
