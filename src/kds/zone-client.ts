// A zone's side of KDS: two streams to the global's 5685 over TLS (the
// global's certificate checked against the configured root CA), reopened with
// a capped backoff whenever they end. Each (re)open starts with a resync: the
// zone names what it holds from the global, and the global names what it
// holds from this zone; each side then sends only the difference.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { createLogger } from '../log/logger.js';
import { formatFieldErrors, UserError } from '../util/errors.js';
import { ZONE_METADATA } from './global-server.js';
import {
  globalKdsServiceDefinition,
  KDS_TYPE_URL,
  kdsServiceDefinition,
  type DeltaRequest,
  type DeltaResponse,
  type XdsConfigRequest,
  type XdsConfigResponse,
} from './proto.js';
import { PeerState, resourcesOf, type ZoneStore } from './resources.js';

const log = createLogger('kds.zone');

export interface KdsZoneOptions {
  store: ZoneStore;
  zoneName: string;
  /** grpcs://host:port */
  globalAddress: string;
  rootCaFile?: string;
  tlsSkipVerify?: boolean;
  /** How often the zone's resources are compared with what the global has (insights change on ACKs, without a store event). Default 250 ms. */
  insightIntervalMs?: number;
  debounceMs?: number;
}

/** grpcs://host:port → host:port, or a UserError naming the variable. */
export function kdsTarget(address: string): string {
  const match = /^grpcs:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(address.trim());
  if (!match || Number(match[2]) > 65535)
    throw new UserError(`KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS (--global-address): '${address}' is not grpcs://<host>:<port> (e.g. grpcs://global.example:5685)`);
  return `${match[1]}:${match[2]}`;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;

export class KdsZoneClient {
  private readonly client: grpc.Client & Record<string, (metadata?: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>>;
  private readonly globalClient: grpc.Client & Record<string, (metadata?: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>>;
  private readonly streams = new Set<{ cancel(): void }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Whether each stream has received from the global since it was (re)opened. */
  readonly connected = { globalToZone: false, zoneToGlobal: false, configs: false };

  constructor(private readonly options: KdsZoneOptions) {
    const target = kdsTarget(options.globalAddress);
    let rootCa: Buffer | null = null;
    if (options.rootCaFile) {
      try {
        rootCa = readFileSync(options.rootCaFile);
      } catch (err) {
        throw new UserError(`KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE (--kds-root-ca-file) ${options.rootCaFile} cannot be read: ${(err as Error).message}`);
      }
    }
    const credentials = grpc.credentials.createSsl(
      rootCa,
      null,
      null,
      options.tlsSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
    );
    const channelOptions: grpc.ChannelOptions = {
      'grpc.initial_reconnect_backoff_ms': MIN_BACKOFF_MS,
      'grpc.max_reconnect_backoff_ms': MAX_BACKOFF_MS,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.max_receive_message_length': 10 * 1024 * 1024,
      'grpc.enable_channelz': 0,
    };
    const Client = grpc.makeGenericClientConstructor(kdsServiceDefinition, 'KDSSyncService');
    this.client = new Client(target, credentials, channelOptions) as never;
    // Same target, credentials and options: grpc-js shares one connection between the two clients.
    const GlobalClient = grpc.makeGenericClientConstructor(globalKdsServiceDefinition, 'GlobalKDSService');
    this.globalClient = new GlobalClient(target, credentials, channelOptions) as never;
  }

  start(): void {
    this.keepOpen('globalToZone', (done) => this.globalToZone(done));
    this.keepOpen('zoneToGlobal', (done) => this.zoneToGlobal(done));
    this.keepOpen('configs', (done) => this.configs(done));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    for (const stream of this.streams) stream.cancel();
    this.client.close();
    this.globalClient.close();
  }

  /** Opens a stream, and again after it ends, waiting longer after each failure (up to 2 s). */
  private keepOpen(which: keyof KdsZoneClient['connected'], open: (done: (healthy: boolean, why: string) => void) => void): void {
    let backoff = MIN_BACKOFF_MS;
    const run = (): void => {
      if (this.closed) return;
      open((healthy, why) => {
        this.connected[which] = false;
        if (this.closed) return;
        backoff = healthy ? MIN_BACKOFF_MS : Math.min(backoff * 2, MAX_BACKOFF_MS);
        log.info('KDS stream to the global ended; reconnecting', { stream: which, reason: why, inMs: backoff });
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          run();
        }, backoff);
        this.timers.add(timer);
      });
    };
    run();
  }

  /** Receives meshes and policies; ACKs (or NACKs) each response once applied. */
  private globalToZone(done: (healthy: boolean, why: string) => void): void {
    const call = this.client.GlobalToZoneSync!(new grpc.Metadata()) as grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;
    let received = false;
    let applying: Promise<void> = Promise.resolve();
    this.track(call, (why) => done(received, why));
    call.write({ node: { id: this.options.zoneName }, type_url: KDS_TYPE_URL, initial_resource_versions: this.options.store.heldFromGlobal() });
    call.on('data', (response: DeltaResponse) => {
      if (!received) log.info('receiving from the global', { stream: 'globalToZone' });
      received = true;
      this.connected.globalToZone = true;
      applying = applying.then(async () => {
        const { resources, errors } = resourcesOf(response);
        try {
          errors.push(...(await this.options.store.applyFromGlobal(resources, response.removed_resources ?? [])));
        } catch (err) {
          errors.push({ field: '', message: (err as Error).message });
        }
        if (errors.length > 0) log.warn('rejected part of an update from the global', { errors: formatFieldErrors(errors) });
        log.debug('update from the global applied', { resources: resources.length, removed: response.removed_resources?.length ?? 0 });
        call.write({
          node: { id: this.options.zoneName },
          type_url: KDS_TYPE_URL,
          response_nonce: response.nonce,
          ...(errors.length > 0 ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: formatFieldErrors(errors) } } : {}),
        });
      });
    });
  }

  /** Sends this zone's Dataplanes and insights: the delta from what the global says it holds, then every change. */
  private zoneToGlobal(done: (healthy: boolean, why: string) => void): void {
    const metadata = new grpc.Metadata();
    metadata.set(ZONE_METADATA, this.options.zoneName);
    const call = this.client.ZoneToGlobalSync!(metadata) as grpc.ClientDuplexStream<DeltaResponse, DeltaRequest>;
    let peer: PeerState | undefined;
    let timer: NodeJS.Timeout | undefined;
    const push = (): void => {
      timer = undefined;
      const response = peer?.delta(this.options.store.resources(), KDS_TYPE_URL);
      if (!response) return;
      log.debug('sending an update to the global', { resources: response.resources.length, removed: response.removed_resources.length, nonce: response.nonce });
      call.write(response);
    };
    const schedule = (): void => {
      timer ??= setTimeout(push, this.options.debounceMs ?? 20);
    };
    const unsubscribe = this.options.store.onChange(schedule);
    const ticker = setInterval(push, this.options.insightIntervalMs ?? 250);
    this.track(call, (why) => {
      unsubscribe();
      clearInterval(ticker);
      if (timer) clearTimeout(timer);
      done(peer !== undefined, why);
    });
    call.on('data', (request: DeltaRequest) => {
      if (!peer) {
        log.info('sending to the global', { stream: 'zoneToGlobal', globalHolds: Object.keys(request.initial_resource_versions ?? {}).length });
        this.connected.zoneToGlobal = true;
        peer = new PeerState(request.initial_resource_versions ?? {});
        push();
      } else if (request.error_detail?.message) {
        log.warn('the global rejected part of an update', { nonce: request.response_nonce, error: request.error_detail.message });
      }
    });
  }

  /** Answers the global's requests for the Envoy configuration of this zone's proxies. */
  private configs(done: (healthy: boolean, why: string) => void): void {
    const metadata = new grpc.Metadata();
    metadata.set(ZONE_METADATA, this.options.zoneName);
    const call = this.globalClient.StreamXDSConfigs!(metadata) as grpc.ClientDuplexStream<XdsConfigResponse, XdsConfigRequest>;
    let asked = false;
    this.connected.configs = true;
    this.track(call, (why) => done(asked, why));
    call.on('data', (request: XdsConfigRequest) => {
      asked = true;
      let config: unknown;
      try {
        config = this.options.store.configOf(request.resource_mesh, request.resource_name);
      } catch (err) {
        call.write({ request_id: request.request_id, error: (err as Error).message });
        return;
      }
      if (config === undefined)
        call.write({ request_id: request.request_id, error: `no proxy '${request.resource_name}' in mesh '${request.resource_mesh}' here` });
      else call.write({ request_id: request.request_id, config: Buffer.from(JSON.stringify(config)) });
    });
  }

  /** Calls `ended` once, however the stream ends. */
  private track<Out, In>(call: grpc.ClientDuplexStream<Out, In>, ended: (why: string) => void): void {
    this.streams.add(call);
    let over = false;
    const finish = (why: string): void => {
      if (over) return;
      over = true;
      this.streams.delete(call);
      ended(why);
    };
    call.on('error', (err: grpc.ServiceError) => finish(err.details || err.message));
    call.on('end', () => finish('the global ended the stream'));
    call.on('close', () => finish('closed'));
  }
}
