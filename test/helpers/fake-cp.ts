// An in-test control plane for the agent's tests: serves POST /bootstrap over
// HTTP or HTTPS on a loopback port, answering from a queue of scripted
// responses, and records every request it receives.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ScriptedResponse {
  status: number;
  contentType?: string;
  body: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeCp {
  url: string;
  requests: RecordedRequest[];
  /** Responses served in order; the last one repeats. */
  respond(...responses: ScriptedResponse[]): void;
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

export async function startFakeCp(tls?: { certPem: string; keyPem: string }): Promise<FakeCp> {
  const requests: RecordedRequest[] = [];
  let queue: ScriptedResponse[] = [{ status: 500, body: 'no response scripted' }];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const next = queue.length > 1 ? queue.shift()! : queue[0]!;
      res.writeHead(next.status, next.contentType ? { 'content-type': next.contentType } : {});
      res.end(next.body);
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    respond: (...responses) => {
      queue = responses;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
