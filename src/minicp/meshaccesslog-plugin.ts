// MeshAccessLog → Envoy, as Kuma's plugin does it for Tcp backends
// (pkg/plugins/policies/meshaccesslog/plugin): the matching inbound and
// outbound listeners' tcp_proxy / http_connection_manager get Envoy's file
// access logger, writing to the proxy's pipe <workdir>/kuma-al-<name>-<mesh>.sock
// one JSON line {"address": <backend>, "message": <format>} per connection or
// request; the %KUMA_*% placeholders are filled in here, as Kuma fills them
// on the control plane. kuma-dp's streamer sends each line to its backend.
//
// Which policy wins is Kuma's rule, simplified: a more specific top-level
// targetRef (Mesh < MeshSubset < MeshService < Dataplane) overrides a less
// specific one, and between equals the lexicographically smaller name wins;
// `backends` lists are replaced, not merged (an empty list turns logs off).
import { outboundService, SERVICE_TAG, type Dataplane, type Inbound } from '../dataplane/types.js';
import type { EnvoyResource } from '../render/resources.js';
import { accessLogSocketName } from '../util/socket-name.js';
import type { AccessLogConf, AccessLogFormat, MeshAccessLog, TargetRef } from './meshaccesslog.js';

export const FILE_ACCESS_LOG = 'envoy.access_loggers.file';
const FILE_ACCESS_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

// Kuma's defaultNetworkAccessLogFormat and defaultHttpAccessLogFormat (plugin/xds/configurer.go).
export const DEFAULT_TCP_FORMAT =
  '[%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->%UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes';
export const DEFAULT_HTTP_FORMAT =
  '[%START_TIME%] %KUMA_MESH% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%KUMA_SOURCE_SERVICE%" "%KUMA_DESTINATION_SERVICE%" "%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%" "%UPSTREAM_HOST%"';

interface KumaValues {
  sourceService: string;
  sourceIp: string;
  destinationService: string;
  mesh: string;
  direction: 'INBOUND' | 'OUTBOUND';
}

/** Kuma's InterpolateKumaValues (zone and workload are empty: the mini-CP has neither). */
export function interpolateKumaValues(format: string, v: KumaValues): string {
  const sourceAddress = v.sourceIp.includes(':') ? `[${v.sourceIp}]:0` : `${v.sourceIp}:0`;
  return format
    .replaceAll('%KUMA_SOURCE_ADDRESS%', sourceAddress)
    .replaceAll('%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%', v.sourceIp)
    .replaceAll('%KUMA_SOURCE_SERVICE%', v.sourceService)
    .replaceAll('%KUMA_DESTINATION_SERVICE%', v.destinationService)
    .replaceAll('%KUMA_MESH%', v.mesh)
    .replaceAll('%KUMA_TRAFFIC_DIRECTION%', v.direction)
    .replaceAll('%KUMA_ZONE%', '')
    .replaceAll('%KUMA_WORKLOAD%', '');
}

const KIND_RANK: Record<TargetRef['kind'], number> = { Mesh: 0, MeshSubset: 1, MeshService: 2, Dataplane: 3 };

const inboundMatches = (ref: TargetRef | undefined, dp: Dataplane, ib: Inbound): boolean => {
  switch (ref?.kind ?? 'Mesh') {
    case 'Mesh':
      return true;
    case 'Dataplane':
      return ref!.name === dp.name;
    case 'MeshService':
      return ib.tags?.[SERVICE_TAG] === ref!.name;
    case 'MeshSubset':
      return Object.entries(ref!.tags ?? {}).every(([k, v]) => ib.tags?.[k] === v);
  }
};

/** Least specific first, so that each later one overrides. */
function ordered(policies: readonly MeshAccessLog[]): MeshAccessLog[] {
  return [...policies].sort((a, b) => {
    const rank = KIND_RANK[a.spec.targetRef?.kind ?? 'Mesh'] - KIND_RANK[b.spec.targetRef?.kind ?? 'Mesh'];
    return rank !== 0 ? rank : a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
  });
}

/** The configuration for traffic into one inbound, or undefined when no policy speaks of it. */
export function inboundConf(policies: readonly MeshAccessLog[], dp: Dataplane, ib: Inbound): AccessLogConf | undefined {
  let conf: AccessLogConf | undefined;
  for (const p of ordered(policies)) {
    if (!inboundMatches(p.spec.targetRef, dp, ib)) continue;
    for (const entry of [...(p.spec.from ?? []), ...(p.spec.rules ?? [])]) conf = entry.default;
  }
  return conf;
}

/** The configuration for traffic to one service from this proxy (a `to` for the service beats one for the Mesh). */
export function outboundConf(policies: readonly MeshAccessLog[], dp: Dataplane, service: string): AccessLogConf | undefined {
  const selected = ordered(policies).filter(
    (p) => (dp.networking.inbound ?? []).some((ib) => inboundMatches(p.spec.targetRef, dp, ib)) || p.spec.targetRef?.kind === 'Mesh' || !p.spec.targetRef,
  );
  const candidates: Array<{ rank: number; order: number; conf: AccessLogConf }> = [];
  selected.forEach((p, order) => {
    for (const entry of p.spec.to ?? []) {
      if (entry.targetRef.kind === 'Mesh') candidates.push({ rank: 0, order, conf: entry.default });
      else if (entry.targetRef.kind === 'MeshService' && entry.targetRef.name === service) candidates.push({ rank: 1, order, conf: entry.default });
    }
  });
  candidates.sort((a, b) => a.rank - b.rank || a.order - b.order);
  return candidates.at(-1)?.conf;
}

