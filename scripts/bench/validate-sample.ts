// The bootstrap the validator benchmark uses (no imports, so the cold run measures only the validator).
/** A bootstrap of the shape kuma-dp receives: node, admin, ADS over gRPC, a static ADS cluster with HTTP/2, runtime, stats. */
export function typicalBootstrap(): Record<string, unknown> {
  const http2Options = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    },
  };
  return {
    node: { id: 'default.web-1', cluster: 'web', metadata: { 'dataplane.token': '', version: { kumaDp: { version: '2.9.0' }, envoy: { version: '1.31.0' } } } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
    layered_runtime: { layers: [{ name: 'kuma', static_layer: { 're2.max_program_size.error_level': 4294967295, 'envoy.reloadable_features.x': true } }] },
    stats_config: { stats_tags: [{ tag_name: 'name', regex: '^grpc\\.((.+)\\.)' }], use_all_default_tags: false },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' }, initial_metadata: [{ key: 'authorization', value: 'token' }] }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' },
      lds_config: { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' },
    },
    static_resources: {
      clusters: [
        {
          name: 'ads_cluster',
          type: 'STRICT_DNS',
          connect_timeout: '1s',
          dns_lookup_family: 'V4_ONLY',
          upstream_connection_options: { tcp_keepalive: { keepalive_probes: 3, keepalive_time: 10, keepalive_interval: 10 } },
          typed_extension_protocol_options: http2Options,
          load_assignment: {
            cluster_name: 'ads_cluster',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: 5678 } } } }] }],
          },
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
              sni: 'localhost',
              common_tls_context: {
                tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
                validation_context_sds_secret_config: { name: 'cp_validation_ctx' },
              },
            },
          },
        },
      ],
      secrets: [
        { name: 'cp_validation_ctx', validation_context: { trusted_ca: { inline_bytes: Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64') } } },
      ],
    },
    stats_flush_interval: '10s',
  };
}
