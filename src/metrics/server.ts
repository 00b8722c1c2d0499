// The merged Prometheus endpoint (--metrics-address): one exposition of
// Envoy's /stats/prometheus, the applications' metrics endpoints (from
// --metrics-aggregate and the control plane's metrics.aggregate) and the
// agent's own series, in the text format or OpenMetrics by content
// negotiation (Accept: application/openmetrics-text). prom-client is loaded
// at the first scrape, off the path to spawning Envoy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsSource } from '../config/agent-config.js';
import type { AdminAddress } from '../envoy/admin.js';
import type { Logger } from '../log/logger.js';
import type { Component, FailureReport } from '../lifecycle/component.js';
import { closeServer, listenOn, reportServerErrors } from '../lifecycle/http-server.js';
import type { Lifecycle } from '../lifecycle/phase.js';
import { UserError } from '../util/errors.js';
import type { AgentStats } from '../lifecycle/agent-stats.js';
import { mergeFamilies, OPENMETRICS_CONTENT_TYPE, parseExposition, renderExposition, TEXT_CONTENT_TYPE, type Family } from '../exposition/exposition.js';
import { scrapeEnvoy, scrapeHttp } from './scrape.js';

export interface MetricsOptions {
  host: string;
  port: number;
  admin: AdminAddress;
  sources: readonly MetricsSource[];
  stats: AgentStats;
  /** The components' own series (fetcher, DNS proxy), read at each scrape. */
  ownSeries?: () => Family[];
  lifecycle: Lifecycle;
  log: Logger;
}

const SOURCE_TIMEOUT_MS = 5_000;

type Registry = import('prom-client').Registry;

export class MetricsServer implements Component {
  readonly name = 'metrics';
  private server?: Server;
  /** prom-client is loaded at the first scrape: the port is bound before Envoy is spawned, the rest waits. */
  private registry?: Promise<Registry>;
  private readonly sourceUp = new Map<string, number>();

  constructor(private readonly opts: MetricsOptions) {}

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async start(failed: FailureReport): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await listenOn(
      server,
      this.opts.port,
      this.opts.host,
      (err) =>
        new UserError(
          `--metrics-address (KUMA_DATAPLANE_METRICS_ADDRESS): cannot listen on ${this.opts.host}:${this.opts.port} (${err.code === 'EADDRINUSE' ? 'the port is in use; pick another one' : (err.code ?? err.message)})`,
        ),
    );
    this.server = server;
    reportServerErrors(server, failed);
    this.opts.log.info('merged metrics endpoint listening', {
      address: this.opts.host,
      port: this.port,
      path: '/metrics',
      sources: ['envoy', ...this.opts.sources.map((s) => s.name), 'kuma-dp'],
    });
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  /** The agent's own series, read from AgentStats at scrape time (printed in either format by the shared merger). */
  private async agentRegistry(): Promise<Registry> {
    const prom = await import('prom-client');
    const registry = new prom.Registry();
    const registers = [registry];
    const { stats, lifecycle } = this.opts;
    const total = (name: string, help: string, read: () => number) =>
      new prom.Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    total('kuma_dp_bootstrap_attempts_total', 'Requests made to the control plane for the Envoy bootstrap', () => stats.bootstrapAttempts);
    total('kuma_dp_envoy_starts_total', 'Times Envoy was started', () => stats.envoyStarts);
    total('kuma_dp_envoy_restarts_total', 'Times Envoy was restarted by the restart policy', () => stats.envoyRestarts);
    new prom.Gauge({
      name: 'kuma_dp_uptime_seconds',
      help: 'Seconds since kuma-dp started',
      registers,
      collect() {
        this.set((Date.now() - stats.startedAt) / 1000);
      },
    });
    new prom.Gauge({
      name: 'kuma_dp_envoy_live',
      help: '1 while Envoy is live (its /ready answers LIVE), else 0',
      registers,
      collect() {
        this.set(lifecycle.phase === 'live' ? 1 : 0);
      },
    });
    const up = this.sourceUp;
    new prom.Gauge({
      name: 'kuma_dp_metrics_source_up',
      help: '1 when the last scrape of a merged metrics source succeeded, else 0',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const [source, value] of up) this.set({ source }, value);
      },
    });
    let observed = 0;
    new prom.Histogram({
      name: 'kuma_dp_drain_duration_seconds',
      help: 'How long drains took',
      buckets: [1, 5, 10, 30, 60, 120, 300],
      registers,
      collect() {
        while (observed < stats.drainSeconds.length) this.observe(stats.drainSeconds[observed++]!);
      },
    });
    return registry;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://kuma-dp').pathname;
    if (path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    const openMetrics = /application\/openmetrics-text/.test(req.headers.accept ?? '');
    try {
      const body = await this.exposition(openMetrics);
      res.writeHead(200, { 'content-type': openMetrics ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE }).end(body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  }

  async exposition(openMetrics: boolean): Promise<string> {
    const format = openMetrics ? 'openmetrics' : 'text';
    const sources = await Promise.all([
      this.scrape('envoy', () => scrapeEnvoy(this.opts.admin, '/stats/prometheus', SOURCE_TIMEOUT_MS)),
      ...this.opts.sources.map((s) => this.scrape(s.name, () => scrapeHttp(s.url, SOURCE_TIMEOUT_MS, format))),
    ]);
    this.registry ??= this.agentRegistry();
    sources.push(parseExposition(await (await this.registry).metrics()), this.opts.ownSeries?.() ?? []);
    return renderExposition(mergeFamilies(sources, format).families, format);
  }

  private async scrape(name: string, get: () => Promise<Family[]>): Promise<Family[]> {
    try {
      const families = await get();
      this.sourceUp.set(name, 1);
      return families;
    } catch (err) {
      this.sourceUp.set(name, 0);
      this.opts.log.warn('could not scrape a metrics source', { source: name, error: (err as Error).message });
      return [];
    }
  }
}
