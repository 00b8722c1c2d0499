// The readiness reporter on KUMA_READINESS_PORT (9902), as Kuma's: it serves
// /ready and nothing else (every other path is 404), because on Kubernetes it
// listens on the pod network. /ready answers READY (200), NOT_READY or
// TERMINATING (503) as plain text, asking Envoy's own /ready on each request
// (no polling while idle). The drain, quitquitquit and config-dump endpoints
// are on a loopback listener of their own (lifecycle-endpoints.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIPv6, type AddressInfo } from 'node:net';
import { envoyServerState, type AdminAddress } from '../envoy/admin.js';
import type { Logger } from '../log/logger.js';
import type { Component, FailureReport } from '../lifecycle/component.js';
import { closeServer, listenOn, reportServerErrors } from '../lifecycle/http-server.js';
import { applyServerLimits } from '../util/server-limits.js';
import type { Lifecycle } from '../lifecycle/phase.js';
import { UserError } from '../util/errors.js';

export interface ReadinessOptions {
  port: number;
  /** Where to listen: readinessAddress() picks it as Kuma does. */
  host: string;
  admin: AdminAddress;
  lifecycle: Lifecycle;
  /** When the DNS proxy runs: whether its first map has arrived. Readiness waits for it, at most DNS_GATE_MS. */
  dnsReady?: () => boolean;
  log: Logger;
  now?: () => number;
}

/** As Kuma: past this, readiness stops waiting for the DNS map (and says so once). */
export const DNS_GATE_MS = 15_000;

/** Kuma's server timeouts: 1 s to read the headers, 10 s for the request, 120 s idle. */
export const SERVER_TIMEOUTS = { headersTimeout: 1000, requestTimeout: 10_000, keepAliveTimeout: 120_000 } as const;

// As Kuma's reporter (dial 2 s, total 3 s): a loaded host must not turn a live Envoy into NOT_READY.
const ENVOY_READY_TIMEOUT_MS = 3000;

/**
 * Where the reporter listens, as Kuma's kuma-dp decides: on a TCP admin's host; with admin on a Unix
 * socket, on all addresses in a pod (POD_NAME set, so that the kubelet can probe), else on loopback;
 * IPv6 forms when the Dataplane's address is IPv6.
 */
export function readinessAddress(admin: AdminAddress, inPod: boolean, dataplaneAddress: string | undefined): string {
  if (admin.kind === 'tcp' && admin.address) return admin.address;
  const ipv6 = dataplaneAddress !== undefined && isIPv6(dataplaneAddress);
  if (inPod) return ipv6 ? '::' : '0.0.0.0';
  return ipv6 ? '::1' : '127.0.0.1';
}

/** A plain-text answer with the headers Kuma's reporter sends. */
export function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache, max-age=0',
    'x-powered-by': 'kuma-dp',
  });
  res.end(body);
}

/** An HTTP server with Kuma's timeouts, through the one server-limits helper (which checks them often enough for the 1 s header limit to bite). */
export function createTimedServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  return applyServerLimits(createServer(handler), {
    headersTimeoutMs: SERVER_TIMEOUTS.headersTimeout,
    requestTimeoutMs: SERVER_TIMEOUTS.requestTimeout,
    keepAliveTimeoutMs: SERVER_TIMEOUTS.keepAliveTimeout,
  });
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
    const { host, port } = this.opts;
    const server = createTimedServer((req, res) => void this.handle(req, res));
    await listenOn(server, port, host, (err) =>
      err.code === 'EADDRINUSE'
        ? new UserError(
            `KUMA_READINESS_PORT: port ${port} on ${host} is already in use (another kuma-dp on this host?); give each agent its own KUMA_READINESS_PORT, or set it to 0 to disable the readiness reporter`,
          )
        : new UserError(`KUMA_READINESS_PORT: cannot listen on ${host}:${port} (${err.code ?? err.message})`),
    );
    this.server = server;
    reportServerErrors(server, failed);
    this.opts.log.info('readiness reporter listening', { address: host, port });
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    // Exactly /ready (any method, as Kuma's mux); nothing else, not even a sub-path.
    if (new URL(req.url ?? '/', 'http://kuma-dp').pathname !== '/ready') return reply(res, 404, '404 page not found\n');
    reply(res, ...(await this.readiness()));
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
