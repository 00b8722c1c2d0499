// envoy.filters.network.http_connection_manager with the router filter, for
// HTTP/1.1: virtual host by Host header, first matching route, then a direct
// response or a proxied request to a host of the route's cluster. Local
// replies use Envoy's status codes and bodies (404 no route, 503 no healthy
// upstream, 504 upstream request timeout).
import { randomUUID } from 'node:crypto';
import { createServer, request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ClusterManager } from './clusters.js';
import { durationMs } from './clusters.js';
import type { Json } from './config.js';
import type { Log } from './log.js';
import { statSafe, type Stats } from './stats.js';
import { pickWeighted } from './tcp-proxy.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings']);

export interface DrainSignal {
  /** Whether a response on this listener should carry `connection: close` now. */
  drainClose(): boolean;
}

function stringMatch(m: Json | undefined, value: string | undefined): boolean {
  if (!m) return true;
  if (value === undefined) return false;
  const ci = m.ignore_case === true;
  const v = ci ? value.toLowerCase() : value;
  const p = (x: unknown): string => (ci ? String(x).toLowerCase() : String(x));
  if (m.exact !== undefined) return v === p(m.exact);
  if (m.prefix !== undefined) return v.startsWith(p(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(p(m.suffix));
  if (m.contains !== undefined) return v.includes(p(m.contains));
  if (m.safe_regex?.regex !== undefined) return new RegExp(`^(?:${m.safe_regex.regex})$`).test(value);
  return false;
}

function headerMatches(matcher: Json, headers: IncomingHttpHeaders): boolean {
  const raw = headers[String(matcher.name).toLowerCase()];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  let ok: boolean;
  if (matcher.present_match !== undefined) ok = (value !== undefined) === matcher.present_match;
  else if (matcher.exact_match !== undefined) ok = value === matcher.exact_match;
  else if (matcher.prefix_match !== undefined) ok = value !== undefined && value.startsWith(matcher.prefix_match);
  else if (matcher.suffix_match !== undefined) ok = value !== undefined && value.endsWith(matcher.suffix_match);
  else if (matcher.string_match) ok = stringMatch(matcher.string_match, value);
  else ok = value !== undefined;
  return matcher.invert_match ? !ok : ok;
}

function routeMatches(match: Json, path: string, headers: IncomingHttpHeaders): boolean {
  const caseSensitive = match.case_sensitive !== false;
  const pathOnly = path.split('?')[0]!;
  const norm = (s: string): string => (caseSensitive ? s : s.toLowerCase());
  let ok: boolean;
  if (match.prefix !== undefined) ok = norm(path).startsWith(norm(match.prefix));
  else if (match.path !== undefined) ok = norm(pathOnly) === norm(match.path);
  else if (match.safe_regex?.regex !== undefined) ok = new RegExp(`^(?:${match.safe_regex.regex})$`, caseSensitive ? '' : 'i').test(pathOnly);
  else if (match.path_separated_prefix !== undefined) {
    const p = String(match.path_separated_prefix);
    ok = norm(pathOnly) === norm(p) || norm(pathOnly).startsWith(norm(p) + '/');
  } else ok = false;
  return ok && (match.headers ?? []).every((h: Json) => headerMatches(h, headers));
}

function domainMatches(domain: string, host: string): boolean {
  const d = domain.toLowerCase();
  if (d === '*') return true;
  if (d.startsWith('*')) return host.endsWith(d.slice(1));
  if (d.endsWith('*')) return host.startsWith(d.slice(0, -1));
  return host === d;
}

/** Envoy's search order: exact domain, then suffix wildcards, then prefix wildcards, then '*'. */
function findVirtualHost(routeConfig: Json | undefined, hostHeader: string): Json | undefined {
  const vhosts: Json[] = routeConfig?.virtual_hosts ?? [];
  const host = hostHeader.toLowerCase();
  const hostNoPort = host.replace(/:\d+$/, '');
  for (const h of host === hostNoPort ? [host] : [host, hostNoPort]) {
    const exact = vhosts.find((v) => (v.domains ?? []).some((d: string) => !d.includes('*') && d.toLowerCase() === h));
    if (exact) return exact;
    const suffix = vhosts.find((v) => (v.domains ?? []).some((d: string) => d.startsWith('*') && d !== '*' && domainMatches(d, h)));
    if (suffix) return suffix;
    const prefix = vhosts.find((v) => (v.domains ?? []).some((d: string) => d.endsWith('*') && d !== '*' && domainMatches(d, h)));
    if (prefix) return prefix;
  }
  return vhosts.find((v) => (v.domains ?? []).includes('*'));
}

export function httpConnectionManager(config: Json, clusters: ClusterManager, stats: Stats, log: Log, drain: DrainSignal): (socket: Socket) => void {
  const prefix = `http.${statSafe(config.stat_prefix)}.`;
  for (const s of ['downstream_cx_total', 'downstream_rq_total', 'downstream_rq_completed', 'no_route', 'no_cluster', 'rq_direct_response']) stats.declare(prefix + s, 'counter');
  for (const s of ['downstream_cx_active', 'downstream_rq_active']) stats.declare(prefix + s, 'gauge');
  if (!config.route_config && config.rds) {
    log('warning', `http_connection_manager '${config.stat_prefix}': RDS is not implemented by this test double; every request gets 404`);
  }
  const serverName: string = config.server_name || 'envoy';
  const overwriteServer = (config.server_header_transformation ?? 'OVERWRITE') === 'OVERWRITE';

  const localReply = (res: ServerResponse, status: number, body: string): void => {
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) };
    if (overwriteServer) headers.server = serverName;
    if (drain.drainClose()) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    stats.inc(prefix + 'downstream_rq_total');
    stats.add(prefix + 'downstream_rq_active', 1);
    res.once('close', () => {
      stats.add(prefix + 'downstream_rq_active', -1);
      stats.inc(prefix + 'downstream_rq_completed');
      stats.inc(`${prefix}downstream_rq_${Math.floor(res.statusCode / 100)}xx`);
    });
    const path = req.url ?? '/';
    const vhost = findVirtualHost(config.route_config, req.headers.host ?? '');
    const route: Json | undefined = (vhost?.routes ?? []).find((r: Json) => routeMatches(r.match ?? {}, path, req.headers));
    if (!route) {
      stats.inc(prefix + 'no_route');
      localReply(res, 404, '');
      req.resume();
      return;
    }
    if (route.direct_response) {
      stats.inc(prefix + 'rq_direct_response');
      localReply(res, Number(route.direct_response.status), route.direct_response.body?.inline_string ?? '');
      req.resume();
      return;
    }
    const action: Json = route.route ?? {};
    const clusterName: string | undefined =
      action.cluster ??
      (action.cluster_header ? String(req.headers[String(action.cluster_header).toLowerCase()] ?? '') : undefined) ??
      pickWeighted<Json>(action.weighted_clusters?.clusters ?? [])?.name;
    const cluster = clusterName ? clusters.get(clusterName) : undefined;
    if (!cluster) {
      stats.inc(prefix + 'no_cluster');
      localReply(res, 503, '');
      req.resume();
      return;
    }
    const cs = cluster.statPrefix;
    const host = clusters.pick(cluster);
    if (!host) {
      stats.inc(cs + 'upstream_cx_none_healthy');
      localReply(res, 503, 'no healthy upstream');
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
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    headers['x-forwarded-proto'] = 'http';
    if (config.generate_request_id !== false && !headers['x-request-id']) headers['x-request-id'] = randomUUID();
    if (timeoutMs > 0) headers['x-envoy-expected-rq-timeout-ms'] = String(timeoutMs);
    if (action.host_rewrite_literal) headers.host = action.host_rewrite_literal;
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
    const bodiless = !req.headers['transfer-encoding'] && (req.headers['content-length'] === undefined || req.headers['content-length'] === '0');
    let current: ClientRequest | undefined;
    const send = (retried: boolean): void => {
      const upstream = request({ host: host.address, port: host.port, method: req.method, path: upstreamPath, headers, agent: cluster.agent });
      current = upstream;
      const timer = timeoutMs > 0 ? setTimeout(() => upstream.destroy(new Error('timeout')), timeoutMs - (Date.now() - started)) : undefined;
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
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(ures.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
        out['x-envoy-upstream-service-time'] = String(Date.now() - started);
        if (overwriteServer) out.server = serverName;
        if (drain.drainClose()) out.connection = 'close';
        res.writeHead(ures.statusCode ?? 502, out);
        stats.inc(`${cs}upstream_rq_${ures.statusCode}`);
        stats.inc(`${cs}upstream_rq_${Math.floor((ures.statusCode ?? 502) / 100)}xx`);
        ures.pipe(res);
        ures.once('end', finish);
        ures.once('error', () => res.destroy());
      });
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!retried && bodiless && upstream.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent) {
          send(true);
          return;
        }
        finish();
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err.message === 'timeout') {
          stats.inc(cs + 'upstream_rq_timeout');
          localReply(res, 504, 'upstream request timeout');
        } else {
          log('debug', `router: upstream ${host.address}:${host.port} of '${cluster.name}': ${err.message}`);
          localReply(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${err.message}`);
        }
      });
      if (bodiless) {
        req.resume();
        upstream.end();
      } else req.pipe(upstream);
    };
    send(false);
    res.once('close', () => {
      if (!res.writableFinished) current?.destroy();
    });
  };

  const server = createServer({ keepAliveTimeout: 60_000 }, onRequest);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nBad Request');
    else socket.destroy();
  });
  return (socket) => {
    stats.inc(prefix + 'downstream_cx_total');
    stats.add(prefix + 'downstream_cx_active', 1);
    socket.once('close', () => stats.add(prefix + 'downstream_cx_active', -1));
    server.emit('connection', socket);
  };
}
