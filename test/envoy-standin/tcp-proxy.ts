// envoy.filters.network.tcp_proxy: each downstream connection gets one
// upstream connection to a host of the configured (or weighted) cluster, and
// bytes are copied both ways until either side closes.
import { connect, type Socket } from 'node:net';
import type { ClusterManager } from './clusters.js';
import { durationMs } from './clusters.js';
import type { TcpProxyConfig } from './envoy-config.js';
import type { Log } from './log.js';
import { accessLoggers, type StreamInfo } from './access-log.js';
import { statSafe, type Stats } from './stats.js';

export function pickWeighted<T extends { weight?: unknown }>(items: T[]): T | undefined {
  const total = items.reduce((sum, i) => sum + Number(i.weight ?? 0), 0);
  if (total <= 0) return items[0];
  let roll = Math.random() * total;
  for (const item of items) {
    roll -= Number(item.weight ?? 0);
    if (roll < 0) return item;
  }
  return items[items.length - 1];
}

export function tcpProxy(config: TcpProxyConfig, clusters: ClusterManager, stats: Stats, log: Log): (downstream: Socket) => void {
  const prefix = `tcp.${statSafe(config.stat_prefix)}.`;
  for (const s of ['downstream_cx_total', 'downstream_cx_no_route', 'idle_timeout']) stats.declare(prefix + s, 'counter');
  const idleMs = durationMs(config.idle_timeout, 3_600_000);
  const loggers = accessLoggers(config.access_log, log);
  return (downstream) => {
    stats.inc(prefix + 'downstream_cx_total');
    const info: StreamInfo = {
      startTime: new Date(),
      endTime: new Date(),
      bytesReceived: 0,
      bytesSent: 0,
      responseFlags: [],
      responseCode: 0,
      downstreamRemote: { address: downstream.remoteAddress ?? '', port: downstream.remotePort ?? 0 },
      downstreamLocal: { address: downstream.localAddress ?? '', port: downstream.localPort ?? 0 },
    };
    // One record per connection, when it closes, as Envoy's tcp_proxy writes it.
    if (loggers.length > 0)
      downstream.once('close', () => {
        info.endTime = new Date();
        info.bytesReceived = downstream.bytesRead;
        info.bytesSent = downstream.bytesWritten;
        for (const logger of loggers) logger(info);
      });
    const clusterName = config.cluster ?? pickWeighted(config.weighted_clusters?.clusters ?? [])?.name;
    const cluster = clusterName ? clusters.get(clusterName) : undefined;
    info.upstreamCluster = clusterName;
    if (!cluster) {
      info.responseFlags.push('NR');
      stats.inc(prefix + 'downstream_cx_no_route');
      log('debug', `tcp_proxy: no cluster '${clusterName}'; closing the connection`);
      downstream.destroy();
      return;
    }
    const host = clusters.pick(cluster);
    const cs = cluster.statPrefix;
    if (!host) {
      info.responseFlags.push('UH');
      stats.inc(cs + 'upstream_cx_none_healthy');
      log('debug', `tcp_proxy: no healthy upstream in cluster '${cluster.name}'`);
      downstream.destroy();
      return;
    }
    downstream.pause();
    info.upstreamHost = host.address.includes(':') ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
    const upstream = host.pipe !== undefined ? connect({ path: host.pipe }) : connect({ host: host.address, port: host.port });
    stats.inc(cs + 'upstream_cx_total');
    stats.add(cs + 'upstream_cx_active', 1);
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), cluster.connectTimeoutMs);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      downstream.pipe(upstream);
      upstream.pipe(downstream);
      downstream.resume();
    });
    if (idleMs > 0) {
      const idle = (): void => {
        stats.inc(prefix + 'idle_timeout');
        downstream.destroy();
        upstream.destroy();
      };
      downstream.setTimeout(idleMs, idle);
      upstream.setTimeout(idleMs, idle);
    }
    upstream.once('close', () => {
      clearTimeout(connectTimer);
      stats.add(cs + 'upstream_cx_active', -1);
      if (!connected) {
        stats.inc(cs + 'upstream_cx_connect_fail');
        info.responseFlags.push('UF');
      }
      downstream.end();
    });
    upstream.on('error', (err) => log('debug', `tcp_proxy: upstream ${host.address}:${host.port} of '${cluster.name}': ${err.message}`));
    downstream.on('error', () => upstream.destroy());
    downstream.once('close', () => upstream.destroy());
  };
}
