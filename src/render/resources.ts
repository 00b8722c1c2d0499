// Dataplane → Envoy listeners, clusters and endpoints, in Envoy's v3 JSON
// form (snake_case). The agent's static mode and the mini-CP's xDS snapshots
// both come from here, so the two can never disagree on names or shapes.
import { isIP } from 'node:net';
import { PROTOCOL_TAG, SERVICE_TAG, inboundReady, outboundService, type Dataplane, type Inbound, type Outbound } from '../dataplane/types.js';
import type { Templates } from './templates.js';

export type EnvoyResource = Record<string, unknown>;

export interface ProxyResources {
  listeners: EnvoyResource[];
  clusters: EnvoyResource[];
}

export interface Endpoint {
  address: string;
  port: number;
}

/** Kuma's default outbound[].address. */
export const OUTBOUND_LISTEN_ADDRESS = '127.0.0.1';
const HTTP_PROTOCOLS = new Set(['http', 'http2', 'grpc']);

export const inboundListenerName = (address: string, port: number): string => `inbound:${address}:${port}`;
export const outboundListenerName = (address: string, port: number): string => `outbound:${address}:${port}`;
export const localClusterName = (port: number): string => `localhost:${port}`;

function isHttp(tags: Record<string, string> | undefined): boolean {
  return HTTP_PROTOCOLS.has(tags?.[PROTOCOL_TAG] ?? 'tcp');
}

function networkFilter(t: Templates, http: boolean, statPrefix: string, cluster: string): EnvoyResource {
  return http ? t.render('filter-http', { statPrefix, cluster, routeName: cluster }) : t.render('filter-tcp-proxy', { statPrefix, cluster });
}

export function loadAssignment(t: Templates, clusterName: string, endpoints: readonly Endpoint[]): EnvoyResource {
  const lbEndpoints = endpoints.map((e) => t.render('lb-endpoint', { address: e.address, port: e.port }));
  return t.render('load-assignment', { clusterName, lbEndpoints });
}

/** A cluster with fixed endpoints: STATIC for IPs, STRICT_DNS when any endpoint is a hostname. */
export function staticCluster(t: Templates, name: string, endpoints: readonly Endpoint[]): EnvoyResource {
  const discoveryType = endpoints.every((e) => isIP(e.address) !== 0) ? 'STATIC' : 'STRICT_DNS';
  return t.render('cluster-static', { name, discoveryType, loadAssignment: loadAssignment(t, name, endpoints) });
}

const statPrefix = (name: string): string => name.replace(/[:.]/g, '_');

function inboundAddress(dp: Dataplane, ib: Inbound): string {
  return ib.address ?? dp.networking.address;
}

/** Per inbound: a listener on address:port proxying to a local cluster at serviceAddress:servicePort. */
export function inboundResources(t: Templates, dp: Dataplane): ProxyResources {
  const out: ProxyResources = { listeners: [], clusters: [] };
  const seenClusters = new Set<string>();
  for (const ib of dp.networking.inbound ?? []) {
    const address = inboundAddress(dp, ib);
    const servicePort = ib.servicePort ?? ib.port;
    const cluster = localClusterName(servicePort);
    const name = inboundListenerName(address, ib.port);
    out.listeners.push(
      t.render('listener', { name, address, port: ib.port, direction: 'INBOUND', filter: networkFilter(t, isHttp(ib.tags), statPrefix(name), cluster) }),
    );
    if (!seenClusters.has(cluster)) {
      seenClusters.add(cluster);
      out.clusters.push(staticCluster(t, cluster, [{ address: ib.serviceAddress ?? '127.0.0.1', port: servicePort }]));
    }
  }
  return out;
}

/**
 * Per outbound: a listener on address:port (Kuma's outbound[].address: the IP the consumed service is
 * available on to this proxy, 127.0.0.1 by default) proxying to the service's
 * cluster. With `eds`, the cluster takes its endpoints over ADS; otherwise
 * `endpoints` supplies them for each outbound.
 */
export function outboundResources(
  t: Templates,
  dp: Dataplane,
  clusters: { eds: true } | { eds: false; endpoints: (outbound: Outbound) => Endpoint[] },
  protocolOf: (service: string) => Record<string, string> | undefined = () => undefined,
): ProxyResources {
  const out: ProxyResources = { listeners: [], clusters: [] };
  const seenClusters = new Set<string>();
  for (const ob of dp.networking.outbound ?? []) {
    const service = outboundService(ob);
    const address = ob.address ?? OUTBOUND_LISTEN_ADDRESS;
    const name = outboundListenerName(address, ob.port);
    // The outbound's own kuma.io/protocol tag wins; otherwise the service's protocol (as its inbounds declare it).
    const http = isHttp(ob.tags?.[PROTOCOL_TAG] ? ob.tags : protocolOf(service));
    out.listeners.push(
      t.render('listener', { name, address, port: ob.port, direction: 'OUTBOUND', filter: networkFilter(t, http, statPrefix(name), service) }),
    );
    if (seenClusters.has(service)) continue;
    seenClusters.add(service);
    out.clusters.push(clusters.eds ? t.render('cluster-eds', { name: service }) : staticCluster(t, service, clusters.endpoints(ob)));
  }
  return out;
}

/** The ready inbounds of `dataplanes` that serve `service`, as endpoints others connect to. */
export function serviceEndpoints(dataplanes: Iterable<Dataplane>, service: string): Endpoint[] {
  const endpoints: Endpoint[] = [];
  for (const dp of dataplanes) {
    for (const ib of dp.networking.inbound ?? []) {
      if (ib.tags?.[SERVICE_TAG] !== service || !inboundReady(ib)) continue;
      endpoints.push({ address: dp.networking.advertisedAddress ?? inboundAddress(dp, ib), port: ib.port });
    }
  }
  return endpoints;
}
