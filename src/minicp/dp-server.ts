// Port 5678 carries both POST /bootstrap and ADS (gRPC over HTTP/2), as
// Kuma's DP server does. One listener (TLS, or plaintext for
// --no-dp-server-tls) reads the first bytes of each connection: the HTTP/2
// client preface (or ALPN h2) goes to grpc-js through its connection
// injector, anything else to a node:http server. No second port and no proxy
// hop. Plain HTTP/2 requests (a Go kuma-dp negotiates h2 over TLS for its
// bootstrap request) are taken out of grpc-js's hands by content type.
import * as http from 'node:http';
import type * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { listenOn, portError } from '../lifecycle/http-server.js';
import { createLogger } from '../log/logger.js';
import { DOCUMENT_LIMITS } from '../util/document.js';
import { applyServerLimits } from '../util/server-limits.js';
import { HttpError, readBody } from './http.js';

const log = createLogger('minicp.dp-server');
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** Enough of the preface to tell it from any HTTP/1.x method. */
const SNIFF_BYTES = 4;
const SNIFF_TIMEOUT_MS = 10_000;
/** Each proxy holds one connection; this is far above what one mini-CP serves (bench:xds-scale). */
const DP_SERVER_MAX_CONNECTIONS = 20_000;

/** A plain (non-gRPC) request, whichever HTTP version carried it. */
export interface PlainRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body: string;
}

export interface PlainAnswer {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface DpServerOptions {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string } | undefined;
  onRequest(request: PlainRequest): Promise<PlainAnswer>;
  grpcServer: grpc.Server;
  grpcModule: typeof grpc;
}

export interface DpServer {
  address: net.AddressInfo;
  close(): Promise<void>;
}

export async function startDpServer(options: DpServerOptions): Promise<DpServer> {
  routePlainHttp2(options.grpcServer, (request) => options.onRequest(request));
  const injector = options.grpcServer.createConnectionInjector(options.grpcModule.ServerCredentials.createInsecure());
  const httpServer = applyServerLimits(
    http.createServer((req, res) => {
      void readBody(req, MAX_BODY_BYTES)
        .then((body) => options.onRequest({ method: req.method ?? 'GET', path: req.url ?? '/', headers: flatten(req.headers), body }))
        .catch((err: Error) => internalError(err))
        .then((answer) => res.writeHead(answer.status, answer.headers).end(answer.body));
    }),
  );
  // This server never listens (connections are handed to it), and node:http starts enforcing the
  // header and request timeouts when a server starts listening: start that sweep here.
  httpServer.emit('listening');
  const sockets = new Set<Duplex>();

  const route = (socket: net.Socket | tls.TLSSocket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (err) => log.debug('DP server connection error', { error: err }));
    if (socket instanceof tls.TLSSocket && socket.alpnProtocol === 'h2') {
      injector.injectConnection(socket);
      return;
    }
    sniff(socket, (isHttp2) => {
      if (isHttp2) injector.injectConnection(socket);
      else {
        httpServer.emit('connection', socket);
        socket.resume(); // sniffing left the socket paused; node:http reads it in flowing mode
      }
    });
  };

  const server: net.Server = options.tls
    ? tls.createServer({ cert: options.tls.certPem, key: options.tls.keyPem, ALPNProtocols: ['h2', 'http/1.1'], minVersion: 'TLSv1.2' }, route)
    : net.createServer(route);
  if (options.tls) server.on('tlsClientError', (err) => log.debug('TLS handshake failed', { error: err }));
  // ADS streams are long-lived and may be quiet for long: no idle timeout on the connections themselves
  // (the sniff has its own, and the bootstrap requests get node:http's), but a bound on how many there are.
  await listenOn(server, options.port, options.host, portError('DP server (--dp-server-port, KUMA_DP_SERVER_PORT)', options.host, options.port), {
    idleTimeoutMs: 0,
    maxConnections: DP_SERVER_MAX_CONNECTIONS,
  });
  const address = server.address() as net.AddressInfo;
  return {
    address,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      httpServer.close(); // ends the timeout sweep
      httpServer.closeAllConnections();
      injector.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A bootstrap request is a few KiB; the Dataplane it may carry is bounded by the strict reader's limit. */
const MAX_BODY_BYTES = 2 * DOCUMENT_LIMITS.maxBytes + 64 * 1024;

function internalError(err: Error): PlainAnswer {
  if (err instanceof HttpError) return { status: err.status, headers: { 'content-type': 'text/plain' }, body: `${err.title}\n` };
  log.error('DP server request failed', { error: err });
  return { status: 500, headers: { 'content-type': 'text/plain' }, body: `${err.message}\n` };
}

function flatten(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * grpc-js answers every HTTP/2 stream itself, refusing non-gRPC ones with 415
 * from its content-type check. That check is the one place a stream can be
 * claimed before grpc-js touches it, so plain requests are served from there.
 * It is internal to grpc-js: if a future version drops it, HTTP/2 bootstrap
 * requests get grpc-js's 415 and a warning is logged (HTTP/1.1 is unaffected).
 */
function routePlainHttp2(server: grpc.Server, onRequest: DpServerOptions['onRequest']): void {
  const target = server as unknown as { _verifyContentType?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean };
  const verify = target._verifyContentType;
  if (typeof verify !== 'function') {
    log.warn('this @grpc/grpc-js version offers no hook for plain HTTP/2 requests; POST /bootstrap works over HTTP/1.1 only');
    return;
  }
  target._verifyContentType = function (stream, headers) {
    if (String(headers['content-type'] ?? '').startsWith('application/grpc')) return verify.call(this, stream, headers);
    readBody(stream, MAX_BODY_BYTES)
      .then((body) =>
        onRequest({
          method: String(headers[':method'] ?? 'GET'),
          path: String(headers[':path'] ?? '/'),
          headers: { ...flatten(headers), host: String(headers[':authority'] ?? headers.host ?? '') },
          body,
        }),
      )
      .catch((err: Error) => internalError(err))
      .then((answer) => {
        if (stream.destroyed || stream.closed) return;
        stream.respond({ ':status': answer.status, ...answer.headers });
        stream.end(answer.body);
      })
      .catch((err: Error) => log.debug('cannot answer an HTTP/2 request', { error: err }));
    return false;
  };
}

/** Reads the first bytes without consuming them, then says whether they start an HTTP/2 connection. */
function sniff(socket: net.Socket, decide: (isHttp2: boolean) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  const timer = setTimeout(() => socket.destroy(), SNIFF_TIMEOUT_MS);
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      length += chunk.length;
    }
    const head = Buffer.concat(chunks, length);
    const prefix = head.subarray(0, Math.min(head.length, SNIFF_BYTES));
    if (head.length < SNIFF_BYTES && H2_PREFACE.subarray(0, prefix.length).equals(prefix)) return; // undecided yet
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    clearTimeout(timer);
    socket.unshift(head);
    decide(H2_PREFACE.subarray(0, prefix.length).equals(prefix) && prefix.length >= SNIFF_BYTES);
  };
  const onEnd = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}
