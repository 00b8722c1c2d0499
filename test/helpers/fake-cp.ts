// The one fake control plane for the agent's and the stand-in's tests (the
// mini-CP is the real one, for end to end): startFakeCp() serves POST
// /bootstrap over HTTP or HTTPS on a loopback port (port 0 unless a test needs
// a port chosen before it starts), answering from a queue of responses or a
// script, and records every request; FakeAds is its ADS half.
import type * as grpcTypes from '@grpc/grpc-js';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';
import { loadAdsDefinition, typeNameOf, type DeltaDiscoveryRequest, type DiscoveryRequest } from '../../src/xds/ads-proto.js';

export interface ScriptedResponse {
  status: number;
  contentType?: string;
  body?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The answer to the n-th request (1-based), or 'hang' to never answer. */
export type Script = (n: number, req: RecordedRequest) => ScriptedResponse | 'hang';

export interface FakeCp {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Responses served in order; the last one repeats. */
  respond(...responses: ScriptedResponse[]): void;
  /** Answers from a function instead. */
  script(script: Script): void;
  close(): Promise<void>;
}

/** A bootstrap such as a control plane sends: admin on `adminPort`, and optionally listeners over ADS. */
export function bootstrapYaml(adminPort: number, opts: { lds?: boolean; ads?: boolean } = {}): string {
  const ads = opts.ads ?? opts.lds ?? false;
  const lines = [
    'node:',
    '  id: default.web-1',
    '  cluster: web',
    'admin:',
    '  address:',
    '    socket_address: { address: 127.0.0.1, port_value: ' + adminPort + ' }',
  ];
  if (ads) {
    lines.push(
      'dynamic_resources:',
      '  ads_config:',
      '    api_type: GRPC',
      '    transport_api_version: V3',
      '    grpc_services:',
      '      - envoy_grpc: { cluster_name: ads_cluster }',
      ...(opts.lds
        ? ['  lds_config: { ads: {}, resource_api_version: V3 }', '  cds_config: { ads: {}, resource_api_version: V3 }']
        : ['  cds_config: { ads: {}, resource_api_version: V3 }']),
      'static_resources:',
      '  clusters:',
      '    - name: ads_cluster',
      '      type: STATIC',
      '      connect_timeout: 1s',
      '      typed_extension_protocol_options:',
      '        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:',
      '          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      '          explicit_http_config: { http2_protocol_options: {} }',
      '      load_assignment:',
      '        cluster_name: ads_cluster',
      '        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 5678 } } } }] }]',
    );
  }
  return lines.join('\n') + '\n';
}

/** The JSON answer of Kuma 2.x control planes. */
export function jsonBootstrapResponse(yaml: string): ScriptedResponse {
  return {
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({ bootstrap: Buffer.from(yaml).toString('base64'), kumaSidecarConfiguration: { networking: {}, metrics: {} } }),
  };
}

export async function startFakeCp(tls?: { certPem: string; keyPem: string }, opts: { port?: number; script?: Script } = {}): Promise<FakeCp> {
  const requests: RecordedRequest[] = [];
  let queue: ScriptedResponse[] = [{ status: 500, body: 'no response scripted' }];
  let script: Script | undefined = opts.script;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      requests.push(seen);
      const next = script ? script(requests.length, seen) : queue.length > 1 ? queue.shift()! : queue[0]!;
      if (next === 'hang') return;
      res.writeHead(next.status, next.contentType ? { 'content-type': next.contentType } : {});
      res.end(next.body ?? '');
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    respond: (...responses) => {
      script = undefined;
      queue = responses;
    },
    script: (next) => {
      script = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The fake control plane's ADS half: a scripted ADS server on a port it picks, recording requests, sending what the test pushes. */
export class FakeAds {
  readonly requests: Array<DiscoveryRequest & { delta?: false }> = [];
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  readonly metadata: grpcTypes.Metadata[] = [];
  private streams = new Set<grpcTypes.ServerDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, unknown>>();
  private server?: grpcTypes.Server;
  private nonce = 0;
  port = 0;

  async start(t: { teardown(fn: () => void): void }, tls?: { certPem: string; keyPem: string }): Promise<void> {
    const { grpc, service } = await loadAdsDefinition();
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }], false)
      : grpc.ServerCredentials.createInsecure();
    this.server = new grpc.Server();
    const handle = (delta: boolean) => (call: grpcTypes.ServerDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, unknown>) => {
      this.streams.add(call);
      this.metadata.push(call.metadata);
      call.on('data', (req: DiscoveryRequest & DeltaDiscoveryRequest) => (delta ? this.deltaRequests : this.requests).push(req));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
      call.on('close', () => this.streams.delete(call));
    };
    this.server.addService(service, { StreamAggregatedResources: handle(false), DeltaAggregatedResources: handle(true) });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server!.bindAsync('127.0.0.1:0', credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    t.teardown(() => this.server?.forceShutdown());
  }

  async any(typeUrl: string, json: unknown): Promise<{ type_url: string; value: Buffer }> {
    const types = await loadEnvoyTypes();
    return { type_url: typeUrl, value: Buffer.from(types.encode(json, typeNameOf(typeUrl))) };
  }

  /** Sends a state-of-the-world response on every open stream; returns its nonce. */
  async push(typeUrl: string, version: string, resources: unknown[], rawResources: Array<{ type_url: string; value: Buffer }> = []): Promise<string> {
    const nonce = `n${++this.nonce}`;
    const encoded = [...(await Promise.all(resources.map((r) => this.any(typeUrl, r)))), ...rawResources];
    for (const s of this.streams) s.write({ version_info: version, type_url: typeUrl, nonce, resources: encoded });
    return nonce;
  }

  async pushDelta(typeUrl: string, version: string, resources: Array<{ name: string; json: unknown }>, removed: string[] = []): Promise<string> {
    const nonce = `d${++this.nonce}`;
    const encoded = await Promise.all(resources.map(async (r) => ({ name: r.name, version, resource: await this.any(typeUrl, r.json) })));
    for (const s of this.streams) s.write({ system_version_info: version, type_url: typeUrl, nonce, resources: encoded, removed_resources: removed });
    return nonce;
  }

  openStreams(): number {
    return this.streams.size;
  }

  /** Ends every stream with UNAVAILABLE, as a control plane going away would. */
  dropStreams(): void {
    for (const s of this.streams) s.emit('error', Object.assign(new Error('dropped by test'), { code: 14 }));
  }
}
