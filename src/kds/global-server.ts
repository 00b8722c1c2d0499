// The global's side of KDS (port 5685, gRPC over TLS with the global's
// certificate): sends each zone the meshes and policies, incrementally, and
// keeps what each zone reports (Dataplanes, their insights). A zone is online
// while at least one of its streams is open.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { createLogger } from '../log/logger.js';
import { formatFieldErrors, UserError } from '../util/errors.js';
import {
  globalKdsServiceDefinition,
  KDS_TYPE_URL,
  kdsServiceDefinition,
  type DeltaRequest,
  type DeltaResponse,
  type XdsConfigRequest,
  type XdsConfigResponse,
} from './proto.js';
import { PeerState, resourcesOf, type GlobalStore } from './resources.js';
import { CONTROL_PLANE_LIMITS, readJsonDocument } from '../util/document.js';
import { whenStreamGone } from '../util/grpc-stream.js';

const log = createLogger('kds.global');

/** The metadata key a zone names itself with on ZoneToGlobalSync (the global speaks first there). */
export const ZONE_METADATA = 'kds-zone';
/** Zone names are DNS labels, as Kuma's: they become part of resource names on the global. */
export const ZONE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** How long the global waits for a zone to answer a config request. */
export const CONFIG_REQUEST_TIMEOUT_MS = 5_000;
/** Zones are remembered (offline ones too) up to this many names, so made-up names cannot grow memory without bound. */
export const MAX_ZONES = 1000;

interface ZoneRecord {
  name: string;
  creationTime: string;
  modificationTime: string;
  streams: number;
  connectTime?: string;
  disconnectTime?: string;
  peer?: string;
  responsesSent: number;
  responsesAcknowledged: number;
  lastUpdateTime?: string;
  lastNack?: string;
}

export interface KdsGlobalOptions {
  store: GlobalStore;
  host: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** How long store changes are gathered before they are sent (default 20 ms). */
  debounceMs?: number;
  /** Called whenever a zone connects, disconnects or reports something (for the GUI's live updates). */
  onChange?(): void;
}

