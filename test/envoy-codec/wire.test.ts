// encode/decode: the binary is what protobufjs (reading the same .proto files)
// makes of it, and decode(encode(x)) keeps the meaning of x.
import t from 'tap';
import { renderSampleResources } from '../../scripts/bench/validate-resources.js';
import { loadProtoRoot } from '../../src/validate/descriptor.js';
import { TYPE_NAME, loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';

const types = await loadEnvoyTypes();

const cluster = {
  name: 'backend',
  connectTimeout: '5.250s',
  type: 'STATIC',
  lb_policy: 'MAGLEV',
  per_connection_buffer_limit_bytes: 32768,
  dns_refresh_rate: '1.5s',
  metadata: { filter_metadata: { 'io.kuma': { answer: 42, list: ['a', true, null, { deep: 1.5 }] } } },
  load_assignment: {
    cluster_name: 'backend',
    endpoints: [
      { priority: 1, lb_endpoints: [{ load_balancing_weight: 7, endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } } }] },
    ],
  },
  health_checks: [
    {
      timeout: '1s',
      interval: '10s',
      unhealthy_threshold: 2,
      healthy_threshold: 1,
      tcp_health_check: { send: { binary: Buffer.from('PING').toString('base64') } },
    },
  ],
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
    },
  },
};

t.test('decode(encode(x)) gives x back in snake_case, with well-known types in their JSON forms', (t) => {
  const decoded = types.decode(types.encode(cluster, TYPE_NAME.cluster), TYPE_NAME.cluster);
  t.same(decoded, {
    name: 'backend',
    type: 'STATIC',
    connect_timeout: '5.250s',
    lb_policy: 'MAGLEV',
    health_checks: [{ timeout: '1s', interval: '10s', unhealthy_threshold: 2, healthy_threshold: 1, tcp_health_check: { send: { binary: 'UElORw==' } } }],
    per_connection_buffer_limit_bytes: 32768,
    metadata: { filter_metadata: { 'io.kuma': { answer: 42, list: ['a', true, null, { deep: 1.5 }] } } },
    dns_refresh_rate: '1.500s',
    load_assignment: {
      cluster_name: 'backend',
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 8080 } } }, load_balancing_weight: 7 }], priority: 1 },
      ],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 100 } },
      },
    },
  });
  t.same(types.validate(decoded, TYPE_NAME.cluster), [], 'what decode gives is valid again');
  const duration = 'google.protobuf.Duration';
  t.same(types.decode(types.encode('-1.5s', duration), duration), '-1.500s', 'a top-level well-known type, negative');
  t.same(types.decode(types.encode('0.000000001s', duration), duration), '0.000000001s');
  t.same(types.decode(types.encode(4294967295, 'google.protobuf.UInt32Value'), 'google.protobuf.UInt32Value'), 4294967295);
  t.same(
    types.decode(types.encode(0.1, 'google.protobuf.FloatValue'), 'google.protobuf.FloatValue'),
    0.1,
    'a float comes back as the decimal it was written as',
  );
  t.same(types.decode(types.encode(16777217, 'google.protobuf.FloatValue'), 'google.protobuf.FloatValue'), 16777216, 'rounded to what a float holds');
  t.end();
});

/** What protobufjs's toObject() gives for the parts of `cluster` read below (64-bit integers and bytes as strings). */
interface TheirCluster {
  name: string;
  connect_timeout: unknown;
  dns_refresh_rate: unknown;
  lb_policy: string;
  type: string;
  per_connection_buffer_limit_bytes: unknown;
  metadata: { filter_metadata: Record<string, { fields: Record<string, { numberValue: number }> }> };
  load_assignment: {
    endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { port_value: number } } }; load_balancing_weight: unknown }> }>;
  };
  health_checks: Array<{ tcp_health_check: { send: { binary: string } } }>;
  typed_extension_protocol_options: Record<string, { type_url: string; value: string }>;
}
interface TheirHttpProtocolOptions {
  explicit_http_config: { http2_protocol_options: { max_concurrent_streams: unknown } };
}

