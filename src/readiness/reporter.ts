// The readiness reporter on KUMA_READINESS_PORT (9902), as Kuma's:
// GET /ready answers READY (200), NOT_READY or TERMINATING (503) as plain
// text, asking Envoy's own /ready on each request (no polling while idle).
// The same port carries the lifecycle endpoints, for loopback clients only:
// POST /drain (inbound listeners, keep running), POST /quitquitquit (graceful
// shutdown, as SIGTERM) and POST /config_dump (saved into the work dir).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envoyServerState, type AdminAddress } from '../envoy/admin.js';
import type { Logger } from '../log/logger.js';
import type { Component, FailureReport } from '../lifecycle/component.js';
import { closeServer, listenOn, reportServerErrors } from '../lifecycle/http-server.js';
import type { AgentControls, Lifecycle } from '../lifecycle/phase.js';
import { UserError } from '../util/errors.js';
import { isLoopback } from '../util/loopback.js';

export interface ReadinessOptions {
  port: number;
  /** Running as a pod: listen on all addresses so the kubelet can probe. */
  inPod: boolean;
  admin: AdminAddress;
  lifecycle: Lifecycle;
  controls: AgentControls;
  /** When the DNS proxy runs: whether its first map has arrived. Readiness waits for it, at most DNS_GATE_MS. */
  dnsReady?: () => boolean;
  log: Logger;
  now?: () => number;
}

/** As Kuma: past this, readiness stops waiting for the DNS map (and says so once). */
export const DNS_GATE_MS = 15_000;

const ENVOY_READY_TIMEOUT_MS = 500;

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache, max-age=0',
    'x-powered-by': 'kuma-dp',
  });
  res.end(body);
}

export class ReadinessReporter implements Component {
  readonly name = 'readiness-reporter';
  private server?: Server;
  private readonly created: number;
  private dnsGateOpen = false;

  constructor(private readonly opts: ReadinessOptions) {
    this.created = (opts.now ?? Date.now)();
  }

  /** The port it listens on, once started. */
  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(failed: FailureReport): Promise<void> {
    const host = this.opts.inPod ? '0.0.0.0' : '127.0.0.1';
    const server = createServer((req, res) => void this.handle(req, res));
    await listenOn(server, this.opts.port, host, (err) =>
      err.code === 'EADDRINUSE'
        ? new UserError(
            `KUMA_READINESS_PORT: port ${this.opts.port} on ${host} is already in use (another kuma-dp on this host?); give each agent its own KUMA_READINESS_PORT, or set it to 0 to disable the readiness reporter`,
          )
        : new UserError(`KUMA_READINESS_PORT: cannot listen on ${host}:${this.opts.port} (${err.code ?? err.message})`),
    );
    this.server = server;
    reportServerErrors(server, failed);
    this.opts.log.info('readiness reporter listening', { address: host, port: this.opts.port });
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://kuma-dp').pathname;
    try {
      if (path === '/ready') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'use GET\n');
        return reply(res, ...(await this.readiness()));
      }
      const actions: Record<string, 'drain' | 'quit' | 'dump'> = { '/drain': 'drain', '/quitquitquit': 'quit', '/config_dump': 'dump' };
      const action = actions[path];
      if (!action) return reply(res, 404, 'not found: GET /ready, POST /drain, POST /quitquitquit, POST /config_dump\n');
      if (!isLoopback(req.socket.remoteAddress)) return reply(res, 403, 'lifecycle endpoints answer loopback clients only\n');
      if (req.method !== 'POST') return reply(res, 405, 'use POST\n');
      const reason = `POST ${path}`;
      if (action === 'quit') {
        this.opts.controls.shutdown(reason);
        return reply(res, 200, 'OK\n');
      }
      if (action === 'drain') {
        await this.opts.controls.drainInbound(reason);
        return reply(res, 200, 'OK\n');
      }
      return reply(res, 200, `${await this.opts.controls.dumpConfig(reason)}\n`);
    } catch (err) {
      reply(res, 503, `${(err as Error).message}\n`);
    }
  }

  private async readiness(): Promise<[number, string]> {
    if (this.opts.lifecycle.terminating) return [503, 'TERMINATING'];
    if (this.opts.dnsReady && !this.dnsGateOpen && !this.opts.dnsReady()) {
      if ((this.opts.now ?? Date.now)() - this.created < DNS_GATE_MS) return [503, 'NOT_READY'];
      this.dnsGateOpen = true;
      this.opts.log.warn('no DNS map from the control plane yet; readiness no longer waits for it', { waitedMs: DNS_GATE_MS });
    }
    const envoy = await envoyServerState(this.opts.admin, ENVOY_READY_TIMEOUT_MS);
    if (this.opts.lifecycle.terminating) return [503, 'TERMINATING'];
    return envoy?.live ? [200, 'READY'] : [503, 'NOT_READY'];
  }
}
