// The cluster manager: clusters from the bootstrap and from CDS, their hosts
// (fixed, DNS-resolved, or from EDS) and round-robin host selection.
import { lookup } from 'node:dns/promises';
import { Agent } from 'node:http';
import { isIP } from 'node:net';
import { parseDuration } from '../../src/util/duration.js';
import { ConfigError } from './config.js';
import type { ClusterConfig, ClusterLoadAssignment } from './envoy-config.js';
import { closeHttp2Sessions } from './http2-upstream.js';
import type { Log } from './log.js';
import { statSafe, type Stats } from './stats.js';

export interface Host {
  address: string;
  port: number;
  /** A pipe endpoint (Unix socket path); `address` holds the path too, for logs. */
  pipe?: string;
  weight: number;
  health: string;
  priority: number;
}

export interface Cluster {
  name: string;
  /** `cluster.<statPrefix>` roots its stats: alt_stat_name or the name, sanitised. */
  statPrefix: string;
  config: ClusterConfig;
  type: string;
  hosts: Host[];
  addedViaApi: boolean;
  versionInfo: string;
  lastUpdated: string;
  /** For EDS clusters: the name its ClusterLoadAssignment comes under. */
  edsServiceName?: string;
  connectTimeoutMs: number;
  /** Keep-alive HTTP connections to this cluster's hosts; destroyed with the cluster. */
  agent: Agent;
  /** Resolves once the cluster has its first set of hosts (or gave up waiting). */
  warmed: Promise<void>;
  markWarm: () => void;
  rr: number;
  dnsTimer?: NodeJS.Timeout;
}

const HEALTHY = new Set(['UNKNOWN', 'HEALTHY', undefined]);

export const durationMs = (value: unknown, fallbackMs: number): number => (typeof value === 'string' ? parseDuration(value, 'duration') : fallbackMs);

/** lb_endpoints of a ClusterLoadAssignment, addresses unresolved. */
export function hostsOfAssignment(cla: ClusterLoadAssignment | undefined): Host[] {
  const hosts: Host[] = [];
  for (const locality of cla?.endpoints ?? []) {
    for (const lb of locality.lb_endpoints ?? []) {
      const pipe = lb.endpoint?.address?.pipe?.path;
      if (typeof pipe === 'string') {
        hosts.push({
          address: pipe,
          port: 0,
          pipe,
          weight: Number(lb.load_balancing_weight ?? 1),
          health: lb.health_status ?? 'UNKNOWN',
          priority: Number(locality.priority ?? 0),
        });
        continue;
      }
      const sock = lb.endpoint?.address?.socket_address;
      if (!sock) continue;
      hosts.push({
        address: String(sock.address),
        port: Number(sock.port_value ?? 0),
        weight: Number(lb.load_balancing_weight ?? 1),
        health: lb.health_status ?? 'UNKNOWN',
        priority: Number(locality.priority ?? 0),
      });
    }
  }
  return hosts;
}

/** Rejections Envoy makes when a cluster is added, beyond the proto rules. */
export function checkCluster(c: ClusterConfig): void {
  const type = c.type ?? 'EDS';
  if (c.cluster_type) return;
  if (type === 'STATIC') {
    for (const h of hostsOfAssignment(c.load_assignment)) {
      if (h.pipe === undefined && isIP(h.address) === 0) throw new ConfigError(`malformed IP address: ${h.address}`);
    }
  }
  if (type === 'EDS' && !c.eds_cluster_config) throw new ConfigError(`cannot create an EDS cluster without an EDS config (cluster '${c.name}')`);
  if (type === 'LOGICAL_DNS' && hostsOfAssignment(c.load_assignment).length !== 1) {
    throw new ConfigError(`LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint (cluster '${c.name}')`);
  }
}

