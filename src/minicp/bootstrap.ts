// POST /bootstrap: Kuma's BootstrapRequest → an Envoy bootstrap whose ADS
// cluster points back at this DP server, with Kuma's status codes.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { encodeBootstrapResponse } from '../bootstrap/response.js';
import { SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { DEFAULT_ADMIN_PORT } from '../dataplane/validate.js';
import { createLogger } from '../log/logger.js';
import { staticCluster, type EnvoyResource } from '../render/resources.js';
import type { Templates } from '../render/templates.js';
import type { FieldError } from '../util/errors.js';
import { adminSocketName } from '../util/socket-name.js';
import { stringifyYaml } from '../util/yaml.js';
import { DOCUMENT_LIMITS, DocumentError, isObject, readJsonDocument } from '../util/document.js';
import { StoreRejection, StoreWriteError, type Store } from './store.js';
import { checkTokenTags, TokenError, type DataplaneIdentity, type DataplaneTokens } from './tokens.js';

const log = createLogger('minicp.bootstrap');

export const ADS_CLUSTER = 'ads_cluster';
/** The feature a kuma-dp lists to get incremental xDS (Kuma's FeatureDeltaGRPC). */
export const FEATURE_DELTA_GRPC = 'feature-delta-grpc';
export const ADMIN_ADDRESS = '127.0.0.1';

export interface BootstrapRequest {
  mesh?: string;
  name?: string;
  proxyType?: string;
  dataplaneToken?: string;
  dataplaneTokenPath?: string;
  dataplaneResource?: string;
  version?: { kumaDp?: Record<string, unknown>; envoy?: Record<string, unknown> };
  caCert?: string;
  dynamicMetadata?: Record<string, string>;
  dnsPort?: number;
  readinessPort?: number;
  operatingSystem?: string;
  features?: string[];
  workdir?: string;
  metricsResources?: { certPath?: string; keyPath?: string };
  systemCaPath?: string;
  ipv6Enabled?: boolean;
}

export interface BootstrapSettings {
  store: Store;
  templates: Templates;
  /** Verifies tokens when auth is on; undefined with --auth none. */
  tokens: DataplaneTokens | undefined;
  /** The CA proxies must trust to reach the DP server; undefined when it serves plaintext. */
  caPem: string | undefined;
  /** The DP server's certificate, to check the host proxies will verify it against. */
  serverCertPem: string | undefined;
  /** Overrides the host the agent used (the request's Host header). */
  xdsHost: string | undefined;
  xdsPort: number;
  /** Checks a generated bootstrap strictly; returns problems (empty when valid). */
  validate(bootstrap: EnvoyResource): string[];
  /** Put Envoy's admin API on <workdir>/kuma-envoy-admin.sock when the request has a workdir (Kuma >= 2.14's default). */
  envoyAdminUnixSocket: boolean;
  /** Registers a Dataplane the request carries (checked by the caller's rules). */
  checkDataplaneText(text: string, field: string): { ok: true; dataplane: Dataplane } | { ok: false; errors: FieldError[] };
}

export interface BootstrapAnswer {
  status: number;
  contentType?: string;
  body: string;
}

const text = (status: number, body: string): BootstrapAnswer => ({ status, contentType: 'text/plain; charset=utf-8', body });

export const DP_TOKEN_REQUIRED =
  "Dataplane Token is required. Generate a token with POST /tokens/dataplane (or 'kumactl generate dataplane-token') and pass it with kuma-dp run --dataplane-token-file=/path/file";

/** Fields of Kuma's BootstrapRequest and the JSON type each must have (Go's json decoding refuses others; unknown fields are ignored, as there). */
const REQUEST_FIELDS: Record<string, 'string' | 'number' | 'boolean' | 'object' | 'strings' | 'stringMap'> = {
  mesh: 'string',
  name: 'string',
  proxyType: 'string',
  dataplaneToken: 'string',
  dataplaneTokenPath: 'string',
  dataplaneResource: 'string',
  version: 'object',
  caCert: 'string',
  dynamicMetadata: 'stringMap',
  dnsPort: 'number',
  readinessPort: 'number',
  operatingSystem: 'string',
  features: 'strings',
  workdir: 'string',
  metricsResources: 'object',
  systemCaPath: 'string',
  ipv6Enabled: 'boolean',
};

/** The request body, read by the strict reader and checked field by field; a DocumentError names what is wrong. */
export function readBootstrapRequest(body: string): BootstrapRequest & Record<string, unknown> {
  // The body carries the Dataplane as a string: room for it, escaped, and the rest.
  const value = readJsonDocument(body, { ...DOCUMENT_LIMITS, maxBytes: 2 * DOCUMENT_LIMITS.maxBytes + 64 * 1024 });
  if (!isObject(value)) throw new DocumentError('', 'must be a JSON object');
  for (const [field, type] of Object.entries(REQUEST_FIELDS)) {
    const v = value[field];
    if (v === undefined || v === null) continue;
    const ok =
      type === 'strings'
        ? Array.isArray(v) && v.every((s) => typeof s === 'string')
        : type === 'stringMap'
          ? isObject(v) && Object.values(v).every((s) => typeof s === 'string')
          : type === 'object'
            ? isObject(v)
            : typeof v === type;
    if (!ok) throw new DocumentError(field, `must be ${TYPE_WORDS[type]}`);
  }
  for (const port of ['dnsPort', 'readinessPort'] as const) {
    const v = value[port];
    if (typeof v === 'number' && (!Number.isInteger(v) || v < 0 || v > 65535)) throw new DocumentError(port, `must be a port (0-65535), got ${v}`);
  }
  return value;
}

const TYPE_WORDS = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'an object',
  strings: 'a list of strings',
  stringMap: 'an object of strings',
};

