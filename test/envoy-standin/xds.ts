// The ADS client: one gRPC stream (state-of-the-world or delta) to the
// bootstrap's ads_config cluster, subscriptions per type, ACK with the
// response's version and nonce, NACK with the rejection in error_detail
// (keeping the previous config), reconnection with backoff. What a set of
// resources means is up to the caller's handler; it throws to reject.
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import {
  loadAdsDefinition,
  TYPE_URL,
  typeNameOf,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/ads-proto.js';
import { hostsOfAssignment } from './clusters.js';
import { checkResource, ConfigError, type Json } from './config.js';
import type {
  ApiConfigSource,
  Bootstrap,
  CertificateValidationContext,
  DataSource,
  Node,
  SdsSecretConfig,
  Secret,
  StringMatcher,
  TlsCertificate,
} from './envoy-config.js';
import type { Log } from './log.js';
import type { Stats } from './stats.js';
import type { EnvoyTypes } from './types.js';
import { versionNumber } from './version.js';

export interface Resource {
  name: string;
  version: string;
  /** Checked against the message its type URL names (a Cluster, ClusterLoadAssignment or Listener). */
  json: Json;
}

/** Applies the complete set of a type's resources; throws ConfigError to reject the update. */
export type Handler = (resources: Map<string, Resource>, versionInfo: string) => Promise<void> | void;

interface TypeState {
  typeUrl: string;
  statPrefix: (names: string[]) => string[];
  subscribed: boolean;
  /** Named subscription (EDS); undefined for wildcard (CDS, LDS). */
  names?: Set<string>;
  acceptedVersion: string;
  lastNonce: string;
  resources: Map<string, Resource>;
  handler: Handler;
  /** Called once after the first response (accepted or rejected). */
  onFirst?: () => void;
}

const ORDER = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route];

/**
 * google.protobuf.Struct JSON → the object form protobufjs encodes. Its
 * well-known Struct types keep their camelCase field names even under the
 * proto loader's keepCase (snake_case keys were silently encoded as empty values).
 */
export function structToProto(json: unknown): unknown {
  const value = (v: unknown): unknown => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: structToProto(v) };
  };
  return { fields: Object.fromEntries(Object.entries((json ?? {}) as Record<string, unknown>).map(([k, v]) => [k, value(v)])) };
}

function nodeMessage(node: Node): Record<string, unknown> {
  const [major, minor, patch] = versionNumber().split('.').map(Number);
  const out: Record<string, unknown> = {
    id: node.id ?? '',
    cluster: node.cluster ?? '',
    user_agent_name: 'envoy',
    user_agent_build_version: { version: { major_number: major ?? 0, minor_number: minor ?? 0, patch: patch ?? 0 } },
    client_features: ['envoy.lb.does_not_support_overprovisioning', 'envoy.lrs.supports_send_all_clusters'],
  };
  if (node.metadata) out.metadata = structToProto(node.metadata);
  if (node.locality) out.locality = node.locality;
  return out;
}

function inlineOrFile(source: DataSource | undefined): Buffer | undefined {
  if (!source) return undefined;
  if (source.inline_string !== undefined) return Buffer.from(String(source.inline_string));
  if (source.inline_bytes !== undefined) return Buffer.from(String(source.inline_bytes), 'base64');
  if (source.filename !== undefined) return readFileSync(String(source.filename));
  return undefined;
}

/** A SubjectAltNameMatcher (its StringMatcher under `matcher`) or, deprecated, a bare StringMatcher. */
type SanMatcher = StringMatcher & { matcher?: StringMatcher };

function sanMatches(matchers: SanMatcher[], cert: PeerCertificate): boolean {
  const sans = (cert.subjectaltname ?? '').split(', ').map((s) => s.replace(/^(DNS|URI|IP Address|email):/, ''));
  return matchers.some((m) => {
    const matcher = m.matcher ?? m;
    return sans.some((san) => {
      if (matcher.exact !== undefined) return san === matcher.exact;
      if (matcher.prefix !== undefined) return san.startsWith(matcher.prefix);
      if (matcher.suffix !== undefined) return san.endsWith(matcher.suffix);
      if (matcher.contains !== undefined) return san.includes(matcher.contains);
      if (matcher.safe_regex?.regex !== undefined) return new RegExp(`^(?:${matcher.safe_regex.regex})$`).test(san);
      return false;
    });
  });
}

