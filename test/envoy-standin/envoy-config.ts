// The parts of Envoy's config this test double reads, as canonical proto3
// JSON (snake_case; unset fields left out, hence optional). Only configs the
// strict validator accepted get these types (config.ts, xds.ts), so a field
// present has the type given here. Object types rather than interfaces: they
// stay assignable to the generic JSON record the dumps and merges work on.

/** google.protobuf.Any: '@type' names the message the other fields belong to. */
export type Any = { '@type'?: string } & Record<string, unknown>;

/** The message name an Any holds ("type.googleapis.com/x.y.Z" → "x.y.Z"). */
export const typeOf = (any: Any | undefined): string => String(any?.['@type'] ?? '').replace(/^.*\//, '');

export type DataSource = { inline_string?: string; inline_bytes?: string; filename?: string };

export type Address = {
  socket_address?: { address?: string; port_value?: number };
  pipe?: { path?: string; mode?: number };
};

export type StringMatcher = {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: { regex?: string };
  ignore_case?: boolean;
};

export type HeaderMatcher = {
  name?: string;
  present_match?: boolean;
  exact_match?: string;
  prefix_match?: string;
  suffix_match?: string;
  string_match?: StringMatcher;
  invert_match?: boolean;
};

export type HeaderValueOption = { header?: { key?: string; value?: string }; append_action?: string; append?: boolean };

/** Header changes a route, virtual host or route configuration asks for. */
export type HeaderMutations = {
  request_headers_to_add?: HeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: HeaderValueOption[];
  response_headers_to_remove?: string[];
};

export type RouteMatch = {
  prefix?: string;
  path?: string;
  safe_regex?: { regex?: string };
  path_separated_prefix?: string;
  case_sensitive?: boolean;
  headers?: HeaderMatcher[];
};

export type WeightedCluster = { name?: string; weight?: number };

export type RouteAction = {
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: { clusters?: WeightedCluster[] };
  prefix_rewrite?: string;
  regex_rewrite?: { pattern?: { regex?: string }; substitution?: string };
  timeout?: string;
  host_rewrite_literal?: string;
};

export type Route = HeaderMutations & {
  match?: RouteMatch;
  route?: RouteAction;
  direct_response?: { status?: number; body?: DataSource };
};

export type VirtualHost = HeaderMutations & { name?: string; domains?: string[]; routes?: Route[] };

export type RouteConfiguration = HeaderMutations & { virtual_hosts?: VirtualHost[]; most_specific_header_mutations_wins?: boolean };

/** envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager (stat_prefix is required). */
export type HttpConnectionManagerConfig = {
  stat_prefix: string;
  route_config?: RouteConfiguration;
  rds?: unknown;
  server_name?: string;
  server_header_transformation?: string;
  generate_request_id?: boolean;
  codec_type?: string;
  access_log?: unknown;
};

/** envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy (stat_prefix is required). */
export type TcpProxyConfig = {
  stat_prefix: string;
  cluster?: string;
  weighted_clusters?: { clusters?: WeightedCluster[] };
  idle_timeout?: string;
  access_log?: unknown;
};

export type CidrRange = { address_prefix?: string; prefix_len?: number };

export type FilterChainMatch = {
  destination_port?: number;
  prefix_ranges?: CidrRange[];
  source_prefix_ranges?: CidrRange[];
  direct_source_prefix_ranges?: CidrRange[];
  source_ports?: number[];
  server_names?: string[];
  application_protocols?: string[];
  transport_protocol?: string;
};

export type NetworkFilter = { name?: string; typed_config?: Any };

export type FilterChain = { filter_chain_match?: FilterChainMatch; filters?: NetworkFilter[] };

/** envoy.config.listener.v3.Listener */
export type ListenerConfig = {
  name?: string;
  address?: Address;
  api_listener?: unknown;
  bind_to_port?: boolean;
  stat_prefix?: string;
  filter_chains?: FilterChain[];
  default_filter_chain?: FilterChain;
  drain_type?: string;
  traffic_direction?: string;
};

export type LbEndpoint = { endpoint?: { address?: Address }; load_balancing_weight?: number; health_status?: string };

/** envoy.config.endpoint.v3.ClusterLoadAssignment */
export type ClusterLoadAssignment = {
  cluster_name?: string;
  endpoints?: Array<{ priority?: number; lb_endpoints?: LbEndpoint[] }>;
};

/** envoy.extensions.upstreams.http.v3.HttpProtocolOptions */
export type HttpProtocolOptions = { explicit_http_config?: { http2_protocol_options?: unknown }; use_downstream_protocol_config?: unknown };

export type SdsSecretConfig = { name?: string };

export type CertificateValidationContext = {
  trusted_ca?: DataSource;
  /** SubjectAltNameMatcher (a StringMatcher under `matcher`) or, deprecated, a bare StringMatcher. */
  match_typed_subject_alt_names?: Array<StringMatcher & { matcher?: StringMatcher }>;
  match_subject_alt_names?: StringMatcher[];
};

export type TlsCertificate = { certificate_chain?: DataSource; private_key?: DataSource };

/** envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext */
export type UpstreamTlsContext = {
  sni?: string;
  common_tls_context?: {
    validation_context?: CertificateValidationContext;
    validation_context_sds_secret_config?: SdsSecretConfig;
    combined_validation_context?: {
      default_validation_context?: CertificateValidationContext;
      validation_context_sds_secret_config?: SdsSecretConfig;
    };
    tls_certificates?: TlsCertificate[];
    tls_certificate_sds_secret_configs?: SdsSecretConfig[];
  };
};

export type ConfigSource = { initial_fetch_timeout?: string };

/** envoy.config.cluster.v3.Cluster */
export type ClusterConfig = {
  name?: string;
  alt_stat_name?: string;
  type?: string;
  cluster_type?: unknown;
  eds_cluster_config?: { service_name?: string; eds_config?: ConfigSource };
  load_assignment?: ClusterLoadAssignment;
  connect_timeout?: string;
  dns_lookup_family?: string;
  dns_refresh_rate?: string;
  http2_protocol_options?: unknown;
  /** Keyed by extension name; the only one read is HttpProtocolOptions, under its own name. */
  typed_extension_protocol_options?: Record<string, HttpProtocolOptions | undefined>;
  /** The only transport socket read is the ADS cluster's TLS. */
  transport_socket?: { name?: string; typed_config?: UpstreamTlsContext };
};

export type Secret = { name?: string; validation_context?: CertificateValidationContext; tls_certificate?: TlsCertificate };

export type GrpcService = { envoy_grpc?: { cluster_name?: string }; initial_metadata?: Array<{ key?: string; value?: string }> };

export type ApiConfigSource = { api_type?: string; grpc_services?: GrpcService[]; set_node_on_first_message_only?: boolean };

export type Node = { id?: string; cluster?: string; metadata?: Record<string, unknown>; locality?: unknown } & Record<string, unknown>;

/** envoy.config.bootstrap.v3.Bootstrap */
export type Bootstrap = {
  node?: Node;
  admin?: { address?: Address };
  static_resources?: { listeners?: ListenerConfig[]; clusters?: ClusterConfig[]; secrets?: Secret[] };
  dynamic_resources?: { ads_config?: ApiConfigSource; cds_config?: ConfigSource; lds_config?: ConfigSource };
};
