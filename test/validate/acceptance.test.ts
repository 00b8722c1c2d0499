// What Envoy accepts is accepted: both name styles, the well-known types'
// JSON forms, deprecated fields, every resource our templates render, and a
// bootstrap of the shape Kuma's control plane hands out.
import t from 'tap';
import { parseYaml } from '../../src/util/yaml.js';
import { renderSampleResources } from '../../scripts/bench/validate-resources.js';
import { TYPE_NAME, loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';

const types = await loadEnvoyTypes();

t.test('snake_case and camelCase field names, mixed in one document', (t) => {
  const snake = {
    name: 'c',
    connect_timeout: '1s',
    type: 'STATIC',
    load_assignment: {
      cluster_name: 'c',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 80 } } } }] }],
    },
  };
  const camel = {
    name: 'c',
    connectTimeout: '1s',
    type: 'STATIC',
    loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 80 } } } }] }] },
  };
  const mixed = { name: 'c', connectTimeout: '1s', type: 'STATIC', load_assignment: { clusterName: 'c', endpoints: [] } };
  t.same(types.validate(snake, TYPE_NAME.cluster), []);
  t.same(types.validate(camel, TYPE_NAME.cluster), []);
  t.same(types.validate(mixed, TYPE_NAME.cluster), []);
  t.same(
    types.decode(types.encode(camel, TYPE_NAME.cluster), TYPE_NAME.cluster),
    types.decode(types.encode(snake, TYPE_NAME.cluster), TYPE_NAME.cluster),
    'both spellings mean the same',
  );
  const twice = types.validate({ ...snake, connectTimeout: '2s' }, TYPE_NAME.cluster);
  t.same(
    twice.map((i) => i.path),
    ['connectTimeout'],
    'one field given under both names is an error',
  );
  t.end();
});

t.test('Duration strings, wrappers as plain values, int64 as string or number, bytes as base64, Struct', (t) => {
  const cluster = {
    name: 'c',
    connect_timeout: '0.25s',
    dns_refresh_rate: '1.000000001s',
    per_connection_buffer_limit_bytes: 32768, // UInt32Value
    max_requests_per_connection: '100', // UInt32Value (deprecated, still valid), number as string
    respect_dns_ttl: true,
    common_lb_config: { healthy_panic_threshold: { value: 50.5 } }, // Percent
    circuit_breakers: { thresholds: [{ max_connections: 1024, retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 3 } }] },
    upstream_connection_options: { tcp_keepalive: { keepalive_probes: 3, keepalive_time: 30 } },
    metadata: { filter_metadata: { 'io.kuma': { answer: 42, nested: { list: [1, 'two', null, true] } } } },
    cleanup_interval: '5s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100, initial_stream_window_size: 65536 } },
        common_http_protocol_options: { idle_timeout: '3600s', max_headers_count: 100 },
      },
    },
  };
  t.same(types.validate(cluster, TYPE_NAME.cluster), []);
  // an envoy.config.core.v3.HealthCheck, as a cluster's health_checks hold it (no "@type")
  const hc = {
    timeout: '1s',
    interval: '10s',
    unhealthy_threshold: 2,
    healthy_threshold: 1,
    tcp_health_check: { send: { binary: Buffer.from('PING\r\n').toString('base64') }, receive: [{ text: '2b504f4e47' }] },
  };
  t.same(types.validate({ ...cluster, health_checks: [hc] }, TYPE_NAME.cluster), []);
  t.same(
    types.validate({ ...cluster, health_checks: [{ ...hc, tcp_health_check: { send: { binary: 'not base64!' } } }] }, TYPE_NAME.cluster)[0]?.path,
    'health_checks[0].tcp_health_check.send.binary',
  );

  const route = {
    name: 'r',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: '0s', retry_policy: { num_retries: 3, per_try_timeout: '0.5s' } } }],
      },
    ],
  };
  t.same(types.validate(route, TYPE_NAME.route), []);

  const bootstrap = {
    stats_config: { stats_tags: [] },
    overload_manager: {
      refresh_interval: '0.25s',
      resource_monitors: [
        {
          name: 'envoy.resource_monitors.fixed_heap',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig', max_heap_size_bytes: '1073741824' },
        },
      ],
    },
    stats_flush_interval: '5s',
    layered_runtime: { layers: [{ name: 'static', static_layer: { 'envoy.reloadable_features.x': true, 're2.max_program_size.error_level': 4294967295 } }] },
  };
  t.same(types.validate(bootstrap, TYPE_NAME.bootstrap), []);
  const int64 = { node: { id: 'n' }, stats_server_version_override: 12345678901234 };
  const int64AsString = { node: { id: 'n' }, stats_server_version_override: '12345678901234' };
  t.same(types.validate(int64, TYPE_NAME.bootstrap), []);
  t.same(types.validate(int64AsString, TYPE_NAME.bootstrap), []);
  t.same(types.decode(types.encode(int64, TYPE_NAME.bootstrap), TYPE_NAME.bootstrap), { node: { id: 'n' }, stats_server_version_override: '12345678901234' });
  t.end();
});

