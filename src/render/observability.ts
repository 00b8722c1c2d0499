// Envoy resources for what kuma-dp runs beside Envoy, shaped as kuma-cp
// generates them (pkg/xds/dynconf/listener.go, MeshMetric's
// PrometheusConfigurer):
//  - `system_dynamicconfig`: a listener on <workdir>/kuma-mesh-metric-config.sock
//    whose routes answer each document (`/dns`, `/meshmetric`) as a direct
//    response with an ETag, and 304 when If-None-Match already has it;
//  - `system_meshmetric_prometheus_<clientId>`: a listener on the Dataplane's
//    address and a cluster to kuma-dp's metrics socket, the path rewritten to
//    `/meshmetric`.
import { createHash } from 'node:crypto';
import { dynamicConfigSocketName } from '../util/socket-name.js';
import type { EnvoyResource } from './resources.js';

export const DYNCONF_LISTENER = 'system_dynamicconfig';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/** The lowercase hex SHA-256 of the exact body, as kuma-cp's ETag. */
export const etagOf = (body: string): string => createHash('sha256').update(body).digest('hex');

function httpManager(statPrefix: string, routeConfig: EnvoyResource): EnvoyResource {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: { '@type': HCM, stat_prefix: statPrefix, codec_type: 'AUTO', route_config: routeConfig, http_filters: [ROUTER] },
  };
}

/** The dynamic-configuration listener for the documents given (path → JSON body), or undefined when there are none. */
export function dynamicConfigListener(workdir: string, documents: ReadonlyMap<string, string>): EnvoyResource | undefined {
  if (documents.size === 0) return undefined;
  const routes: EnvoyResource[] = [];
  let longest = 0;
  for (const [path, body] of [...documents].sort(([a], [b]) => a.localeCompare(b))) {
    const name = `${DYNCONF_LISTENER}_${path.replace(/^\//, '').replace(/\W/g, '_')}`;
    const etag = etagOf(body);
    longest = Math.max(longest, Buffer.byteLength(body));
    routes.push(
      { name: `${name}_not_modified`, match: { path, headers: [{ name: 'If-None-Match', string_match: { exact: etag } }] }, direct_response: { status: 304 } },
      {
        name,
        match: { path },
        response_headers_to_add: [{ header: { key: 'Etag', value: etag } }],
        direct_response: { status: 200, body: { inline_string: body } },
      },
    );
  }
  return {
    name: DYNCONF_LISTENER,
    address: { pipe: { path: dynamicConfigSocketName(workdir) } },
    stat_prefix: DYNCONF_LISTENER,
    filter_chains: [
      {
        filters: [
          httpManager(DYNCONF_LISTENER, {
            max_direct_response_body_size_bytes: Math.max(longest, 4096),
            virtual_hosts: [{ name: DYNCONF_LISTENER, domains: ['*'], routes }],
          }),
        ],
      },
    ],
  };
}

export interface PrometheusEndpoint {
  clientId: string;
  address: string;
  port: number;
  path: string;
}

/** The listener on <address>:<port><path> and the cluster to the metrics socket, for one Prometheus backend. */
export function meshMetricPrometheus(endpoint: PrometheusEndpoint, hijackerSocket: string): { listener: EnvoyResource; cluster: EnvoyResource } {
  const name = `system_meshmetric_prometheus_${endpoint.clientId.replace(/[^\w-]/g, '_')}`;
  const cluster: EnvoyResource = {
    name,
    type: 'STATIC',
    connect_timeout: '5s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: hijackerSocket } } } }] }] },
  };
  const listener: EnvoyResource = {
    name,
    address: { socket_address: { address: endpoint.address, port_value: endpoint.port } },
    traffic_direction: 'INBOUND',
    enable_reuse_port: false,
    filter_chains: [
      {
        filters: [
          httpManager(name, {
            virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: endpoint.path }, route: { cluster: name, prefix_rewrite: '/meshmetric' } }] }],
          }),
        ],
      },
    ],
  };
  return { listener, cluster };
}
