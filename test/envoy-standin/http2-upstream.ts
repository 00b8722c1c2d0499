// HTTP/2 to a cluster's hosts, for clusters configured with
// http2_protocol_options (directly or in HttpProtocolOptions): one pooled
// session per host, dropped when it closes or errors.
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Cluster, Host } from './clusters.js';

const PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
// Keyed by the cluster's agent, which a modified cluster keeps, so its sessions carry over too.
const sessions = new WeakMap<object, Map<string, ClientHttp2Session>>();

/** Whether requests to this cluster go over HTTP/2 (`downstreamIsH2` for use_downstream_protocol_config). */
export function usesHttp2(cluster: Cluster, downstreamIsH2: boolean): boolean {
  const options = cluster.config.typed_extension_protocol_options?.[PROTOCOL_OPTIONS];
  if (options?.explicit_http_config?.http2_protocol_options || cluster.config.http2_protocol_options) return true;
  if (options?.use_downstream_protocol_config) return downstreamIsH2;
  return false;
}

function session(cluster: Cluster, host: Host, onNew: () => void): ClientHttp2Session {
  let pool = sessions.get(cluster.agent);
  if (!pool) {
    pool = new Map();
    sessions.set(cluster.agent, pool);
  }
  const key = `${host.address}:${host.port}`;
  const existing = pool.get(key);
  if (existing && !existing.closed && !existing.destroyed) return existing;
  const authority = host.address.includes(':') ? `http://[${host.address}]:${host.port}` : `http://${host.address}:${host.port}`;
  const created = connect(authority);
  onNew();
  const forget = (): void => {
    if (pool.get(key) === created) pool.delete(key);
  };
  created.on('error', forget);
  created.on('close', forget);
  created.on('goaway', forget);
  created.unref();
  pool.set(key, created);
  return created;
}

/** A request on the host's pooled session; `onNewConnection` runs when a session had to be opened for it. */
export function http2Request(cluster: Cluster, host: Host, headers: OutgoingHttpHeaders, endStream: boolean, onNewConnection: () => void): ClientHttp2Stream {
  return session(cluster, host, onNewConnection).request(headers, { endStream });
}

/** Closes a removed cluster's sessions. */
export function closeHttp2Sessions(cluster: Cluster): void {
  for (const s of sessions.get(cluster.agent)?.values() ?? []) s.close();
  sessions.delete(cluster.agent);
}