export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();

  constructor(
    private readonly stats: Stats,
    private readonly log: Log,
  ) {
    for (const s of ['cluster_added', 'cluster_modified', 'cluster_removed']) stats.declare(`cluster_manager.${s}`, 'counter');
    stats.declare('cluster_manager.active_clusters', 'gauge');
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /** Adds or replaces a cluster; an unchanged one is kept as it is (its connections too). */
  addOrUpdate(config: ClusterConfig, viaApi: boolean, versionInfo: string): Cluster {
    const name = config.name ?? '';
    const existing = this.clusters.get(name);
    if (existing && JSON.stringify(existing.config) === JSON.stringify(config)) return existing;
    let markWarm!: () => void;
    const warmed = new Promise<void>((resolve) => (markWarm = resolve));
    const type = config.type ?? (config.cluster_type ? 'CUSTOM' : 'EDS');
    const cluster: Cluster = {
      name,
      statPrefix: `cluster.${statSafe(config.alt_stat_name || name)}.`,
      config,
      type,
      hosts: [],
      addedViaApi: viaApi,
      versionInfo,
      lastUpdated: new Date().toISOString(),
      connectTimeoutMs: durationMs(config.connect_timeout, 5000),
      agent: existing?.agent ?? new Agent({ keepAlive: true }),
      warmed,
      markWarm,
      rr: 0,
    };
    if (existing?.dnsTimer) clearInterval(existing.dnsTimer);
    if (type === 'EDS') {
      cluster.edsServiceName = config.eds_cluster_config?.service_name || name;
      // A modified EDS cluster keeps the endpoints it had until new ones arrive.
      if (existing && existing.edsServiceName === cluster.edsServiceName && existing.hosts.length > 0) {
        cluster.hosts = existing.hosts;
        markWarm();
      }
    } else if (type === 'STATIC') {
      this.setHosts(cluster, hostsOfAssignment(config.load_assignment));
    } else if (type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
      this.startDns(cluster);
    } else {
      this.log('warning', `cluster '${config.name}': discovery type ${type} is not implemented by this test double; it has no hosts`);
      markWarm();
    }
    this.clusters.set(cluster.name, cluster);
    this.stats.inc(existing ? 'cluster_manager.cluster_modified' : 'cluster_manager.cluster_added');
    this.stats.set('cluster_manager.active_clusters', this.clusters.size);
    this.declareClusterStats(cluster.statPrefix);
    this.log('info', `${existing ? 'updated' : 'added'} cluster '${cluster.name}' (${type})`);
    return cluster;
  }

  remove(name: string): void {
    const cluster = this.clusters.get(name);
    if (!cluster) return;
    if (cluster.dnsTimer) clearInterval(cluster.dnsTimer);
    cluster.agent.destroy();
    closeHttp2Sessions(cluster);
    cluster.markWarm();
    this.clusters.delete(name);
    this.stats.removePrefix(cluster.statPrefix);
    this.stats.inc('cluster_manager.cluster_removed');
    this.stats.set('cluster_manager.active_clusters', this.clusters.size);
    this.log('info', `removing cluster '${name}'`);
  }

  /** Applies a ClusterLoadAssignment to the EDS clusters that take it. */
  setAssignment(serviceName: string, cla: ClusterLoadAssignment | undefined): void {
    for (const cluster of this.clusters.values()) {
      if (cluster.edsServiceName === serviceName) this.setHosts(cluster, hostsOfAssignment(cla));
    }
  }

  private setHosts(cluster: Cluster, hosts: Host[]): void {
    cluster.hosts = hosts;
    this.stats.set(`${cluster.statPrefix}membership_total`, hosts.length);
    this.stats.set(`${cluster.statPrefix}membership_healthy`, hosts.filter((h) => HEALTHY.has(h.health)).length);
    cluster.markWarm();
  }

  edsServiceNames(): string[] {
    return [...new Set([...this.clusters.values()].flatMap((c) => (c.edsServiceName ? [c.edsServiceName] : [])))].sort();
  }

  /** Next host by round robin over the best priority with healthy hosts (degraded ones only if none is healthy). */
  pick(cluster: Cluster): Host | undefined {
    const byPriority = [...new Set(cluster.hosts.map((h) => h.priority))].sort((a, b) => a - b);
    for (const priority of byPriority) {
      const inPriority = cluster.hosts.filter((h) => h.priority === priority);
      let usable = inPriority.filter((h) => HEALTHY.has(h.health));
      if (usable.length === 0) usable = inPriority.filter((h) => h.health === 'DEGRADED');
      if (usable.length === 0) continue;
      const weighted = usable.flatMap((h) => Array<Host>(Math.max(1, Math.min(h.weight, 128))).fill(h));
      return weighted[cluster.rr++ % weighted.length];
    }
    return undefined;
  }

  shutdown(): void {
    for (const c of this.clusters.values()) {
      if (c.dnsTimer) clearInterval(c.dnsTimer);
      c.agent.destroy();
      closeHttp2Sessions(c);
    }
  }

  private declareClusterStats(prefix: string): void {
    for (const s of [
      'upstream_cx_total',
      'upstream_cx_connect_fail',
      'upstream_cx_none_healthy',
      'upstream_rq_total',
      'upstream_rq_completed',
      'upstream_rq_timeout',
    ]) {
      this.stats.declare(prefix + s, 'counter');
    }
    for (const s of ['upstream_cx_active', 'upstream_rq_active', 'membership_total', 'membership_healthy']) this.stats.declare(prefix + s, 'gauge');
  }

  private startDns(cluster: Cluster): void {
    const targets = hostsOfAssignment(cluster.config.load_assignment);
    const family = cluster.config.dns_lookup_family ?? 'AUTO';
    const resolveOnce = async (): Promise<void> => {
      const resolved: Host[] = [];
      for (const t of targets) {
        try {
          const addresses = await lookup(t.address, { all: true });
          let chosen = addresses;
          if (family === 'V4_ONLY') chosen = addresses.filter((a) => a.family === 4);
          else if (family === 'V6_ONLY') chosen = addresses.filter((a) => a.family === 6);
          else if (family === 'V4_PREFERRED') chosen = addresses.some((a) => a.family === 4) ? addresses.filter((a) => a.family === 4) : addresses;
          else if (family === 'AUTO') chosen = addresses.some((a) => a.family === 6) ? addresses.filter((a) => a.family === 6) : addresses;
          if (cluster.type === 'LOGICAL_DNS') chosen = chosen.slice(0, 1);
          for (const a of chosen) resolved.push({ ...t, address: a.address });
        } catch (err) {
          this.log('debug', `cluster '${cluster.name}': DNS resolution of '${t.address}' failed: ${(err as Error).message}`);
        }
      }
      if (this.clusters.get(cluster.name) === cluster) this.setHosts(cluster, resolved);
    };
    void resolveOnce();
    cluster.dnsTimer = setInterval(() => void resolveOnce(), durationMs(cluster.config.dns_refresh_rate, 5000));
    cluster.dnsTimer.unref();
  }
}