export class KdsGlobalServer {
  private readonly zoneRecords = new Map<string, ZoneRecord>();
  private readonly instanceId = randomUUID();
  private readonly server = new grpc.Server({
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.max_receive_message_length': 10 * 1024 * 1024,
    // A zone needs a few streams per connection; more from one connection is a client misbehaving.
    'grpc.max_concurrent_streams': 100,
    'grpc.enable_channelz': 0,
  });
  private readonly calls = new Set<grpc.ServerDuplexStream<unknown, unknown>>();
  /** Each zone's open config stream (the latest, when it has several). */
  private readonly configStreams = new Map<string, grpc.ServerDuplexStream<XdsConfigResponse, XdsConfigRequest>>();
  private readonly pendingConfigs = new Map<string, { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  private nextRequestId = 1;
  port = 0;

  constructor(private readonly options: KdsGlobalOptions) {
    this.server.addService(kdsServiceDefinition, {
      GlobalToZoneSync: (call: grpc.ServerDuplexStream<DeltaRequest, DeltaResponse>) => this.globalToZone(call),
      ZoneToGlobalSync: (call: grpc.ServerDuplexStream<DeltaResponse, DeltaRequest>) => this.zoneToGlobal(call),
    });
    this.server.addService(globalKdsServiceDefinition, {
      StreamXDSConfigs: (call: grpc.ServerDuplexStream<XdsConfigResponse, XdsConfigRequest>) => this.configStream(call),
    });
  }

  async start(): Promise<number> {
    const credentials = grpc.ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(this.options.certPem), private_key: Buffer.from(this.options.keyPem) }],
      false,
    );
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${this.options.port}`, credentials, (err, port) =>
        err
          ? reject(
              new UserError(
                `KDS server (--kds-port, KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT): cannot listen on ${host}:${this.options.port} (${err.message}); pick another port (0 picks a free one)`,
              ),
            )
          : resolve(port),
      ),
    );
    return this.port;
  }

  close(): Promise<void> {
    for (const pending of this.pendingConfigs.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error('global control plane is shutting down'));
    }
    this.pendingConfigs.clear();
    for (const call of this.calls) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'global control plane is shutting down' });
    this.server.forceShutdown();
    return Promise.resolve();
  }

  /**
   * The Envoy configuration a zone serves one of its proxies, asked over the
   * zone's config stream (as Kuma's global reaches a zone's proxies through KDS).
   */
  configOf(zone: string, mesh: string, name: string): Promise<unknown> {
    const call = this.configStreams.get(zone);
    if (!call) return Promise.reject(new Error(`zone '${zone}' is not connected`));
    const requestId = String(this.nextRequestId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingConfigs.delete(requestId);
        reject(new Error(`zone '${zone}' did not answer within ${CONFIG_REQUEST_TIMEOUT_MS} ms`));
      }, CONFIG_REQUEST_TIMEOUT_MS);
      this.pendingConfigs.set(requestId, { resolve, reject, timer });
      call.write({ request_id: requestId, resource_type: 'Dataplane', resource_name: name, resource_mesh: mesh });
    });
  }

  /** Kuma's ZoneOverview items: each zone that connected since start, online while a stream is open. */
  zones(): unknown[] {
    return [...this.zoneRecords.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((z) => ({
        type: 'ZoneOverview',
        name: z.name,
        creationTime: z.creationTime,
        modificationTime: z.modificationTime,
        zone: { enabled: true },
        zoneInsight: {
          subscriptions: z.connectTime
            ? [
                {
                  id: `${z.name}-${z.connectTime}`,
                  globalInstanceId: this.instanceId,
                  connectTime: z.connectTime,
                  ...(z.streams === 0 && z.disconnectTime ? { disconnectTime: z.disconnectTime } : {}),
                  status: {
                    lastUpdateTime: z.lastUpdateTime,
                    total: { responsesSent: z.responsesSent, responsesAcknowledged: z.responsesAcknowledged },
                  },
                  ...(z.peer ? { peer: z.peer } : {}),
                  ...(z.lastNack ? { lastNack: z.lastNack } : {}),
                },
              ]
            : [],
        },
      }));
  }

  private record(zone: string): ZoneRecord {
    let record = this.zoneRecords.get(zone);
    const now = new Date().toISOString();
    if (!record)
      this.zoneRecords.set(zone, (record = { name: zone, creationTime: now, modificationTime: now, streams: 0, responsesSent: 0, responsesAcknowledged: 0 }));
    return record;
  }

  /** A stream of the zone opened: returns what to call when it ends. */
  private attach(zone: string, call: grpc.ServerDuplexStream<unknown, unknown>): () => void {
    const record = this.record(zone);
    const now = new Date().toISOString();
    if (record.streams === 0) {
      record.connectTime = now;
      record.disconnectTime = undefined;
      log.info('zone connected', { zone, peer: call.getPeer() });
    }
    record.streams++;
    record.peer = call.getPeer();
    record.modificationTime = now;
    this.calls.add(call);
    this.options.onChange?.();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.calls.delete(call);
      record.streams--;
      if (record.streams === 0) {
        const at = new Date().toISOString();
        record.disconnectTime = at;
        record.modificationTime = at;
        this.options.store.zoneOffline(zone, at);
        log.info('zone disconnected', { zone });
      }
      this.options.onChange?.();
    };
  }

  /** The zone asks, the global answers with the delta of meshes and policies, then with every change. */
  private globalToZone(call: grpc.ServerDuplexStream<DeltaRequest, DeltaResponse>): void {
    let zone: string | undefined;
    let peer: PeerState | undefined;
    let detach = (): void => undefined;
    let unsubscribe = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const push = (): void => {
      timer = undefined;
      const response = peer?.delta(this.options.store.resources(), KDS_TYPE_URL);
      if (!response || !zone) return;
      this.record(zone).responsesSent++;
      log.debug('sending to zone', { zone, resources: response.resources.length, removed: response.removed_resources.length, nonce: response.nonce });
      call.write(response);
    };
    const end = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      detach();
    };
    call.on('data', (request: DeltaRequest) => {
      if (zone === undefined) {
        const name = request.node?.id ?? '';
        if (!ZONE_NAME.test(name)) {
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `node.id '${name}' is not a zone name (a DNS label: a-z, 0-9, '-')` });
          return;
        }
        if (!this.zoneRecords.has(name) && this.zoneRecords.size >= MAX_ZONES) {
          call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `the global knows ${MAX_ZONES} zones already` });
          return;
        }
        zone = name;
        detach = this.attach(zone, call);
        peer = new PeerState(request.initial_resource_versions ?? {});
        unsubscribe = this.options.store.onChange(() => {
          timer ??= setTimeout(push, this.options.debounceMs ?? 20);
        });
        push();
        return;
      }
      this.acknowledged(zone, request);
    });
    whenStreamGone(call, end);
  }

  /** The global asks (with what it holds of the zone), the zone answers with deltas of its Dataplanes and insights. */
  private zoneToGlobal(call: grpc.ServerDuplexStream<DeltaResponse, DeltaRequest>): void {
    const name = String(call.metadata.get(ZONE_METADATA)[0] ?? '');
    if (!ZONE_NAME.test(name)) {
      call.emit('error', {
        code: grpc.status.INVALID_ARGUMENT,
        details: `metadata '${ZONE_METADATA}' ('${name}') is not a zone name (a DNS label: a-z, 0-9, '-')`,
      });
      return;
    }
    if (!this.zoneRecords.has(name) && this.zoneRecords.size >= MAX_ZONES) {
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `the global knows ${MAX_ZONES} zones already` });
      return;
    }
    const detach = this.attach(name, call);
    let applying: Promise<void> = Promise.resolve();
    call.write({ node: { id: 'global' }, type_url: KDS_TYPE_URL, initial_resource_versions: this.options.store.heldFrom(name) });
    call.on('data', (response: DeltaResponse) => {
      log.debug('zone update received', { zone: name, resources: response.resources?.length ?? 0, nonce: response.nonce });
      applying = applying.then(async () => {
        const { resources, errors } = resourcesOf(response);
        try {
          errors.push(...(await this.options.store.applyFrom(name, resources, response.removed_resources ?? [])));
        } catch (err) {
          errors.push({ field: '', message: (err as Error).message });
        }
        const record = this.record(name);
        record.lastUpdateTime = new Date().toISOString();
        if (errors.length > 0) log.warn('rejected part of a zone update', { zone: name, errors: formatFieldErrors(errors) });
        log.debug('zone update applied', { zone: name, resources: resources.length, removed: response.removed_resources?.length ?? 0 });
        this.options.onChange?.();
        call.write({
          type_url: KDS_TYPE_URL,
          response_nonce: response.nonce,
          ...(errors.length > 0 ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: formatFieldErrors(errors) } } : {}),
        });
      });
    });
    whenStreamGone(call, detach);
  }

  private configStream(call: grpc.ServerDuplexStream<XdsConfigResponse, XdsConfigRequest>): void {
    const name = String(call.metadata.get(ZONE_METADATA)[0] ?? '');
    if (!ZONE_NAME.test(name) || !this.zoneRecords.has(name)) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `metadata '${ZONE_METADATA}' ('${name}') names no connected zone` });
      return;
    }
    this.configStreams.set(name, call);
    this.calls.add(call);
    const end = (): void => {
      this.calls.delete(call);
      if (this.configStreams.get(name) === call) this.configStreams.delete(name);
    };
    call.on('data', (response: XdsConfigResponse) => {
      const pending = this.pendingConfigs.get(response.request_id);
      if (!pending) return;
      this.pendingConfigs.delete(response.request_id);
      clearTimeout(pending.timer);
      if (response.error) pending.reject(new Error(response.error));
      else {
        try {
          // Zones are not authenticated: what one answers is read like any document from outside.
          pending.resolve(readJsonDocument(Buffer.from(response.config ?? []).toString('utf8'), CONTROL_PLANE_LIMITS));
        } catch (err) {
          pending.reject(new Error(`zone '${name}' answered with an unreadable config: ${(err as Error).message}`));
        }
      }
    });
    whenStreamGone(call, end);
  }

  private acknowledged(zone: string, request: DeltaRequest): void {
    const record = this.record(zone);
    if (request.error_detail?.message) {
      record.lastNack = request.error_detail.message;
      log.warn('zone rejected an update', { zone, nonce: request.response_nonce, error: request.error_detail.message });
    } else {
      record.responsesAcknowledged++;
      record.lastNack = undefined;
    }
    record.lastUpdateTime = new Date().toISOString();
    this.options.onChange?.();
  }
}