export class AdsClient {
  private readonly types = new Map<string, TypeState>();
  private client?: grpc.Client & Record<string, (metadata: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>>;
  private grpcModule?: typeof grpc;
  private stream?: grpc.ClientDuplexStream<unknown, unknown>;
  private backoffMs = 500;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private sentNodeOnStream = false;
  /** Serialises response handling: one update is applied at a time, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bootstrap: Bootstrap,
    private readonly envoyTypes: EnvoyTypes,
    private readonly stats: Stats,
    private readonly log: Log,
  ) {
    stats.declare('control_plane.connected_state', 'gauge');
  }

  /** The server only makes an AdsClient for a bootstrap with ads_config. */
  private get ads(): ApiConfigSource {
    return this.bootstrap.dynamic_resources?.ads_config ?? {};
  }

  private get delta(): boolean {
    return this.ads.api_type === 'DELTA_GRPC' || this.ads.api_type === 'AGGREGATED_DELTA_GRPC';
  }

  /** Registers a type; its subscription starts with subscribe(). */
  register(typeUrl: string, statPrefix: (names: string[]) => string[], handler: Handler, named: boolean, onFirst?: () => void): void {
    this.types.set(typeUrl, {
      typeUrl,
      statPrefix,
      subscribed: false,
      names: named ? new Set() : undefined,
      acceptedVersion: '',
      lastNonce: '',
      resources: new Map(),
      handler,
      onFirst,
    });
    for (const p of statPrefix([]))
      for (const s of ['update_attempt', 'update_success', 'update_rejected', 'update_failure', 'update_empty']) this.stats.declare(p + s, 'counter');
  }

  resources(typeUrl: string): Map<string, Resource> {
    return this.types.get(typeUrl)?.resources ?? new Map<string, Resource>();
  }

  versionInfo(typeUrl: string): string {
    return this.types.get(typeUrl)?.acceptedVersion ?? '';
  }

  async start(): Promise<void> {
    const { grpc, Client } = await loadAdsDefinition();
    this.grpcModule = grpc;
    // config.ts made sure of both: ads_config names a gRPC cluster, and it is a static one.
    const clusterName = this.ads.grpc_services?.[0]?.envoy_grpc?.cluster_name ?? '';
    const cluster = (this.bootstrap.static_resources?.clusters ?? []).find((c) => c.name === clusterName) ?? {};
    const host = hostsOfAssignment(cluster.load_assignment)[0];
    if (!host) throw new ConfigError(`ads cluster '${clusterName}' has no endpoint`);
    const tls = cluster.transport_socket?.typed_config;
    let credentials: grpc.ChannelCredentials;
    const options: grpc.ChannelOptions = { 'grpc.keepalive_time_ms': 60_000 };
    if (tls) {
      const ctx = tls.common_tls_context ?? {};
      // Secrets named through SDS must be static ones in the bootstrap (Kuma puts the CP's CA there).
      const secret = (ref: SdsSecretConfig | undefined): Secret | undefined =>
        ref ? (this.bootstrap.static_resources?.secrets ?? []).find((s) => s.name === ref.name) : undefined;
      const combined = ctx.combined_validation_context ?? {};
      const validation: CertificateValidationContext = {
        ...(secret(ctx.validation_context_sds_secret_config ?? combined.validation_context_sds_secret_config)?.validation_context ?? {}),
        ...(ctx.validation_context ?? combined.default_validation_context ?? {}),
      };
      const ca = inlineOrFile(validation.trusted_ca);
      const certs: TlsCertificate = ctx.tls_certificates?.[0] ?? secret(ctx.tls_certificate_sds_secret_configs?.[0])?.tls_certificate ?? {};
      const matchers: SanMatcher[] = validation.match_typed_subject_alt_names ?? validation.match_subject_alt_names ?? [];
      credentials = grpc.credentials.createSsl(ca ?? null, inlineOrFile(certs.private_key) ?? null, inlineOrFile(certs.certificate_chain) ?? null, {
        // Envoy checks the chain against trusted_ca, and names only when SAN matchers are configured.
        checkServerIdentity: (_host, cert) => (matchers.length === 0 || sanMatches(matchers, cert) ? undefined : new Error('certificate SAN does not match')),
      });
      if (tls.sni) options['grpc.ssl_target_name_override'] = tls.sni;
    } else {
      credentials = grpc.credentials.createInsecure();
    }
    const target = host.address.includes(':') ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
    this.client = new Client(target, credentials, options) as never;
    this.log('info', `xDS: connecting to ads cluster '${clusterName}' at ${target} (${this.delta ? 'delta' : 'state of the world'})`);
    this.openStream();
  }

  subscribe(typeUrl: string, names?: string[]): void {
    const state = this.types.get(typeUrl);
    if (!state) return;
    // An empty first request for a named type would be a wildcard subscription: wait for a name.
    if (names && names.length === 0 && !state.subscribed) return;
    const wasSubscribed = state.subscribed;
    state.subscribed = true;
    if (names && state.names) {
      const next = new Set(names);
      const same = next.size === state.names.size && [...next].every((n) => state.names!.has(n));
      const added = [...next].filter((n) => !state.names!.has(n));
      const removed = [...state.names].filter((n) => !next.has(n));
      state.names = next;
      if (same && wasSubscribed) return;
      if (this.stream && this.delta) {
        this.send({ type_url: typeUrl, resource_names_subscribe: added, resource_names_unsubscribe: removed } satisfies DeltaDiscoveryRequest);
        return;
      }
    }
    if (this.stream) this.sendInitial(state);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.stream?.cancel();
    this.client?.close();
  }

  private openStream(): void {
    if (this.stopped || !this.client || !this.grpcModule) return;
    const metadata = new this.grpcModule.Metadata();
    for (const m of this.ads.grpc_services?.[0]?.initial_metadata ?? []) metadata.add(String(m.key), String(m.value ?? ''));
    const stream = this.delta ? this.client.DeltaAggregatedResources!(metadata) : this.client.StreamAggregatedResources!(metadata);
    this.stream = stream;
    this.sentNodeOnStream = false;
    // Nonces belong to a stream; a new one starts without.
    for (const state of this.types.values()) state.lastNonce = '';
    stream.on('data', (msg: unknown) => {
      if (this.stream !== stream) return;
      this.stats.set('control_plane.connected_state', 1);
      this.backoffMs = 500;
      this.queue = this.queue
        .then(() => (this.delta ? this.onDelta(msg as DeltaDiscoveryResponse) : this.onSotw(msg as DiscoveryResponse)))
        .catch((err) => this.log('error', `xDS: ${(err as Error).stack}`));
    });
    const onGone = (why: string): void => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.stats.set('control_plane.connected_state', 0);
      if (this.stopped) return;
      this.log('warning', `StreamAggregatedResources gRPC config stream to ads cluster closed: ${why}`);
      const delay = Math.round(this.backoffMs * (0.5 + Math.random() / 2));
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
      this.reconnectTimer = setTimeout(() => this.openStream(), delay);
    };
    stream.on('error', (err: grpc.ServiceError) => onGone(`${err.code}, ${err.details}`));
    stream.on('end', () => onGone('stream ended'));
    for (const typeUrl of ORDER) {
      const state = this.types.get(typeUrl);
      if (state?.subscribed) this.sendInitial(state);
    }
  }

