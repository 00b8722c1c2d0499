// The server: static resources, then (with dynamic_resources) CDS → EDS →
// LDS over ADS, following Envoy's initialisation states (PRE_INITIALIZING
// until the cluster manager has its clusters and their endpoints,
// INITIALIZING until LDS answered, then LIVE), plus the drain state the admin
// API changes.
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import type { Options } from './cli.js';
import { ClusterManager, checkCluster, durationMs } from './clusters.js';
import { ConfigError } from './config.js';
import type { Bootstrap, ConfigSource } from './envoy-config.js';
import { ListenerManager, type ActiveListener } from './listeners.js';
import { logger } from './log.js';
import { Stats } from './stats.js';
import { envoyTypes } from './types.js';
import { AdsClient, type Resource } from './xds.js';

export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';
const STATE_NUMBER: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

/**
 * ENVOY_STANDIN_SYNTHETIC_STATS=N (benchmarks only) adds about N used stats,
 * five per made-up cluster, so that /stats is as large as a busy Envoy's.
 */
function addSyntheticStats(stats: Stats, n: number): void {
  for (let i = 0; i < Math.floor(n / 5); i++) {
    stats.inc(`cluster.bench_${i}.upstream_rq_total`, i);
    stats.inc(`cluster.bench_${i}.upstream_rq_200`, i);
    stats.inc(`cluster.bench_${i}.upstream_cx_total`, i);
    stats.inc(`cluster.bench_${i}.upstream_cx_connect_fail`, 0);
    stats.set(`cluster.bench_${i}.upstream_cx_active`, i % 7);
  }
}

export class StandinServer {
  readonly stats = new Stats();
  readonly log = logger('main');
  readonly clusters: ClusterManager;
  readonly listeners: ListenerManager;
  readonly startedAt = Date.now();
  ads?: AdsClient;
  private initState: 'uninitialized' | 'initializing' | 'initialized' = 'uninitialized';
  healthCheckFailed = false;
  /** The admin-initiated drain (/drain_listeners), if any. */
  drain?: { inboundOnly: boolean; startedAt: number };
  private staticClusterNames = new Set<string>();

  constructor(
    readonly options: Options,
    readonly bootstrap: Bootstrap,
  ) {
    this.clusters = new ClusterManager(this.stats, logger('upstream'));
    this.listeners = new ListenerManager(this.clusters, this.stats, logger('config'), { drainClose: (l) => this.drainClose(l) }, options.drainTimeS * 1000);
    addSyntheticStats(this.stats, Number(process.env.ENVOY_STANDIN_SYNTHETIC_STATS ?? 0));
    this.stats.set('server.concurrency', options.concurrency);
    this.stats.set('listener_manager.workers_started', 0);
    this.stats.declare('server.uptime', 'gauge');
    this.refreshStateStats();
  }

  state(): ServerState {
    if (this.initState === 'uninitialized') return 'PRE_INITIALIZING';
    if (this.initState === 'initializing') return 'INITIALIZING';
    return this.healthCheckFailed ? 'DRAINING' : 'LIVE';
  }

  refreshStateStats(): void {
    this.stats.set('server.state', STATE_NUMBER[this.state()]);
    this.stats.set('server.live', this.healthCheckFailed ? 0 : 1);
    this.stats.set('server.uptime', Math.floor((Date.now() - this.startedAt) / 1000));
  }

  /** Envoy's DrainManager::drainClose: whether a connection on this listener should be closed after its current request. */
  drainClose(l: ActiveListener): boolean {
    if (l.draining) return true;
    if (this.healthCheckFailed && (l.config.drain_type ?? 'DEFAULT') === 'DEFAULT') return true;
    if (!this.drain || (this.drain.inboundOnly && l.config.traffic_direction !== 'INBOUND')) return false;
    if (this.options.drainStrategy === 'immediate') return true;
    const drainMs = this.options.drainTimeS * 1000;
    return drainMs === 0 || Math.random() < (Date.now() - this.drain.startedAt) / drainMs;
  }

  /** /drain_listeners: drain now, and stop accepting at once (or after the drain time when graceful) unless skip_exit. */
  drainListeners(inboundOnly: boolean, graceful: boolean, skipExit: boolean): void {
    const affected = (): ActiveListener[] => this.listeners.all().filter((l) => !inboundOnly || l.config.traffic_direction === 'INBOUND');
    if (graceful && this.drain && (!this.drain.inboundOnly || inboundOnly)) return;
    this.drain = { inboundOnly, startedAt: Date.now() };
    this.log('info', `draining ${inboundOnly ? 'inbound ' : ''}listeners${graceful ? ` over ${this.options.drainTimeS}s` : ''}`);
    const stop = (): void => {
      if (skipExit) return;
      for (const l of affected()) this.listeners.stopAccepting(l);
    };
    if (graceful) setTimeout(stop, this.options.drainTimeS * 1000).unref();
    else stop();
  }