/** Splits a Host header into host and port ("[::1]:5678", "cp:5678", "cp"). */
export function splitHost(hostHeader: string | undefined): { host: string | undefined; port: number | undefined } {
  if (!hostHeader) return { host: undefined, port: undefined };
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostHeader) ?? /^([^:]+)(?::(\d+))?$/.exec(hostHeader);
  if (!match) return { host: hostHeader, port: undefined };
  return { host: match[1], port: match[2] ? Number(match[2]) : undefined };
}

export async function handleBootstrap(
  settings: BootstrapSettings,
  body: string,
  hostHeader: string | undefined,
  accept: string | undefined,
): Promise<BootstrapAnswer> {
  let request: BootstrapRequest;
  try {
    request = readBootstrapRequest(body);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    log.warn('unreadable bootstrap request', { error: err.message });
    return text(400, `the bootstrap request is not a BootstrapRequest: ${err.message}`);
  }

  const problems: FieldError[] = [];
  const mesh = request.mesh || 'default';
  if (typeof request.name !== 'string' || request.name === '') problems.push({ field: 'name', message: 'is required' });
  const proxyType = request.proxyType || 'dataplane';
  if (proxyType !== 'dataplane') problems.push({ field: 'proxyType', message: `'${proxyType}' is not supported by kuma-mini-cp; only 'dataplane'` });
  if (problems.length > 0) return text(422, problems.map((p) => `${p.field}: ${p.message}`).join('\n'));
  const name = request.name!;

  let identity: DataplaneIdentity | undefined;
  if (settings.tokens) {
    if (!request.dataplaneToken) return text(422, DP_TOKEN_REQUIRED);
    try {
      identity = await settings.tokens.verify(request.dataplaneToken, mesh, name);
    } catch (err) {
      return refused(err, mesh, name);
    }
  }
  if (!settings.store.hasMesh(mesh)) return text(422, `mesh: mesh '${mesh}' does not exist (known meshes: ${settings.store.meshes().join(', ')})`);

  let dataplane: Dataplane;
  if (request.dataplaneResource) {
    const checked = settings.checkDataplaneText(request.dataplaneResource, 'dataplaneResource');
    if (!checked.ok) return text(422, checked.errors.map((e) => `${e.field || 'dataplaneResource'}: ${e.message}`).join('\n'));
    const mismatch: string[] = [];
    if (checked.dataplane.mesh !== mesh) mismatch.push(`mesh: the Dataplane's mesh '${checked.dataplane.mesh}' differs from the request's '${mesh}'`);
    if (checked.dataplane.name !== name) mismatch.push(`name: the Dataplane's name '${checked.dataplane.name}' differs from the request's '${name}'`);
    if (mismatch.length > 0) return text(422, mismatch.join('\n'));
    try {
      dataplane = await settings.store.update((tx) => {
        tx.put(checked.dataplane, 'proxy');
        return tx.get(mesh, name)!.dataplane;
      });
    } catch (err) {
      if (err instanceof StoreRejection) return text(422, err.errors.map((e) => `dataplaneResource.${e.field}: ${e.message}`).join('\n'));
      if (err instanceof StoreWriteError) return text(503, err.message);
      throw err;
    }
  } else {
    const stored = settings.store.get(mesh, name);
    if (!stored) return { status: 404, body: '' };
    dataplane = stored.dataplane;
  }

  if (identity) {
    try {
      checkTokenTags(identity, dataplane);
    } catch (err) {
      return refused(err, mesh, name);
    }
  }

  const fromHeader = splitHost(hostHeader);
  const host = settings.xdsHost ?? fromHeader.host ?? 'localhost';
  const mismatch = settings.xdsHost ? undefined : sanMismatch(settings.serverCertPem, host);
  if (mismatch) return text(400, mismatch);
  const port = settings.xdsHost ? settings.xdsPort : (fromHeader.port ?? settings.xdsPort);
  const bootstrap = buildBootstrap(settings.templates, {
    request,
    mesh,
    name,
    dataplane,
    xdsHost: host,
    xdsPort: port,
    caPem: settings.caPem,
    envoyAdminUnixSocket: settings.envoyAdminUnixSocket,
    resourceText: request.dataplaneResource ? JSON.stringify(dataplane) : undefined,
  });
  const invalid = settings.validate(bootstrap);
  if (invalid.length > 0) {
    log.error('generated bootstrap is not valid', { mesh, name, problems: invalid });
    return text(500, `generated bootstrap is not valid: ${invalid.join('; ')}`);
  }
  const yaml = stringifyYaml(bootstrap);
  log.info('bootstrap served', { mesh, name, xdsHost: host, xdsPort: port, delta: usesDelta(request) });
  if ((accept ?? '').includes('application/json')) {
    return {
      status: 200,
      contentType: 'application/json',
      body: encodeBootstrapResponse(yaml, { networking: { address: dataplane.networking.address }, metrics: { aggregate: [] } }),
    };
  }
  return { status: 200, contentType: 'text/x-yaml', body: yaml };
}