t.test('a Secret with inline bytes and a validation context', (t) => {
  const secret = {
    name: 'mesh-ca',
    validation_context: {
      trusted_ca: { inline_bytes: Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64') },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://default/' } }],
    },
  };
  t.same(types.validate(secret, TYPE_NAME.secret), []);
  t.end();
});

t.test('every resource the templates render validates: inbound, outbound (static and EDS), load assignments', (t) => {
  const resources = renderSampleResources();
  const count = (typeName: string) => resources.filter(([name]) => name === typeName).length;
  t.equal(count(TYPE_NAME.listener), 8, 'two inbound listeners, three outbound ones for EDS and three for static clusters');
  t.ok(count(TYPE_NAME.cluster) >= 6);
  t.equal(count(TYPE_NAME.endpoint), 2);
  t.ok(
    resources.some(([, r]) => JSON.stringify(r).includes('http_connection_manager')),
    'an HTTP listener was rendered',
  );
  t.ok(
    resources.some(([, r]) => r.type === 'STRICT_DNS'),
    'a cluster with a hostname endpoint was rendered',
  );
  for (const [typeName, resource] of resources) t.same(types.validate(resource, typeName), [], `${typeName} ${String(resource.name ?? resource.cluster_name)}`);
  t.end();
});

// The shape Kuma's control plane returns for `kuma-dp run` (written here from
// Envoy's API reference, not copied from Kuma).
const KUMA_SHAPED_BOOTSTRAP = `
node:
  id: default.web-1
  cluster: web
  metadata:
    dataplane.token: ""
    version:
      kumaDp: { version: 2.9.0, gitTag: unknown, gitCommit: unknown, buildDate: unknown }
      envoy: { version: 1.31.0, build: hash/1.31.0/Clean/RELEASE/BoringSSL, kumaDpCompatible: true }
    dynamicMetadata: {}
admin:
  address:
    socketAddress: { address: 127.0.0.1, portValue: 9901 }
  accessLog:
    - name: envoy.access_loggers.file
      typedConfig:
        "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
        path: /dev/null
layeredRuntime:
  layers:
    - name: kuma
      staticLayer:
        envoy.restart_features.use_eds_cache_for_ads: true
        re2.max_program_size.error_level: 4294967295
        re2.max_program_size.warn_level: 1000
statsConfig:
  statsTags:
    - tagName: name
      regex: ^grpc\\.((.+)\\.)
    - tagName: status
      regex: ^grpc.*streams_closed(_([0-9]+))
  useAllDefaultTags: false
dynamicResources:
  adsConfig:
    apiType: GRPC
    transportApiVersion: V3
    setNodeOnFirstMessageOnly: true
    grpcServices:
      - envoyGrpc: { clusterName: ads_cluster }
        initialMetadata:
          - key: authorization
            value: token
  cdsConfig: { ads: {}, resourceApiVersion: V3, initialFetchTimeout: 0s }
  ldsConfig: { ads: {}, resourceApiVersion: V3, initialFetchTimeout: 0s }
hdsConfig:
  apiType: GRPC
  transportApiVersion: V3
  setNodeOnFirstMessageOnly: true
  grpcServices:
    - envoyGrpc: { clusterName: ads_cluster }
staticResources:
  clusters:
    - name: ads_cluster
      type: STRICT_DNS
      connectTimeout: 1s
      dnsLookupFamily: V4_ONLY
      lbPolicy: ROUND_ROBIN
      upstreamConnectionOptions:
        tcpKeepalive: { keepaliveProbes: 3, keepaliveTime: 10, keepaliveInterval: 10 }
      http2ProtocolOptions: {}
      typedExtensionProtocolOptions:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicitHttpConfig:
            http2ProtocolOptions: {}
      loadAssignment:
        clusterName: ads_cluster
        endpoints:
          - lbEndpoints:
              - endpoint:
                  address:
                    socketAddress: { address: control-plane.kuma-system, portValue: 5678 }
      transportSocket:
        name: envoy.transport_sockets.tls
        typedConfig:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: control-plane.kuma-system
          commonTlsContext:
            tlsParams: { tlsMinimumProtocolVersion: TLSv1_2 }
            validationContextSdsSecretConfig: { name: cp_validation_ctx }
    - name: access_log_sink
      type: STATIC
      connectTimeout: 1s
      typedExtensionProtocolOptions:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicitHttpConfig: { http2ProtocolOptions: {} }
      loadAssignment:
        clusterName: access_log_sink
        endpoints:
          - lbEndpoints:
              - endpoint:
                  address:
                    pipe: { path: /tmp/kuma-al-web-1-default.sock }
  secrets:
    - name: cp_validation_ctx
      validationContext:
        trustedCa: { inlineBytes: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg== }
        matchTypedSubjectAltNames:
          - sanType: DNS
            matcher: { exact: control-plane.kuma-system }
statsFlushInterval: 10s
defaultRegexEngine:
  name: envoy.regex_engines.google_re2
  typedConfig:
    "@type": type.googleapis.com/envoy.extensions.regex_engines.v3.GoogleRE2
`;