  private send(req: DiscoveryRequest | DeltaDiscoveryRequest): void {
    if (!this.stream) return;
    const setOnce = this.ads.set_node_on_first_message_only === true;
    if (!setOnce || !this.sentNodeOnStream) {
      req.node = nodeMessage(this.bootstrap.node ?? {});
      this.sentNodeOnStream = true;
    }
    this.stream.write(req);
  }

  private sendInitial(state: TypeState): void {
    if (this.delta) {
      const initial: Record<string, string> = {};
      for (const r of state.resources.values()) initial[r.name] = r.version;
      this.send({ type_url: state.typeUrl, resource_names_subscribe: state.names ? [...state.names] : [], initial_resource_versions: initial });
    } else {
      this.send({
        type_url: state.typeUrl,
        version_info: state.acceptedVersion,
        resource_names: state.names ? [...state.names].sort() : [],
        response_nonce: state.lastNonce,
      });
    }
  }

  /** Decodes, validates and checks resources; throws ConfigError with Envoy-style wording. */
  private decodeAll(typeUrl: string, items: Array<{ name?: string; version?: string; resource: { type_url: string; value: Buffer } }>): Resource[] {
    const typeName = typeNameOf(typeUrl);
    const out: Resource[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      if (item.resource.type_url !== typeUrl)
        throw new ConfigError(
          `type URL ${item.resource.type_url} embedded in an individual Any does not match the message-wide type URL ${typeUrl} in DiscoveryResponse`,
        );
      let json: Json;
      try {
        json = checkResource(this.envoyTypes, this.envoyTypes.decode(item.resource.value, typeName), typeName);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
      const name = [json.name, json.cluster_name, item.name].find((n) => typeof n === 'string') ?? '';
      if (seen.has(name)) throw new ConfigError(`duplicate ${typeName.split('.').pop()} ${name} found`);
      seen.add(name);
      out.push({ name, version: item.version ?? '', json });
    }
    return out;
  }

  private async onSotw(res: DiscoveryResponse): Promise<void> {
    const state = this.types.get(res.type_url);
    if (!state) {
      this.log('warning', `xDS: ignoring a response of unsubscribed type ${res.type_url}`);
      return;
    }
    state.lastNonce = res.nonce;
    try {
      const decoded = this.decodeAll(
        res.type_url,
        res.resources.map((resource) => ({ resource })),
      );
      let next: Map<string, Resource>;
      if (state.names) {
        // Named (EDS) resources left out of a response are unchanged, not removed.
        next = new Map(state.resources);
        for (const name of [...next.keys()]) if (!state.names.has(name)) next.delete(name);
      } else next = new Map();
      for (const r of decoded) next.set(r.name, { ...r, version: res.version_info });
      await this.accept(
        state,
        next,
        res.version_info,
        decoded.map((r) => r.name),
      );
      this.send({
        type_url: res.type_url,
        version_info: res.version_info,
        resource_names: state.names ? [...state.names].sort() : [],
        response_nonce: res.nonce,
      });
    } catch (err) {
      const message = this.reject(state, err, res.resources.length);
      this.send({
        type_url: res.type_url,
        version_info: state.acceptedVersion,
        resource_names: state.names ? [...state.names].sort() : [],
        response_nonce: res.nonce,
        error_detail: { code: 3, message },
      });
    }
    this.first(state);
  }

  private async onDelta(res: DeltaDiscoveryResponse): Promise<void> {
    const state = this.types.get(res.type_url);
    if (!state) {
      this.log('warning', `xDS: ignoring a response of unsubscribed type ${res.type_url}`);
      return;
    }
    try {
      const decoded = this.decodeAll(
        res.type_url,
        res.resources.map((r) => ({ name: r.name, version: r.version, resource: r.resource })),
      );
      const next = new Map(state.resources);
      for (const name of res.removed_resources ?? []) next.delete(name);
      for (const r of decoded) next.set(r.name, r);
      await this.accept(
        state,
        next,
        res.system_version_info,
        decoded.map((r) => r.name),
      );
      this.send({ type_url: res.type_url, response_nonce: res.nonce });
    } catch (err) {
      const message = this.reject(state, err, res.resources.length);
      this.send({ type_url: res.type_url, response_nonce: res.nonce, error_detail: { code: 3, message } });
    }
    this.first(state);
  }

  private async accept(state: TypeState, next: Map<string, Resource>, versionInfo: string, names: string[]): Promise<void> {
    await state.handler(next, versionInfo);
    state.resources = next;
    state.acceptedVersion = versionInfo;
    for (const p of state.statPrefix(names)) {
      this.stats.inc(p + 'update_attempt');
      this.stats.inc(p + 'update_success');
      if (next.size === 0) this.stats.inc(p + 'update_empty');
    }
    this.log('debug', `xDS: accepted ${state.typeUrl} version ${versionInfo} (${next.size} resources)`);
  }

  private reject(state: TypeState, err: unknown, count: number): string {
    if (!(err instanceof ConfigError)) {
      // A bug here, not a bad config: still answer, so the control plane is not left waiting.
      this.log('error', `xDS: applying ${state.typeUrl} failed: ${(err as Error).stack ?? String(err)}`);
    }
    const reason = err instanceof Error ? err.message : String(err);
    const kind = state.typeUrl === TYPE_URL.cluster ? 'cluster' : state.typeUrl === TYPE_URL.listener ? 'listener' : typeNameOf(state.typeUrl);
    const message = `Error adding/updating ${kind}(s): ${reason}`;
    for (const p of state.statPrefix([])) {
      this.stats.inc(p + 'update_attempt');
      this.stats.inc(p + 'update_rejected');
    }
    this.log('warning', `gRPC config for ${state.typeUrl} rejected (${count} resources): ${message}`);
    return message;
  }

  private first(state: TypeState): void {
    const cb = state.onFirst;
    state.onFirst = undefined;
    cb?.();
  }
}
