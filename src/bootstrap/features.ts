// The features kuma-dp lists in its bootstrap request (Kuma's
// pkg/core/xds/types/features.go): exactly those whose behaviour this agent
// implements, in Kuma's spelling and in the order Kuma's kuma-dp sends them.
// A control plane changes the Envoy config it generates on each of them, so
// listing one the agent does not honour breaks the proxy (e.g. the access-log
// pipe: Envoy writes to a FIFO nobody reads). This table is the one place to
// add a feature once its component lands.

export const FEATURE_TCP_ACCESSLOG_VIA_NAMED_PIPE = 'feature-tcp-accesslog-via-named-pipe';
export const FEATURE_OTEL_VIA_KUMA_DP = 'feature-otel-via-kuma-dp';
/** 2.x control planes deliver the DNS map over dynamic configuration (instead of an Envoy DNS filter) to proxies that send this. */
export const FEATURE_EMBEDDED_DNS = 'feature-embedded-dns';
export const FEATURE_TRANSPARENT_PROXY_IN_DATAPLANE_METADATA = 'feature-transparent-proxy-in-dataplane-metadata';
export const FEATURE_BIND_OUTBOUNDS = 'feature-bind-outbounds';
export const FEATURE_DELTA_GRPC = 'feature-delta-grpc';
export const FEATURE_UNIFIED_RESOURCE_NAMING = 'feature-unified-resource-naming';
export const FEATURE_SPIRE = 'feature-spire';
export const FEATURE_STRICT_INBOUND_PORTS = 'feature-strict-inbound-ports';
export const FEATURE_REUSE_PORT = 'feature-reuse-port';

/** What decides the features: the agent's settings. */
export interface FeatureSettings {
  dnsEnabled: boolean;
  strictInboundPorts: boolean;
  reusePort: boolean;
}

export interface AgentFeature {
  name: string;
  /** What in this agent (or in Envoy, for features that only shape the control plane's Envoy config) honours it. */
  implementedBy: string;
  /** When it is sent, as in Kuma. */
  sentWhen: string;
  applies(settings: FeatureSettings): boolean;
}

/**
 * The features this agent implements, in Kuma's order. Kuma's kuma-dp also sends, and this agent does
 * not (yet): feature-otel-via-kuma-dp, feature-transparent-proxy-in-dataplane-metadata,
 * feature-bind-outbounds, feature-delta-grpc and feature-unified-resource-naming (2.x), feature-spire.
 */
export const AGENT_FEATURES: readonly AgentFeature[] = [
  {
    name: FEATURE_TCP_ACCESSLOG_VIA_NAMED_PIPE,
    implementedBy: 'the access-log streamer (src/accesslog/streamer.ts): reads <workdir>/kuma-al-<name>-<mesh>.sock and sends each record to its TCP collector',
    sentWhen: 'always (no control plane since Kuma 2.6 reads it, but Kuma sends it)',
    applies: () => true,
  },
  {
    name: FEATURE_EMBEDDED_DNS,
    implementedBy: 'the DNS proxy (src/dns), fed the /dns map by the dynamic-configuration fetcher (src/dynconf)',
    sentWhen: 'the DNS proxy is enabled (--dns-enabled / KUMA_DNS_ENABLED)',
    applies: (s) => s.dnsEnabled,
  },
  {
    name: FEATURE_STRICT_INBOUND_PORTS,
    implementedBy: "Envoy: the control plane's inbound listeners reject ports the Dataplane does not declare; the agent only asks for it",
    sentWhen: 'KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED (default true)',
    applies: (s) => s.strictInboundPorts,
  },
  {
    name: FEATURE_REUSE_PORT,
    implementedBy: "Envoy: the control plane's listeners get enable_reuse_port; the agent only asks for it",
    sentWhen: 'KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED (default true)',
    applies: (s) => s.reusePort,
  },
];

/** The `features` of the bootstrap request for these settings. */
export function agentFeatures(settings: FeatureSettings): string[] {
  return AGENT_FEATURES.filter((f) => f.applies(settings)).map((f) => f.name);
}