/** Kuma's TCPBackendSFS: the JSON line kuma-dp's streamer reads. */
function tcpLogFormat(address: string, format: AccessLogFormat | undefined, defaultFormat: string, values: KumaValues): EnvoyResource {
  if (format?.type === 'Json') {
    const message: Record<string, string> = {};
    for (const { key, value } of format.json ?? []) message[key] = interpolateKumaValues(value, values);
    return { json_format: { address, message }, ...(format.omitEmptyValues ? { omit_empty_values: true } : {}) };
  }
  const text = format?.type === 'Plain' ? format.plain! : defaultFormat;
  return {
    json_format: { address, message: interpolateKumaValues(`${text}\n`, values) },
    ...(format?.type === 'Plain' && format.omitEmptyValues ? { omit_empty_values: true } : {}),
  };
}

function accessLogs(conf: AccessLogConf, path: string, defaultFormat: string, values: KumaValues): EnvoyResource[] {
  return conf.backends.map((b) => ({
    name: FILE_ACCESS_LOG,
    typed_config: { '@type': FILE_ACCESS_LOG_TYPE, path, log_format: tcpLogFormat(b.tcp.address, b.tcp.format, defaultFormat, values) },
  }));
}

/** Adds access logs to a listener's terminal filter (tcp_proxy or HCM); returns the listener, changed or not. */
function withAccessLogs(listener: EnvoyResource, make: (http: boolean) => EnvoyResource[]): EnvoyResource {
  const chains = listener.filter_chains as Array<{ filters: Array<{ typed_config: EnvoyResource }> }> | undefined;
  const filters = chains?.[0]?.filters;
  const terminal = filters?.at(-1);
  if (!chains || !filters || !terminal) return listener;
  const http = terminal.typed_config['@type'] === HCM_TYPE;
  const logs = make(http);
  if (logs.length === 0) return listener;
  const typedConfig = { ...terminal.typed_config, access_log: [...((terminal.typed_config.access_log as EnvoyResource[] | undefined) ?? []), ...logs] };
  return { ...listener, filter_chains: [{ ...chains[0], filters: [...filters.slice(0, -1), { ...terminal, typed_config: typedConfig }] }, ...chains.slice(1)] };
}

export interface AccessLogTargets {
  dp: Dataplane;
  /** One listener per inbound, in the Dataplane's order. */
  inboundListeners: EnvoyResource[];
  /** One listener per outbound, in the Dataplane's order. */
  outboundListeners: EnvoyResource[];
  /** The proxy's work dir, from its node metadata (`workdir`); '' when unknown, as Kuma then names a relative path. */
  workdir: string;
  /** The service this proxy is known by (Kuma's IdentifyingName). */
  identity: string;
}

/** The listeners with the access logs the mesh's MeshAccessLog policies give them. */
export function applyMeshAccessLogs(policies: readonly MeshAccessLog[], t: AccessLogTargets): { inbound: EnvoyResource[]; outbound: EnvoyResource[] } {
  if (policies.length === 0) return { inbound: t.inboundListeners, outbound: t.outboundListeners };
  const { dp } = t;
  let path: string;
  try {
    path = accessLogSocketName(t.workdir, dp.name, dp.mesh);
  } catch {
    return { inbound: t.inboundListeners, outbound: t.outboundListeners }; // kuma-dp refuses such a work dir too
  }
  const sourceIp = dp.networking.address;
  const inbound = t.inboundListeners.map((listener, i) => {
    const ib = dp.networking.inbound?.[i];
    const conf = ib && inboundConf(policies, dp, ib);
    if (!conf) return listener;
    const values: KumaValues = {
      sourceService: 'unknown',
      sourceIp,
      destinationService: ib.tags?.[SERVICE_TAG] ?? 'unknown',
      mesh: dp.mesh,
      direction: 'INBOUND',
    };
    return withAccessLogs(listener, (http) => accessLogs(conf, path, http ? DEFAULT_HTTP_FORMAT : DEFAULT_TCP_FORMAT, values));
  });
  const outbound = t.outboundListeners.map((listener, i) => {
    const ob = dp.networking.outbound?.[i];
    if (!ob) return listener;
    const service = outboundService(ob);
    const conf = outboundConf(policies, dp, service);
    if (!conf) return listener;
    const values: KumaValues = { sourceService: t.identity, sourceIp, destinationService: service, mesh: dp.mesh, direction: 'OUTBOUND' };
    return withAccessLogs(listener, (http) => accessLogs(conf, path, http ? DEFAULT_HTTP_FORMAT : DEFAULT_TCP_FORMAT, values));
  });
  return { inbound, outbound };
}
