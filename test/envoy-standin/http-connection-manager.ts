// envoy.filters.network.http_connection_manager with the router filter, for
// HTTP/1.1 and prior-knowledge HTTP/2: the matching route (routes.ts), then a
// direct response or a proxied request to a host of the route's cluster.
// Local replies use Envoy's status codes and bodies (404 no route, 503 no
// healthy upstream, 504 upstream request timeout).
import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2ServerRequest, type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { ClusterManager } from './clusters.js';
import { durationMs } from './clusters.js';
import type { HeaderMutations, HttpConnectionManagerConfig } from './envoy-config.js';
import type { Log } from './log.js';
import { statSafe, type Stats } from './stats.js';
import { http2Request, usesHttp2 } from './http2-upstream.js';
import { applyHeaderMutations, findVirtualHost, routeMatches } from './routes.js';
import { pickWeighted } from './tcp-proxy.js';
import { accessLoggers, type StreamInfo } from './access-log.js';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);

export interface DrainSignal {
  /** Whether a response on this listener should carry `connection: close` now. */
  drainClose(): boolean;
}

export function httpConnectionManager(
  config: HttpConnectionManagerConfig,
  clusters: ClusterManager,
  stats: Stats,
  log: Log,
  drain: DrainSignal,
): (socket: Socket) => void {
  const prefix = `http.${statSafe(config.stat_prefix)}.`;
  for (const s of ['downstream_cx_total', 'downstream_rq_total', 'downstream_rq_completed', 'no_route', 'no_cluster', 'rq_direct_response'])
    stats.declare(prefix + s, 'counter');
  for (const s of ['downstream_cx_active', 'downstream_rq_active']) stats.declare(prefix + s, 'gauge');
  if (!config.route_config && config.rds) {
    log('warning', `http_connection_manager '${config.stat_prefix}': RDS is not implemented by this test double; every request gets 404`);
  }
  const serverName = config.server_name || 'envoy';
  const loggers = accessLoggers(config.access_log, log);
  /** Per request: what its access-log record is made of, when the HCM has access loggers. */
  const records = new WeakMap<IncomingMessage, StreamInfo>();
  const overwriteServer = (config.server_header_transformation ?? 'OVERWRITE') === 'OVERWRITE';

  /** Drain-close: `connection: close` on HTTP/1; on HTTP/2 a GOAWAY once the response is out. */
  const drainHeaders = (req: IncomingMessage, res: ServerResponse, headers: Record<string, string | string[]>): void => {
    if (!drain.drainClose()) return;
    if (req.httpVersionMajor < 2) headers.connection = 'close';
    else res.once('finish', () => (req as unknown as Http2ServerRequest).stream.session?.close());
  };

  const localReply = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string,
    flag?: string,
    mutations: Array<HeaderMutations | undefined> = [],
  ): void => {
    const headers: Record<string, string | string[]> = { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) };
    // As Envoy: a direct response gets the route's response header mutations too (kuma-cp's ETag comes this way).
    applyHeaderMutations(headers, 'response', mutations);
    const info = records.get(req);
    if (info) {
      if (flag) info.responseFlags.push(flag);
      info.responseHeaders = headers;
      info.bytesSent = Buffer.byteLength(body);
    }
    if (overwriteServer) headers.server = serverName;
    drainHeaders(req, res, headers);
    res.writeHead(status, headers);
    res.end(body);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    stats.inc(prefix + 'downstream_rq_total');
    stats.add(prefix + 'downstream_rq_active', 1);
    const path = req.url ?? '/';
    const authority = String(req.headers[':authority'] ?? req.headers.host ?? '');
    let info: StreamInfo | undefined;
    if (loggers.length > 0) {
      const socket = req.socket as Socket | undefined;
      info = {
        startTime: new Date(),
        endTime: new Date(),
        bytesReceived: 0,
        bytesSent: 0,
        responseFlags: [],
        protocol: req.httpVersionMajor >= 2 ? 'HTTP/2' : `HTTP/1.${req.httpVersionMinor}`,
        responseCode: 0,
        requestHeaders: { ...req.headers, ':method': req.method, ':path': path, ':authority': authority },
        ...(socket?.remoteAddress ? { downstreamRemote: { address: socket.remoteAddress, port: socket.remotePort ?? 0 } } : {}),
        ...(socket?.localAddress ? { downstreamLocal: { address: socket.localAddress, port: socket.localPort ?? 0 } } : {}),
      };
      records.set(req, info);
    }
    res.once('close', () => {
      stats.add(prefix + 'downstream_rq_active', -1);
      stats.inc(prefix + 'downstream_rq_completed');
      stats.inc(`${prefix}downstream_rq_${Math.floor(res.statusCode / 100)}xx`);
      if (info) {
        info.endTime = new Date();
        info.responseCode = res.headersSent ? res.statusCode : 0;
        for (const logger of loggers) logger(info);
      }
    });
    const vhost = findVirtualHost(config.route_config, authority);
    const route = (vhost?.routes ?? []).find((r) => routeMatches(r.match ?? {}, path, req.headers));
    if (!route) {
      stats.inc(prefix + 'no_route');
      localReply(req, res, 404, '', 'NR');
      req.resume();
      return;
    }
    if (route.direct_response) {
      stats.inc(prefix + 'rq_direct_response');
      localReply(req, res, Number(route.direct_response.status), route.direct_response.body?.inline_string ?? '', undefined, [
        route,
        vhost,
        config.route_config,
      ]);
      req.resume();
      return;
    }
    const action = route.route ?? {};
    const clusterName =
      action.cluster ??
      (action.cluster_header ? String(req.headers[String(action.cluster_header).toLowerCase()] ?? '') : undefined) ??
      pickWeighted(action.weighted_clusters?.clusters ?? [])?.name;
    const cluster = clusterName ? clusters.get(clusterName) : undefined;
    if (!cluster) {
      stats.inc(prefix + 'no_cluster');
      localReply(req, res, 503, '', 'NC');
      req.resume();
      return;
    }
    const cs = cluster.statPrefix;
    const host = clusters.pick(cluster);
    if (info) info.upstreamCluster = cluster.name;
    if (!host) {
      stats.inc(cs + 'upstream_cx_none_healthy');
      localReply(req, res, 503, 'no healthy upstream', 'UH');
      req.resume();
      return;
    }
    let upstreamPath = path;
    if (action.prefix_rewrite !== undefined && route.match?.prefix !== undefined) {
      upstreamPath = action.prefix_rewrite + path.slice(String(route.match.prefix).length);
    } else if (action.regex_rewrite?.pattern?.regex !== undefined) {
      const [p, q] = [path.split('?')[0]!, path.includes('?') ? path.slice(path.indexOf('?')) : ''];
      upstreamPath = p.replace(new RegExp(action.regex_rewrite.pattern.regex, 'g'), action.regex_rewrite.substitution ?? '') + q;
    }
    const timeoutMs = durationMs(action.timeout, 15_000);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k) && !k.startsWith(':')) headers[k] = v;
    if (req.headers.te === 'trailers') headers.te = 'trailers';
    headers.host = authority;
    headers['x-forwarded-proto'] = 'http';
    if (config.generate_request_id !== false && !headers['x-request-id']) headers['x-request-id'] = randomUUID();
    if (timeoutMs > 0) headers['x-envoy-expected-rq-timeout-ms'] = String(timeoutMs);
    if (action.host_rewrite_literal) headers.host = action.host_rewrite_literal;
    // Envoy evaluates route, then virtual host, then route configuration, unless told the most specific wins.
    const mutationLevels = [route, vhost, config.route_config];
    if (config.route_config?.most_specific_header_mutations_wins) mutationLevels.reverse();
    applyHeaderMutations(headers, 'request', mutationLevels);
    if (info) {
      // The record shows the request as forwarded (with the x-request-id the HCM made), as Envoy's does.
      info.requestHeaders = { ...headers, ':method': req.method, ':path': path, ':authority': authority };
      info.upstreamHost = host.address.includes(':') ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
    }
    const countRequestBody = (): void => {
      if (info) req.on('data', (chunk: Buffer) => (info.bytesReceived += chunk.length));
    };
    const started = Date.now();
    stats.inc(cs + 'upstream_rq_total');
    stats.add(cs + 'upstream_rq_active', 1);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stats.add(cs + 'upstream_rq_active', -1);
      stats.inc(cs + 'upstream_rq_completed');
    };
    // A body-less request can be sent again when a pooled connection turns out to have been closed by the upstream.
    const bodiless =
      !req.headers['transfer-encoding'] && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0') && req.httpVersionMajor < 2;
    const h2 = usesHttp2(cluster, req.httpVersionMajor >= 2);
    let current: { destroy(): void } | undefined;
    const onResponse = (status: number, upstreamHeaders: Record<string, unknown>, body: NodeJS.ReadableStream): void => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upstreamHeaders)) if (v !== undefined && !HOP_BY_HOP.has(k) && !k.startsWith(':')) out[k] = v as string | string[];
      out['x-envoy-upstream-service-time'] = String(Date.now() - started);
      applyHeaderMutations(out, 'response', mutationLevels);
      if (overwriteServer) out.server = serverName;
      drainHeaders(req, res, out);
      res.writeHead(status, out);
      if (info) {
        info.responseHeaders = out;
        body.on('data', (chunk: Buffer) => (info.bytesSent += chunk.length));
      }
      stats.inc(`${cs}upstream_rq_${status}`);
      stats.inc(`${cs}upstream_rq_${Math.floor(status / 100)}xx`);
      body.pipe(res);
      body.once('end', finish);
      body.once('error', () => res.destroy());
    };
    const onError = (err: Error): void => {
      finish();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err.message === 'timeout') {
        stats.inc(cs + 'upstream_rq_timeout');
        localReply(req, res, 504, 'upstream request timeout', 'UT');
      } else {
        log('debug', `router: upstream ${host.address}:${host.port} of '${cluster.name}': ${err.message}`);
        localReply(
          req,
          res,
          503,
          `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${err.message}`,
          'UF',
        );
      }
    };
    const timeoutTimer = (destroy: (err: Error) => void): NodeJS.Timeout | undefined =>
      timeoutMs > 0 ? setTimeout(() => destroy(new Error('timeout')), timeoutMs - (Date.now() - started)) : undefined;

    const sendHttp2 = (): void => {
      const { host: authorityHeader, ...rest } = headers;
      const stream = http2Request(
        cluster,
        host,
        { ':method': req.method, ':path': upstreamPath, ':authority': String(authorityHeader), ...rest },
        req.readableEnded,
        () => stats.inc(cs + 'upstream_cx_total'),
      );
      current = stream;
      const timer = timeoutTimer((err) => stream.destroy(err));
      stream.on('response', (h) => {
        clearTimeout(timer);
        stream.on('trailers', (trailers: IncomingHttpHeaders) =>
          res.addTrailers(Object.fromEntries(Object.entries(trailers).filter(([k]) => !k.startsWith(':')))),
        );
        onResponse(Number(h[':status'] ?? 502), h, stream);
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        onError(err);
      });
      if (!req.readableEnded) {
        req.pipe(stream);
        countRequestBody();
      }
    };

    const sendHttp1 = (retried: boolean): void => {
      const target = host.pipe !== undefined ? { socketPath: host.pipe } : { host: host.address, port: host.port };
      const upstream = request({ ...target, method: req.method, path: upstreamPath, headers, agent: cluster.agent });
      current = upstream;
      const timer = timeoutTimer((err) => upstream.destroy(err));
      upstream.on('socket', (s) => {
        if (!(s as Socket & { standinCounted?: boolean }).standinCounted) {
          (s as Socket & { standinCounted?: boolean }).standinCounted = true;
          stats.inc(cs + 'upstream_cx_total');
          stats.add(cs + 'upstream_cx_active', 1);
          s.once('close', () => stats.add(cs + 'upstream_cx_active', -1));
        }
      });
      upstream.on('response', (ures) => {
        clearTimeout(timer);
        ures.once('end', () => {
          if (Object.keys(ures.trailers).length > 0) res.addTrailers(ures.trailers);
        });
        onResponse(ures.statusCode ?? 502, ures.headers, ures);
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!retried && bodiless && upstream.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent) {
          sendHttp1(true);
          return;
        }
        onError(err);
      });
      if (bodiless) {
        req.resume();
        upstream.end();
      } else {
        req.pipe(upstream);
        countRequestBody();
      }
    };
    const send = (retried: boolean): void => (h2 ? sendHttp2() : sendHttp1(retried));
    send(false);
    res.once('close', () => {
      if (!res.writableFinished) current?.destroy();
    });
  };

  const http1 = createServer({ keepAliveTimeout: 60_000 }, onRequest);
  http1.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nBad Request');
    else socket.destroy();
  });
  const http2 = createHttp2Server({}, (req, res) => onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse));
  http2.on('sessionError', () => undefined);
  const codec = config.codec_type ?? 'AUTO';
  return (socket) => {
    stats.inc(prefix + 'downstream_cx_total');
    stats.add(prefix + 'downstream_cx_active', 1);
    socket.once('close', () => stats.add(prefix + 'downstream_cx_active', -1));
    if (codec !== 'AUTO') {
      (codec === 'HTTP2' ? http2 : http1).emit('connection', socket);
      return;
    }
    // AUTO: HTTP/2 with prior knowledge starts with the connection preface; anything else is HTTP/1.
    socket.once('readable', () => {
      const head = socket.read(Math.min(socket.readableLength, H2_PREFACE.length)) as Buffer | null;
      if (head) socket.unshift(head);
      (head?.toString('latin1').startsWith(H2_PREFACE.slice(0, Math.min(head.length, H2_PREFACE.length))) && head.length >= 3 ? http2 : http1).emit(
        'connection',
        socket,
      );
    });
  };
}