  async start(): Promise<void> {
    const b = this.bootstrap;
    for (const c of b.static_resources?.clusters ?? []) {
      try {
        checkCluster(c);
      } catch (err) {
        throw new ConfigError(`cluster '${c.name}': ${(err as Error).message}`);
      }
      this.clusters.addOrUpdate(c, false, '');
      this.staticClusterNames.add(c.name ?? '');
    }
    await this.listeners.apply(b.static_resources?.listeners ?? [], false, '', false);
    const dyn = b.dynamic_resources ?? {};
    if (dyn.ads_config) {
      this.ads = new AdsClient(b, await envoyTypes(), this.stats, logger('config'));
      this.registerXds();
      await this.ads.start();
    }
    await Promise.all(this.clusters.all().map((c) => c.warmed));
    if (dyn.cds_config && this.ads) {
      await this.initialFetch(TYPE_URL.cluster, dyn.cds_config);
      await this.awaitEds();
    }
    this.initState = 'initializing';
    this.refreshStateStats();
    this.log('info', 'all clusters initialized. initializing init manager');
    if (dyn.lds_config && this.ads) await this.initialFetch(TYPE_URL.listener, dyn.lds_config);
    this.initState = 'initialized';
    this.stats.set('listener_manager.workers_started', 1);
    this.refreshStateStats();
    this.log('info', 'all dependencies initialized. starting workers');
  }

  /** Subscribes and waits for the first response, or for initial_fetch_timeout (15s by default; 0 waits forever). */
  private initialFetch(typeUrl: string, source: ConfigSource): Promise<void> {
    const timeoutMs = durationMs(source.initial_fetch_timeout, 15_000);
    return new Promise<void>((resolve) => {
      const done = this.firstResponse.get(typeUrl)!;
      void done.then(resolve);
      if (timeoutMs > 0) {
        setTimeout(() => {
          this.log('warning', `config: initial fetch timeout for ${typeUrl}`);
          resolve();
        }, timeoutMs).unref();
      }
      this.ads!.subscribe(typeUrl);
    });
  }

  private async awaitEds(): Promise<void> {
    const eds = this.clusters.all().filter((c) => c.edsServiceName);
    const timeoutMs = Math.max(0, ...eds.map((c) => durationMs(c.config.eds_cluster_config?.eds_config?.initial_fetch_timeout, 15_000)));
    if (eds.length === 0) return;
    await Promise.race([Promise.all(eds.map((c) => c.warmed)), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  private readonly firstResponse = new Map<string, Promise<void>>();

  private registerXds(): void {
    const ads = this.ads!;
    const first = (typeUrl: string): (() => void) => {
      let resolve!: () => void;
      this.firstResponse.set(typeUrl, new Promise<void>((r) => (resolve = r)));
      return () => resolve();
    };
    const edsPrefixes = (names: string[]): string[] =>
      this.clusters
        .all()
        .filter((c) => c.edsServiceName && (names.length === 0 || names.includes(c.edsServiceName)))
        .map((c) => c.statPrefix);
    ads.register(
      TYPE_URL.cluster,
      () => ['cluster_manager.cds.'],
      (r, v) => this.applyClusters(r, v),
      false,
      first(TYPE_URL.cluster),
    );
    ads.register(TYPE_URL.endpoint, edsPrefixes, (r) => this.applyEndpoints(r), true);
    ads.register(
      TYPE_URL.listener,
      () => ['listener_manager.lds.'],
      (r, v) => this.applyListeners(r, v),
      false,
      first(TYPE_URL.listener),
    );
  }

  private applyClusters(resources: Map<string, Resource>, versionInfo: string): void {
    const errors: string[] = [];
    for (const r of resources.values()) {
      try {
        checkCluster(r.json);
        if (this.staticClusterNames.has(r.name)) throw new ConfigError(`'${r.name}' is a static cluster and cannot be updated`);
      } catch (err) {
        errors.push(`${r.name}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new ConfigError(errors.join('; '));
    for (const r of resources.values()) this.clusters.addOrUpdate(r.json, true, r.version || versionInfo);
    for (const c of this.clusters.all()) if (c.addedViaApi && !resources.has(c.name)) this.clusters.remove(c.name);
    this.stats.set('cluster_manager.cds.version', hashVersion(versionInfo));
    if (this.ads) this.applyEndpoints(this.ads.resources(TYPE_URL.endpoint));
    this.ads?.subscribe(TYPE_URL.endpoint, this.clusters.edsServiceNames());
  }

  private applyEndpoints(resources: Map<string, Resource>): void {
    for (const name of this.clusters.edsServiceNames()) {
      const r = resources.get(name);
      if (r) this.clusters.setAssignment(name, r.json);
    }
  }

  private async applyListeners(resources: Map<string, Resource>, versionInfo: string): Promise<void> {
    await this.listeners.apply(
      [...resources.values()].map((r) => r.json),
      true,
      versionInfo,
      true,
    );
    for (const r of resources.values()) {
      const l = this.listeners.get(r.name);
      if (l && r.version) l.versionInfo = r.version;
    }
    this.stats.set('listener_manager.lds.version', hashVersion(versionInfo));
  }

  shutdown(): void {
    this.ads?.stop();
    this.listeners.closeAll();
    this.clusters.shutdown();
  }
}

/** Envoy's `version` stat is a hash of version_info; any stable number serves. */
function hashVersion(text: string): number {
  let h = 0;
  for (const ch of text) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return h;
}
