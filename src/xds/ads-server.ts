// How configuration reaches proxies: Envoy's Aggregated Discovery Service
// over @grpc/grpc-js, state-of-the-world (StreamAggregatedResources) and
// incremental (DeltaAggregatedResources). What to send comes from the
// snapshot cache, the only thing this module depends on besides the wire
// format; it only streams it: versions and nonces per type, ACK/NACK, and
// pushes when the cache says a proxy's snapshot changed.
import type * as grpc from '@grpc/grpc-js';
import { createLogger } from '../log/logger.js';
import { whenStreamGone } from '../util/grpc-stream.js';
import { loadAdsDefinition, TYPE_URL, typeNameOf, type DeltaDiscoveryRequest, type DiscoveryRequest } from './ads-proto.js';
import { versionOf, type Resource, type SnapshotCache } from './snapshot-cache.js';
import { decodeDeltaDiscoveryRequestFast, decodeDiscoveryRequestFast, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire.js';

const log = createLogger('xds.ads');

/** Both ADS methods take requests decoded by the service definition and are written encoded responses. */
type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, Buffer>;

export interface Node {
  id?: string;
  cluster?: string;
  metadata?: unknown;
}

/** Refuses a stream: a gRPC status code and a message for the client. */
export class StreamRefused extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AdsServerOptions {
  cache: SnapshotCache;
  /** Runs on a stream's first request, before anything is sent; throws StreamRefused to refuse it. */
  authenticate?(metadata: grpc.Metadata, node: Node): Promise<void>;
  /** Any stream of a proxy opened (after authentication), before anything is sent: what its node says may shape its resources. */
  onStream?(proxyId: string, node: Node): void;
  /** A proxy's first stream opened (after authentication). */
  onConnect?(proxyId: string, node: Node): Promise<void> | void;
  /** A proxy's last stream closed. */
  onDisconnect?(proxyId: string): void;
}

export interface Ack {
  version: string;
  nonce: string;
  at: string;
}

export interface Nack extends Ack {
  typeUrl: string;
  error: string;
}

interface SentResponse {
  version: string;
  nonce: string;
  at: string;
  resources: Resource[];
  removed?: string[];
}

interface TypeState {
  /** SotW: requested names (empty with wildcard). Delta: subscribed names. */
  names: Set<string>;
  wildcard: boolean;
  /** Whether anything (even an empty response) has been sent for this type. */
  answered: boolean;
  /** SotW: a response is outstanding; the next one waits for its ACK/NACK. */
  awaiting: boolean;
  /** Delta: the version of each resource the client has. */
  known: Map<string, string>;
  lastSent?: SentResponse;
  acked?: Ack & { resources: Resource[] };
  nacked?: Nack;
}

interface Stream {
  id: number;
  kind: 'sotw' | 'delta';
  peer: string;
  openedAt: string;
  proxyId?: string;
  types: Map<string, TypeState>;
  send(typeUrl: string, state: TypeState, force: boolean): void;
  close(code: number, message: string): void;
}

interface ProxyRecord {
  streams: Set<Stream>;
  nacks: Nack[];
  lastDisconnectAt?: string;
}

const MAX_NACKS_KEPT = 20;
/** Types for which an empty request means "everything" (the rest name what they want). */
const WILDCARD_TYPES = new Set<string>([TYPE_URL.listener, TYPE_URL.cluster]);
/** Push order: clusters before the endpoints they use, listeners after the clusters they route to. */
const PUSH_ORDER = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route, TYPE_URL.secret];

export class AdsServer {
  private readonly proxies = new Map<string, ProxyRecord>();
  private readonly streams = new Set<Stream>();
  private nextStreamId = 1;
  private nextNonce = 1;
  private readonly unsubscribe: () => void;
  readonly counters = { responses: 0, acks: 0, nacks: 0, refused: 0 };

  constructor(private readonly options: AdsServerOptions) {
    this.unsubscribe = options.cache.onUpdate((proxyId, changed) => this.push(proxyId, changed));
  }