t.test('protobufjs, reading the same protos, agrees with the binary both ways', async (t) => {
  const { root } = await loadProtoRoot();
  const Cluster = root.lookupType('envoy.config.cluster.v3.Cluster');
  const bytes = types.encode(cluster, TYPE_NAME.cluster);
  const theirs = Cluster.toObject(Cluster.decode(bytes), { longs: String, enums: String, bytes: String }) as TheirCluster;
  t.equal(theirs.name, 'backend');
  t.same(theirs.connect_timeout, { seconds: '5', nanos: 250_000_000 });
  t.same(theirs.dns_refresh_rate, { seconds: '1', nanos: 500_000_000 });
  t.equal(theirs.lb_policy, 'MAGLEV');
  t.equal(theirs.type, 'STATIC');
  t.same(theirs.per_connection_buffer_limit_bytes, { value: 32768 });
  t.equal(theirs.metadata.filter_metadata['io.kuma']!.fields.answer!.numberValue, 42);
  t.equal(theirs.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.port_value, 8080);
  t.same(theirs.load_assignment.endpoints[0]!.lb_endpoints[0]!.load_balancing_weight, { value: 7 });
  t.equal(theirs.health_checks[0]!.tcp_health_check.send.binary, 'UElORw==');
  const any = theirs.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']!;
  t.equal(any.type_url, 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
  const Options = root.lookupType('envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
  const inner = Options.toObject(Options.decode(Buffer.from(any.value, 'base64'))) as TheirHttpProtocolOptions;
  t.same(inner.explicit_http_config.http2_protocol_options.max_concurrent_streams, { value: 100 });

  // and the other way: protobufjs encodes, decode reads
  const Listener = root.lookupType('envoy.config.listener.v3.Listener');
  const TcpProxy = root.lookupType('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy');
  const tcp = TcpProxy.encode(TcpProxy.fromObject({ stat_prefix: 'in', cluster: 'local', idle_timeout: { seconds: 3600 } })).finish();
  const listener = Listener.fromObject({
    name: 'l',
    address: { socket_address: { address: '::', port_value: 15001, ipv4_compat: true } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      {
        filter_chain_match: { source_ports: [1, 2, 65535] },
        filters: [{ name: 'tcp', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', value: tcp } }],
      },
    ],
  });
  t.same(types.decode(Listener.encode(listener).finish(), TYPE_NAME.listener), {
    name: 'l',
    address: { socket_address: { address: '::', port_value: 15001, ipv4_compat: true } },
    filter_chains: [
      {
        filter_chain_match: { source_ports: [1, 2, 65535] },
        filters: [
          {
            name: 'tcp',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
              stat_prefix: 'in',
              cluster: 'local',
              idle_timeout: '3600s',
            },
          },
        ],
      },
    ],
    traffic_direction: 'OUTBOUND',
  });
});

t.test('rendered resources survive encode → decode → encode byte for byte', (t) => {
  for (const [typeName, resource] of renderSampleResources()) {
    const bytes = types.encode(resource, typeName);
    const again = types.encode(types.decode(bytes, typeName), typeName);
    t.same(Buffer.from(again), Buffer.from(bytes), `${typeName} ${String(resource.name ?? resource.cluster_name)}`);
  }
  t.end();
});

t.test('bytes that are not a valid encoding are an EnvoyConfigError', (t) => {
  t.throws(() => types.decode(new Uint8Array([0x0a, 0x05, 0x61]), TYPE_NAME.listener), { name: 'EnvoyConfigError' });
  t.throws(() => types.decode(new Uint8Array([0x0a, 0x01]), 'envoy.config.nope.v3.Nope'), { name: 'EnvoyConfigError' });
  const unknownAny = Buffer.from([0x0a, 0x05, ...Buffer.from('x/y.Z')]); // Any{type_url:"x/y.Z"}
  const withAny = types.decode(types.encode({ name: 'x' }, TYPE_NAME.listener), TYPE_NAME.listener);
  t.same(withAny, { name: 'x' });
  t.throws(() => types.decode(unknownAny, 'google.protobuf.Any'), { name: 'EnvoyConfigError', issues: [{ message: /does not resolve/ }] });
  t.end();
});
