// The metrics server on <workdir>/kuma-mh-<name>-<mesh>.sock, which Envoy
// exposes to Prometheus (Kuma's "metrics hijacker"). Two personalities by
// path, as Kuma's:
//  - `/meshmetric…` (MeshMetric's Prometheus backend): Envoy's stats filtered
//    by the policy's profile, the policy's applications and kuma-dp's own
//    series, every series with the policy's extra labels;
//  - any other path (2.x `Mesh.metrics`): the legacy merge of Envoy's stats
//    (cluster-suffix merge, `kuma_io_mesh_traffic`) and the applications the
//    control plane listed in the bootstrap response.
// Each body goes through one merge so that it is a valid exposition in the
// negotiated format.
import { connect } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { MetricsSource } from '../config/agent-config.js';
import type { Logger } from '../log/logger.js';
import type { AdminAddress } from '../envoy/admin.js';
import type { FailureReport } from '../lifecycle/component.js';
import { closeServer, reportServerErrors } from '../lifecycle/http-server.js';
import { UserError } from '../util/errors.js';
import { applyServerLimits } from '../util/server-limits.js';
import {
  familyName,
  mergeFamilies,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  renderChunks,
  sanitizeLabelName,
  TEXT_CONTENT_TYPE,
  withLabels,
  type Family,
  type Format,
  type Labels,
} from '../exposition/exposition.js';
import { mergeEnvoyClusters } from './legacy-merge.js';
import { DEFAULT_MESHMETRIC, envoyStatsPath, parseMeshMetricConfig, type MeshMetricConfig } from './meshmetric-config.js';
import { streamEnvoy } from './envoy-stream.js';
import { profileSelector, type ProfileSelector } from './profiles.js';
import { fetchEnvoyPieces, fetchHttpPieces, hostPort, parseHeld, scrapeEnvoy, scrapeHttp, type HeldExposition } from './scrape.js';

export const MESHMETRIC_PATH = '/meshmetric';

export interface HijackerOptions {
  socketPath: string;
  admin: AdminAddress;
  /** The Dataplane's address: applications without an address are scraped there, as Kuma does. */
  defaultAddress: string;
  /** Applications for the legacy path (the control plane's metrics.aggregate). */
  legacySources: readonly MetricsSource[];
  /** kuma-dp's own series, read at each scrape. */
  ownSeries: () => Family[];
  log: Logger;
  /** Default per-target timeout; Prometheus' X-Prometheus-Scrape-Timeout-Seconds lowers it. */
  timeoutMs?: number;
}

interface Effective {
  config: MeshMetricConfig;
  select: ProfileSelector;
  extraLabels: Labels;
}

function effective(config: MeshMetricConfig): Effective {
  const extraLabels: Labels = Object.entries(config.extraLabels).map(([k, v]) => [sanitizeLabelName(k), v]);
  return { config, select: profileSelector(config.sidecar.profiles), extraLabels };
}

export class MetricsHijacker {
  readonly name = 'metrics-hijacker';
  private server?: Server;
  private current: Effective = effective(DEFAULT_MESHMETRIC);
  private configured = false;
  /** Last failure per target, so a target that stays down is logged once. */
  private readonly failing = new Map<string, string>();

  constructor(private readonly opts: HijackerOptions) {}

  /** The `/meshmetric` dynamic-config consumer: a new body, or undefined when the policy is gone. */
  readonly consumer = {
    path: MESHMETRIC_PATH,
    apply: (body: string | undefined): void => {
      this.current = effective(body === undefined ? DEFAULT_MESHMETRIC : parseMeshMetricConfig(body));
      this.configured = body !== undefined;
      this.opts.log.info(body === undefined ? 'MeshMetric configuration removed' : 'MeshMetric configuration applied', {
        applications: this.current.config.applications.length,
        profiles: this.current.config.sidecar.profiles?.appendProfiles?.map((p) => p.name) ?? ['Basic'],
      });
    },
  };