  /** Adds the ADS service (both RPCs) to a grpc-js server. */
  async register(server: grpc.Server, definition?: Awaited<ReturnType<typeof loadAdsDefinition>>): Promise<void> {
    const { service, grpc } = definition ?? (await loadAdsDefinition());
    const status = grpc.status;
    // Responses are written as bytes already (wire.ts); ACKs are read without protobufjs, other requests with it.
    const fastDecoders: Record<string, (bytes: Buffer) => Record<string, unknown> | undefined> = {
      StreamAggregatedResources: decodeDiscoveryRequestFast,
      DeltaAggregatedResources: decodeDeltaDiscoveryRequestFast,
    };
    const passBytes = Object.fromEntries(
      Object.entries(service).map(([method, def]) => {
        const serialize = def.responseSerialize;
        const deserialize = def.requestDeserialize;
        const fast = fastDecoders[method];
        return [
          method,
          {
            ...def,
            responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)),
            requestDeserialize: (bytes: Buffer) => (tryFast(fast, bytes) ?? deserialize(bytes)) as never,
          },
        ];
      }),
    ) as typeof service;
    server.addService(passBytes, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) => this.serve(call, 'sotw', status),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) => this.serve(call, 'delta', status),
    });
  }

  close(): void {
    this.unsubscribe();
    for (const stream of this.streams) stream.close(14 /* UNAVAILABLE */, 'control plane is shutting down');
  }

  streamCount(): number {
    return this.streams.size;
  }

  connectedProxies(): number {
    let n = 0;
    for (const record of this.proxies.values()) if (record.streams.size > 0) n++;
    return n;
  }

  /** What was last sent, ACKed and NACKed, per stream and type, for the API. */
  status(proxyId: string): unknown {
    const record = this.proxies.get(proxyId);
    if (!record) return undefined;
    const describeSent = (s: SentResponse | undefined) =>
      s && {
        version: s.version,
        nonce: s.nonce,
        at: s.at,
        resources: s.resources.map((r) => ({ name: r.name, version: r.version })),
        ...(s.removed ? { removed: s.removed } : {}),
      };
    return {
      proxyId,
      connected: record.streams.size > 0,
      lastDisconnectAt: record.lastDisconnectAt,
      streams: [...record.streams].map((stream) => ({
        id: stream.id,
        kind: stream.kind,
        peer: stream.peer,
        openedAt: stream.openedAt,
        types: Object.fromEntries(
          [...stream.types].map(([typeUrl, st]) => [
            typeUrl,
            {
              subscribed: st.wildcard ? ['*'] : [...st.names].sort(),
              lastSent: describeSent(st.lastSent),
              acked: st.acked && { version: st.acked.version, nonce: st.acked.nonce, at: st.acked.at, resources: st.acked.resources.map((r) => r.json) },
              nacked: st.nacked,
            },
          ]),
        ),
      })),
      nacks: record.nacks,
    };
  }

  private serve(call: AdsCall, kind: 'sotw' | 'delta', status: typeof grpc.status): void {
    const stream: Stream = {
      id: this.nextStreamId++,
      kind,
      peer: call.getPeer(),
      openedAt: new Date().toISOString(),
      types: new Map(),
      send: (typeUrl, state, force) =>
        kind === 'sotw' ? this.sendSotw(call, stream, typeUrl, state, force) : this.sendDelta(call, stream, typeUrl, state, force),
      close: (code, message) => call.emit('error', { code, details: message }),
    };
    this.streams.add(stream);
    let queue: Promise<void> = Promise.resolve();
    let closed = false;
    const finish = (): void => {
      if (closed) return;
      closed = true;
      this.streams.delete(stream);
      this.detach(stream);
    };
    call.on('data', (request: DiscoveryRequest | DeltaDiscoveryRequest) => {
      queue = queue
        .then(() => (closed ? undefined : this.handle(call, stream, request, status)))
        .catch((err: unknown) => {
          const refused = err instanceof StreamRefused ? err : new StreamRefused(status.INTERNAL, (err as Error).message);
          if (!(err instanceof StreamRefused)) log.error('xDS request failed', { stream: stream.id, error: err as Error });
          else {
            this.counters.refused++;
            log.warn('xDS stream refused', { stream: stream.id, peer: stream.peer, node: stream.proxyId ?? request.node?.id, reason: refused.message });
          }
          finish();
          call.emit('error', { code: refused.code, details: refused.message });
        });
    });
    whenStreamGone(call, finish);
  }

  private async handle(call: AdsCall, stream: Stream, request: DiscoveryRequest | DeltaDiscoveryRequest, status: typeof grpc.status): Promise<void> {
    if (stream.proxyId === undefined) {
      const node = request.node ?? {};
      if (!node.id) throw new StreamRefused(status.INVALID_ARGUMENT, 'the first request of a stream must carry node.id (<mesh>.<name>)');
      await this.options.authenticate?.(call.metadata, node);
      stream.proxyId = node.id;
      let record = this.proxies.get(node.id);
      if (!record) this.proxies.set(node.id, (record = { streams: new Set(), nacks: [] }));
      const first = record.streams.size === 0;
      record.streams.add(stream);
      this.options.onStream?.(node.id, node);
      this.options.cache.watch(node.id);
      log.info('xDS stream opened', { stream: stream.id, kind: stream.kind, proxy: node.id, peer: stream.peer });
      if (first) await this.options.onConnect?.(node.id, node);
    }
    if (!request.type_url) throw new StreamRefused(status.INVALID_ARGUMENT, 'request has no type_url');
    if (stream.kind === 'sotw') this.onSotwRequest(stream, request);
    else this.onDeltaRequest(stream, request);
  }

  private detach(stream: Stream): void {
    const proxyId = stream.proxyId;
    if (proxyId === undefined) return;
    const record = this.proxies.get(proxyId);
    if (!record?.streams.delete(stream)) return;
    this.options.cache.unwatch(proxyId);
    log.info('xDS stream closed', { stream: stream.id, proxy: proxyId });
    if (record.streams.size === 0) {
      record.lastDisconnectAt = new Date().toISOString();
      // Only proxies with NACKs to show are remembered once gone, so churn cannot grow this map without bound.
      if (record.nacks.length === 0) this.proxies.delete(proxyId);
      this.options.onDisconnect?.(proxyId);
    }
  }

  private typeState(stream: Stream, typeUrl: string): TypeState {
    let state = stream.types.get(typeUrl);
    if (!state) stream.types.set(typeUrl, (state = { names: new Set(), wildcard: false, answered: false, awaiting: false, known: new Map() }));
    return state;
  }

  private recordAck(stream: Stream, state: TypeState, nonce: string, error: { code?: number; message?: string } | null | undefined, typeUrl: string): void {
    const sent = state.lastSent?.nonce === nonce ? state.lastSent : undefined;
    const at = new Date().toISOString();
    if (error && (error.message || error.code)) {
      this.counters.nacks++;
      const nack: Nack = { typeUrl, version: sent?.version ?? '', nonce, at, error: error.message ?? `code ${error.code}` };
      state.nacked = nack;
      const record = this.proxies.get(stream.proxyId!)!;
      record.nacks.push(nack);
      if (record.nacks.length > MAX_NACKS_KEPT) record.nacks.shift();
      log.warn('proxy rejected configuration (NACK)', { proxy: stream.proxyId, type: typeNameOf(typeUrl), version: nack.version, nonce, error: nack.error });
    } else if (sent) {
      this.counters.acks++;
      state.acked = { version: sent.version, nonce, at, resources: sent.resources };
      log.debug('proxy accepted configuration (ACK)', { proxy: stream.proxyId, type: typeNameOf(typeUrl), version: sent.version });
    }
  }

  private onSotwRequest(stream: Stream, request: DiscoveryRequest): void {
    const typeUrl = request.type_url;
    const state = this.typeState(stream, typeUrl);
    const nonce = request.response_nonce ?? '';
    if (nonce !== '') {
      // A reply to anything but our latest response is stale: Envoy will answer that one too.
      if (nonce !== state.lastSent?.nonce) return;
      state.awaiting = false;
      this.recordAck(stream, state, nonce, request.error_detail, typeUrl);
    }
    const names = request.resource_names ?? [];
    const wildcard = names.length === 0 && WILDCARD_TYPES.has(typeUrl);
    const changed = wildcard !== state.wildcard || names.length !== state.names.size || names.some((n) => !state.names.has(n));
    state.wildcard = wildcard;
    state.names = new Set(names);
    if (!state.awaiting) stream.send(typeUrl, state, nonce === '' || changed);
  }

  private onDeltaRequest(stream: Stream, request: DeltaDiscoveryRequest): void {
    const typeUrl = request.type_url;
    const first = !stream.types.has(typeUrl);
    const state = this.typeState(stream, typeUrl);
    const nonce = request.response_nonce ?? '';
    if (nonce !== '') this.recordAck(stream, state, nonce, request.error_detail, typeUrl);
    const subscribe = request.resource_names_subscribe ?? [];
    const unsubscribe = request.resource_names_unsubscribe ?? [];
    if (first) {
      for (const [name, version] of Object.entries(request.initial_resource_versions ?? {})) state.known.set(name, version);
      state.wildcard = WILDCARD_TYPES.has(typeUrl) && subscribe.length === 0;
    }
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.names.add(name);
    }
    for (const name of unsubscribe) {
      if (name === '*') state.wildcard = false;
      else {
        state.names.delete(name);
        state.known.delete(name);
      }
    }
    if (first || subscribe.length > 0) stream.send(typeUrl, state, false);
  }

  private push(proxyId: string, changed: Set<string>): void {
    const record = this.proxies.get(proxyId);
    if (!record) return;
    for (const stream of record.streams) {
      for (const typeUrl of PUSH_ORDER) {
        if (!changed.has(typeUrl)) continue;
        const state = stream.types.get(typeUrl);
        // SotW: a type with a response outstanding gets the new version when that one is ACKed.
        if (state && !state.awaiting) stream.send(typeUrl, state, false);
      }
    }
  }

  private sendSotw(call: AdsCall, stream: Stream, typeUrl: string, state: TypeState, force: boolean): void {
    const snapshot = this.options.cache.get(stream.proxyId!);
    if (!snapshot) return; // nothing known about this proxy yet: it gets its configuration once it exists
    const all = snapshot.resources.get(typeUrl) ?? new Map<string, Resource>();
    const requested = state.wildcard ? [...all.values()] : [...state.names].flatMap((n) => (all.has(n) ? [all.get(n)!] : []));
    const whole = state.wildcard || requested.length === all.size;
    const version = whole ? (snapshot.versions.get(typeUrl) ?? 'empty') : versionOf(requested);
    if (!force && state.answered && version === state.lastSent?.version) return;
    // Listeners and clusters are state of the world: every response holds them all. Endpoints are not:
    // Envoy keeps what a response leaves out, so a push carries only the load assignments that changed.
    const incremental = !force && state.answered && !WILDCARD_TYPES.has(typeUrl);
    const resources = incremental ? requested.filter((r) => state.known.get(r.name) !== r.version) : requested;
    for (const r of resources) state.known.set(r.name, r.version);
    const nonce = String(this.nextNonce++);
    state.lastSent = { version, nonce, at: new Date().toISOString(), resources };
    state.answered = true;
    state.awaiting = true;
    this.counters.responses++;
    call.write(encodeDiscoveryResponse(version, resources, typeUrl, nonce));
  }

  private sendDelta(call: AdsCall, stream: Stream, typeUrl: string, state: TypeState, force: boolean): void {
    const snapshot = this.options.cache.get(stream.proxyId!);
    if (!snapshot) return;
    const all = snapshot.resources.get(typeUrl) ?? new Map<string, Resource>();
    const wanted = (name: string): boolean => state.wildcard || state.names.has(name);
    const candidates = state.wildcard ? [...all.keys()] : [...state.names];
    const updates = candidates.flatMap((name) => {
      const r = all.get(name);
      return r && state.known.get(name) !== r.version ? [r] : [];
    });
    const removed = [...state.known.keys()].filter((name) => wanted(name) && !all.has(name));
    if (updates.length === 0 && removed.length === 0 && state.answered && !force) return;
    for (const r of updates) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    const nonce = String(this.nextNonce++);
    const version = snapshot.versions.get(typeUrl) ?? 'empty';
    state.lastSent = { version, nonce, at: new Date().toISOString(), resources: updates, removed };
    state.answered = true;
    this.counters.responses++;
    call.write(encodeDeltaDiscoveryResponse(version, updates, typeUrl, removed, nonce));
  }
}

/** A malformed message is left to protobufjs, whose error grpc-js reports. */
function tryFast(fast: ((bytes: Buffer) => Record<string, unknown> | undefined) | undefined, bytes: Buffer): Record<string, unknown> | undefined {
  try {
    return fast?.(bytes);
  } catch {
    return undefined;
  }
}
