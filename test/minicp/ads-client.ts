// A minimal ADS client for tests and the benchmark: grpc-js with Envoy's
// protos (src/xds/ads-proto.ts), SotW or delta, that records every response.
import type * as grpcTypes from '@grpc/grpc-js';
import {
  loadAdsDefinition,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/ads-proto.js';
import { readFields } from '../../src/xds/wire.js';
import { waitFor } from '../helpers/wait.js';

export interface ClientOptions {
  /** host:port */
  target: string;
  caPem?: string;
  token?: string;
  nodeId: string;
  delta?: boolean;
  metadata?: Record<string, string>;
  /** String fields of node.metadata (a google.protobuf.Struct), e.g. 'dataplane.resource'. */
  nodeMetadata?: Record<string, string>;
  /**
   * Decode only version, type and nonce of each response, never the
   * resources (for the benchmark, where the simulated proxies must cost as
   * little CPU as possible next to the control plane they load).
   */
  headersOnly?: boolean;
}

type Definition = Awaited<ReturnType<typeof loadAdsDefinition>>;
let definition: Promise<Definition> | undefined;
const load = (): Promise<Definition> => (definition ??= loadAdsDefinition());

export type AnyResponse = DiscoveryResponse | DeltaDiscoveryResponse;

export class AdsClient<R extends AnyResponse = AnyResponse> {
  readonly responses: R[] = [];
  /** Called on every response (after it is recorded). */
  onResponse: ((response: R) => void) | undefined;
  /** Set once the stream ends with a status. */
  status: { code: number; details: string } | undefined;
  private sentNode = false;
  private constructor(
    private readonly client: grpcTypes.Client,
    private readonly call: grpcTypes.ClientDuplexStream<unknown, R>,
    private readonly options: ClientOptions,
  ) {
    call.on('data', (response: R) => {
      this.responses.push(response);
      this.onResponse?.(response);
    });
    call.on('status', (status: grpcTypes.StatusObject) => (this.status ??= { code: status.code, details: status.details }));
    call.on('error', (err: grpcTypes.ServiceError) => (this.status ??= { code: err.code, details: err.details }));
  }

  static async open<R extends AnyResponse = DiscoveryResponse>(options: ClientOptions): Promise<AdsClient<R>> {
    const { grpc, Client } = await load();
    const credentials = options.caPem ? grpc.credentials.createSsl(Buffer.from(options.caPem)) : grpc.credentials.createInsecure();
    // A connection of its own per client, as each Envoy has (grpc-js would otherwise share one between channels).
    const client = new Client(options.target, credentials, { 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.use_local_subchannel_pool': 1 });
    const metadata = new grpc.Metadata();
    if (options.token) metadata.set('authorization', options.token);
    for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v);
    const method = options.delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
    const def = (Client.service as unknown as Record<string, grpcTypes.MethodDefinition<unknown, R>>)[method]!;
    const deserialize = options.headersOnly ? (bytes: Buffer) => decodeHeaders(bytes, !!options.delta) as unknown as R : def.responseDeserialize;
    const call = client.makeBidiStreamRequest(def.path, def.requestSerialize, deserialize, metadata);
    return new AdsClient<R>(client, call, options);
  }

  private node(): { node?: { id: string; cluster: string; metadata?: unknown } } {
    if (this.sentNode) return {};
    this.sentNode = true;
    const fields = Object.fromEntries(Object.entries(this.options.nodeMetadata ?? {}).map(([k, v]) => [k, { stringValue: v }]));
    return { node: { id: this.options.nodeId, cluster: 'test', ...(this.options.nodeMetadata ? { metadata: { fields } } : {}) } };
  }

  /** A SotW request; the node goes on the stream's first message only, as Envoy does. */
  request(request: Omit<DiscoveryRequest, 'node'>): void {
    this.call.write({ ...this.node(), ...request });
  }

  deltaRequest(request: Omit<DeltaDiscoveryRequest, 'node'>): void {
    this.call.write({ ...this.node(), ...request });
  }

  /** ACKs a SotW response. */
  ack(response: DiscoveryResponse, resourceNames: string[] = []): void {
    this.request({ type_url: response.type_url, version_info: response.version_info, response_nonce: response.nonce, resource_names: resourceNames });
  }

  nack(response: DiscoveryResponse, previousVersion: string, message: string, resourceNames: string[] = []): void {
    this.request({
      type_url: response.type_url,
      version_info: previousVersion,
      response_nonce: response.nonce,
      resource_names: resourceNames,
      error_detail: { code: 3, message },
    });
  }

  /** Waits for the next response (after `after` responses) matching `match`. */
  async next(what: string, match: (r: R) => boolean = () => true, after = 0, timeoutMs = 10_000): Promise<R> {
    return waitFor(
      `${this.options.nodeId}: ${what}`,
      () => this.responses.slice(after).find(match) ?? (this.status ? Promise.reject(new Error(`stream ended: ${JSON.stringify(this.status)}`)) : undefined),
      { timeoutMs, intervalMs: 5 },
    );
  }

  async ended(timeoutMs = 10_000): Promise<{ code: number; details: string }> {
    return waitFor(`${this.options.nodeId}: stream end`, () => this.status, { timeoutMs });
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

/** version (field 1), type_url (4) and nonce (5) of a (Delta)DiscoveryResponse, skipping every other field. */
function decodeHeaders(bytes: Buffer, delta: boolean): Record<string, unknown> {
  const versionKey = delta ? 'system_version_info' : 'version_info';
  const out: Record<string, unknown> = { resources: [], type_url: '', nonce: '', [versionKey]: '' };
  const keys: Record<number, string> = { 1: versionKey, 4: 'type_url', 5: 'nonce' };
  readFields(bytes, (fieldNo, wireType, value) => {
    const key = keys[fieldNo];
    if (key && wireType === 2) out[key] = (value as Buffer).toString('utf8');
    return true;
  });
  return out;
}