/** The part of KUMA_SHAPED_BOOTSTRAP the typo is made in. */
interface KumaShapedBootstrap {
  staticResources: { clusters: Array<{ typedExtensionProtocolOptions: Record<string, { explicitHttpConfig: Record<string, unknown> }> }> };
}

t.test('a Kuma-shaped bootstrap validates, and a typo in it is found', (t) => {
  const bootstrap = parseYaml(KUMA_SHAPED_BOOTSTRAP) as KumaShapedBootstrap;
  t.same(types.validate(bootstrap, TYPE_NAME.bootstrap), []);
  bootstrap.staticResources.clusters[0]!.typedExtensionProtocolOptions[
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'
  ]!.explicitHttpConfig.http2ProtocolOption = {};
  t.same(
    types.validate(bootstrap, TYPE_NAME.bootstrap).map((i) => i.path),
    [
      'staticResources.clusters[0].typedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicitHttpConfig.http2ProtocolOption',
    ],
  );
  t.end();
});

t.test('TypedStruct configs are checked as the type they name', (t) => {
  const listener = (value: Record<string, unknown>) => ({
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 1 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'tcp',
            typed_config: {
              '@type': 'type.googleapis.com/xds.type.v3.TypedStruct',
              type_url: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              value,
            },
          },
        ],
      },
    ],
  });
  t.same(types.validate(listener({ stat_prefix: 'x', cluster: 'c' }), TYPE_NAME.listener), []);
  t.same(
    types.validate(listener({ stat_prefix: 'x', clustr: 'c' }), TYPE_NAME.listener).map((i) => i.path),
    ['filter_chains[0].filters[0].typed_config.value.clustr', 'filter_chains[0].filters[0].typed_config.value'],
  );
  t.end();
});

t.test('a type Envoy knows but whose .proto imports are not shipped is accepted unchecked, and encode says why it cannot', (t) => {
  const otel = 'envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig';
  const listener = {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
    access_log: [{ name: 'otel', typed_config: { '@type': `type.googleapis.com/${otel}`, common_config: { log_name: 'x' } } }],
  };
  t.same(types.validate(listener, TYPE_NAME.listener), []);
  t.throws(() => types.encode(listener, TYPE_NAME.listener), {
    name: 'EnvoyConfigError',
    issues: [
      {
        path: 'access_log[0].typed_config',
        message: new RegExp(`${otel.replace(/\./g, '\\.')} is defined in envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto, whose imports`),
      },
    ],
  });
  const typo = { ...listener, access_log: [{ name: 'otel', typed_config: { '@type': `type.googleapis.com/${otel}x` } }] };
  t.match(
    types.validate(typo, TYPE_NAME.listener),
    [{ path: 'access_log[0].typed_config.@type', message: /does not resolve/ }],
    'a misspelt name of such a type still does not resolve',
  );
  t.end();
});