  async start(failed: FailureReport): Promise<void> {
    const path = this.opts.socketPath;
    if (existsSync(path)) {
      if (await answers(path))
        throw new UserError(`${path} is served by another process (another kuma-dp for the same Dataplane?); stop it or use another --work-dir`);
      unlinkSync(path);
    }
    const server = applyServerLimits(
      createServer((req, res) => void this.handle(req, res)),
      { headersTimeoutMs: 1000 + 10_000 },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new UserError(`cannot listen on the metrics socket ${path}: ${err.code ?? err.message}`)));
      server.listen(path, () => resolve());
    });
    this.server = server;
    reportServerErrors(server, failed);
    this.opts.log.info('metrics socket listening', { socket: path, paths: [MESHMETRIC_PATH, '/ (legacy merge)'] });
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const format = negotiateFormat(req.headers.accept);
    const headerTimeout = Number(req.headers['x-prometheus-scrape-timeout-seconds']);
    const timeoutMs = Math.min(this.opts.timeoutMs ?? 10_000, Number.isFinite(headerTimeout) && headerTimeout > 0 ? headerTimeout * 1000 : Infinity);
    try {
      const type = format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
      // Written in pieces as it is made: a large body is never one string.
      const write = (chunk: string | Uint8Array, written?: () => void): void => void res.write(chunk, written);
      if (url.pathname.startsWith(MESHMETRIC_PATH)) {
        const held = await this.meshMetric(timeoutMs, format);
        res.writeHead(200, { 'content-type': type });
        // Everything is parsed, filtered and written from here on in one synchronous go (see parseHeld).
        const { extraLabels, select } = this.current;
        const others = [...held.apps.map((app) => (app ? parseHeld(app) : [])), this.opts.ownSeries()].map((families) => withLabels(families, extraLabels));
        const envoy = held.envoy?.pieces;
        const claimed = new Set(others.flat().map((f) => familyName(f, format)));
        const diverted = envoy ? streamEnvoy(envoy, { format, select, extraLabels, claimed }, write) : [];
        this.renderMerged([withLabels(diverted, extraLabels), ...others], format, write);
      } else {
        const sources = await this.legacy(url, req, timeoutMs, format);
        res.writeHead(200, { 'content-type': type });
        this.renderMerged(sources, format, write);
      }
      res.end();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  }

  private renderMerged(sources: Family[][], format: Format, write: (chunk: string) => void): void {
    const { families, dropped } = mergeFamilies(sources, format);
    if (dropped.length > 0) this.opts.log.debug('families dropped: their type clashes with a family of the same name', { families: dropped });
    renderChunks(families, format, write);
  }

  /** The answers of Envoy and the applications, unparsed (undefined for one that failed). */
  async meshMetric(timeoutMs: number, format: Format = 'text'): Promise<{ envoy: HeldExposition | undefined; apps: Array<HeldExposition | undefined> }> {
    const { config } = this.current;
    const envoy = this.target('envoy', () => fetchEnvoyPieces(this.opts.admin, envoyStatsPath(this.configured ? config : undefined), timeoutMs));
    const apps = config.applications.map((app) => {
      const url = `http://${hostPort(app.address || this.opts.defaultAddress, app.port)}${app.path}`;
      return this.target(app.name ?? url, () => fetchHttpPieces(url, timeoutMs, format));
    });
    const [held, ...answers] = await Promise.all([envoy, ...apps]);
    return { envoy: held, apps: answers };
  }

  private async legacy(url: URL, req: IncomingMessage, timeoutMs: number, format: Format): Promise<Family[][]> {
    const query = new URLSearchParams(url.search);
    query.set('format', 'prometheus');
    query.set('text_readouts', '');
    const envoy = this.target('envoy', async () => mergeEnvoyClusters(await scrapeEnvoy(this.opts.admin, `/stats?${query.toString()}`, timeoutMs)));
    const forwarded: Record<string, string> = {};
    for (const h of ['user-agent', 'x-prometheus-scrape-timeout-seconds']) {
      const v = req.headers[h];
      if (typeof v === 'string') forwarded[h] = v;
    }
    const apps = this.opts.legacySources.map((s) => this.target(s.name, () => scrapeHttp(s.url, timeoutMs, format, forwarded)));
    return [...(await Promise.all([envoy, ...apps])).map((families) => families ?? []), this.opts.ownSeries()];
  }

  /** A target's answer, or undefined (logged once per change) when it fails: one target down never fails the scrape. */
  private async target<T>(name: string, get: () => Promise<T>): Promise<T | undefined> {
    try {
      const families = await get();
      if (this.failing.delete(name)) this.opts.log.info('metrics target answers again', { target: name });
      return families;
    } catch (err) {
      const message = (err as Error).message;
      if (this.failing.get(name) !== message)
        this.opts.log.warn('could not scrape a metrics target; its series are left out', { target: name, error: message });
      this.failing.set(name, message);
      return undefined;
    }
  }
}

/** Whether something accepts connections on the Unix socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