/** Kuma's early answer when Envoy would fail TLS verification of the DP server for `host`. */
function sanMismatch(certPem: string | undefined, host: string): string | undefined {
  if (!certPem) return undefined;
  const cert = new X509Certificate(certPem);
  const matches = isIP(host) !== 0 ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
  if (matches) return undefined;
  return `A data plane proxy is trying to connect to the control plane using "${host}", but the control plane's certificate has the SANs ${cert.subjectAltName ?? '(none)'}. Use one of those as the control plane address, or restart kuma-mini-cp with --hostname ${host} (or your own certificate with --tls-cert-file/--tls-key-file, or --xds-host).`;
}

function refused(err: unknown, mesh: string, name: string): BootstrapAnswer {
  if (!(err instanceof TokenError)) throw err;
  log.warn('bootstrap refused', { mesh, name, reason: err.message });
  return text(err.kind === 'forbidden' ? 403 : 401, err.message);
}

export const usesDelta = (request: BootstrapRequest): boolean => Array.isArray(request.features) && request.features.includes(FEATURE_DELTA_GRPC);

export interface BootstrapParams {
  request: BootstrapRequest;
  mesh: string;
  name: string;
  dataplane: Dataplane;
  xdsHost: string;
  xdsPort: number;
  caPem: string | undefined;
  /** As Kuma's bootstrapServer.params.envoyAdminUnixSocket (default true). */
  envoyAdminUnixSocket?: boolean;
  resourceText: string | undefined;
}

/** The service a proxy is known by: its first inbound's `kuma.io/service`, or the gateway's. */
export function serviceOf(dp: Dataplane): string {
  return dp.networking.inbound?.[0]?.tags?.[SERVICE_TAG] ?? dp.networking.gateway?.tags?.[SERVICE_TAG] ?? dp.name;
}

export function buildBootstrap(t: Templates, p: BootstrapParams): EnvoyResource {
  const { request, dataplane } = p;
  const adminPort = dataplane.networking.admin?.port ?? DEFAULT_ADMIN_PORT;
  const metadata: Record<string, unknown> = {
    'dataplane.proxyType': 'dataplane',
    'dataplane.admin.port': String(adminPort),
    'dataplane.admin.address': ADMIN_ADDRESS,
    version: request.version ?? {},
    features: request.features ?? [],
    workdir: request.workdir ?? '',
    metricsCertPath: request.metricsResources?.certPath ?? '',
    metricsKeyPath: request.metricsResources?.keyPath ?? '',
    systemCaPath: request.systemCaPath ?? '',
    ipv6Enabled: request.ipv6Enabled ?? false,
  };
  // As Kuma >= 2.14: with a workdir, admin goes on a Unix socket there (mode 0600) and node metadata says where.
  const adminSocket = p.envoyAdminUnixSocket !== false && request.workdir ? adminSocketName(request.workdir) : undefined;
  if (adminSocket) metadata['dataplane.admin.socketPath'] = adminSocket;
  else if (p.envoyAdminUnixSocket !== false) log.warn('admin Unix socket enabled but the request has no workdir: admin on TCP', { mesh: p.mesh, name: p.name });
  if (p.resourceText) metadata['dataplane.resource'] = p.resourceText;
  if (request.dnsPort) metadata['dataplane.dns.port'] = String(request.dnsPort);
  if (request.readinessPort) metadata['dataplane.readinessReporter.port'] = String(request.readinessPort);
  if (request.dynamicMetadata && Object.keys(request.dynamicMetadata).length > 0) metadata['dynamicMetadata'] = request.dynamicMetadata;

  const grpcService: EnvoyResource = { envoy_grpc: { cluster_name: ADS_CLUSTER } };
  if (request.dataplaneToken) grpcService.initial_metadata = [{ key: 'authorization', value: request.dataplaneToken }];
  const adsSource = { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };

  const adsCluster: EnvoyResource = {
    ...staticCluster(t, ADS_CLUSTER, [{ address: p.xdsHost, port: p.xdsPort }]),
    connect_timeout: '1s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    upstream_connection_options: { tcp_keepalive: { keepalive_probes: 3, keepalive_time: 10, keepalive_interval: 10 } },
  };
  if (p.caPem) {
    const sanType = isIP(p.xdsHost) !== 0 ? 'IP_ADDRESS' : 'DNS';
    adsCluster.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: p.xdsHost,
        common_tls_context: {
          tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
          alpn_protocols: ['h2'],
          validation_context: {
            trusted_ca: { inline_bytes: Buffer.from(p.caPem).toString('base64') },
            match_typed_subject_alt_names: [{ san_type: sanType, matcher: { exact: p.xdsHost } }],
          },
        },
      },
    };
  }

  return {
    node: { id: `${p.mesh}.${p.name}`, cluster: serviceOf(dataplane), metadata },
    admin: { address: adminSocket ? { pipe: { path: adminSocket, mode: 0o600 } } : { socket_address: { address: ADMIN_ADDRESS, port_value: adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: usesDelta(request) ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [grpcService],
      },
      lds_config: adsSource,
      cds_config: { ...adsSource },
    },
    static_resources: { clusters: [adsCluster] },
  };
}
