// The admin API on the bootstrap's admin address, with Envoy's paths,
// response shapes and status codes. Endpoints that change server state take
// POST only (405 otherwise), as in Envoy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, unlinkSync, writeFileSync } from 'node:fs';
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import { addressJson, formatWhere, whereOf, type Where } from './address.js';
import { commandLineOptionsJson } from './cli.js';
import type { Json } from './config.js';
import { setLevels } from './log.js';
import type { StandinServer } from './server.js';
import { buildVersion } from './version.js';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

type Reply = { status: number; body: string; type?: string };
type Handler = (query: URLSearchParams) => Reply | Promise<Reply>;

interface Endpoint {
  handler: Handler;
  mutates: boolean;
  help: string;
}

const text = (body: string, status = 200): Reply => ({ status, body, type: 'text/plain; charset=UTF-8' });
const json = (value: unknown, status = 200): Reply => ({ status, body: JSON.stringify(value, null, 2), type: 'application/json' });
const withType = (typeUrl: string, resource: object): Json => ({ '@type': typeUrl, ...resource });

function statsFilter(query: URLSearchParams): RegExp | undefined {
  const f = query.get('filter');
  return f ? new RegExp(f) : undefined;
}

function configDump(server: StandinServer, includeEds: boolean): Json[] {
  const ads = server.ads;
  const clusters = server.clusters.all();
  const listeners = server.listeners.all();
  const bootTime = new Date(server.startedAt).toISOString();
  const dumps: Json[] = [
    { '@type': `${ADMIN}BootstrapConfigDump`, bootstrap: server.bootstrap, last_updated: bootTime },
    {
      '@type': `${ADMIN}ClustersConfigDump`,
      version_info: ads?.versionInfo(TYPE_URL.cluster) ?? '',
      static_clusters: clusters.filter((c) => !c.addedViaApi).map((c) => ({ cluster: withType(TYPE_URL.cluster, c.config), last_updated: c.lastUpdated })),
      dynamic_active_clusters: clusters
        .filter((c) => c.addedViaApi)
        .map((c) => ({ version_info: c.versionInfo, cluster: withType(TYPE_URL.cluster, c.config), last_updated: c.lastUpdated })),
    },
    {
      '@type': `${ADMIN}ListenersConfigDump`,
      version_info: ads?.versionInfo(TYPE_URL.listener) ?? '',
      static_listeners: listeners.filter((l) => !l.addedViaApi).map((l) => ({ listener: withType(TYPE_URL.listener, l.config), last_updated: l.lastUpdated })),
      dynamic_listeners: listeners
        .filter((l) => l.addedViaApi)
        .map((l) => ({
          name: l.name,
          active_state: { version_info: l.versionInfo, listener: withType(TYPE_URL.listener, l.config), last_updated: l.lastUpdated },
        })),
    },
    { '@type': `${ADMIN}ScopedRoutesConfigDump` },
    { '@type': `${ADMIN}RoutesConfigDump` },
    { '@type': `${ADMIN}SecretsConfigDump` },
  ];
  if (includeEds) {
    const dynamic = [...(ads?.resources(TYPE_URL.endpoint).values() ?? [])];
    dumps.push({
      '@type': `${ADMIN}EndpointsConfigDump`,
      static_endpoint_configs: clusters.flatMap((c) =>
        !c.addedViaApi && c.config.load_assignment
          ? [{ endpoint_config: withType(TYPE_URL.endpoint, c.config.load_assignment), last_updated: c.lastUpdated }]
          : [],
      ),
      dynamic_endpoint_configs: dynamic.map((r) => ({ version_info: r.version, endpoint_config: withType(TYPE_URL.endpoint, r.json) })),
    });
  }
  // Envoy leaves out empty lists and strings in its dump.
  return dumps.map((d) => Object.fromEntries(Object.entries(d).filter(([, v]) => v !== '' && !(Array.isArray(v) && v.length === 0))));
}

function clustersText(server: StandinServer): string {
  let out = '';
  for (const c of server.clusters.all()) {
    out += `${c.name}::observability_name::${c.name}\n`;
    out += `${c.name}::added_via_api::${c.addedViaApi}\n`;
    for (const h of c.hosts) {
      const id = `${c.name}::${h.address}:${h.port}`;
      out += `${id}::cx_active::0\n${id}::health_flags::${h.health === 'UNKNOWN' || h.health === 'HEALTHY' ? 'healthy' : `/eds_status_${h.health.toLowerCase()}`}\n${id}::weight::${h.weight}\n${id}::priority::${h.priority}\n`;
    }
  }
  return out;
}

function clustersJson(server: StandinServer): Json {
  return {
    cluster_statuses: server.clusters.all().map((c) => ({
      name: c.name,
      observability_name: c.name,
      added_via_api: c.addedViaApi,
      host_statuses: c.hosts.map((h) => ({
        address: h.pipe !== undefined ? { pipe: { path: h.pipe } } : { socket_address: { address: h.address, port_value: h.port } },
        health_status: { eds_health_status: h.health },
        weight: h.weight,
        priority: h.priority,
      })),
    })),
  };
}

export function adminEndpoints(server: StandinServer, quit: () => void): Map<string, Endpoint> {
  const eps = new Map<string, Endpoint>();
  const get = (path: string, help: string, handler: Handler): void => void eps.set(path, { handler, mutates: false, help });
  const post = (path: string, help: string, handler: Handler): void => void eps.set(path, { handler, mutates: true, help });

  get('/ready', 'print server state, return 200 if LIVE, otherwise return 503', () => {
    const state = server.state();
    return text(`${state}\n`, state === 'LIVE' ? 200 : 503);
  });
  get('/server_info', 'print server version/status information', () =>
    json({
      version: buildVersion(),
      state: server.state(),
      hot_restart_version: 'disabled',
      command_line_options: commandLineOptionsJson(server.options),
      node: server.bootstrap.node ?? {},
      uptime_current_epoch: `${Math.floor((Date.now() - server.startedAt) / 1000)}s`,
      uptime_all_epochs: `${Math.floor((Date.now() - server.startedAt) / 1000)}s`,
    }),
  );
  get('/config_dump', 'dump current Envoy configs', (q) => json({ configs: configDump(server, q.has('include_eds')) }));
  get('/stats', 'print server stats', (q) => {
    server.refreshStateStats();
    const usedOnly = q.has('usedonly');
    if (q.get('format') === 'json') return json(JSON.parse(server.stats.json(statsFilter(q), usedOnly)));
    if (q.get('format') === 'prometheus') return text(server.stats.prometheus(statsFilter(q), usedOnly));
    return text(server.stats.text(statsFilter(q), usedOnly));
  });
  get('/stats/prometheus', 'print server stats in prometheus format', (q) => {
    server.refreshStateStats();
    return { ...text(server.stats.prometheus(statsFilter(q), q.has('usedonly'))), type: 'text/plain; version=0.0.4' };
  });
  get('/listeners', 'print listener info', (q) => {
    const entries = server.listeners.all().map((l) => {
      const w = l.where && l.where.kind === 'tcp' ? { ...l.where, port: l.boundPort ?? l.where.port } : l.where;
      return { name: l.name, where: w };
    });
    if (q.get('format') === 'json') {
      return json({ listener_statuses: entries.map((e) => ({ name: e.name, ...(e.where ? { local_address: addressJson(e.where) } : {}) })) });
    }
    return text(entries.map((e) => `${e.name}::${e.where ? formatWhere(e.where) : ''}\n`).join(''));
  });
  get('/clusters', 'upstream cluster status', (q) => (q.get('format') === 'json' ? json(clustersJson(server)) : text(clustersText(server))));
  get('/hot_restart_version', 'print the hot restart compatibility version', () => text('disabled'));
  post('/quitquitquit', 'exit the server', () => {
    setImmediate(quit);
    return text('OK\n');
  });
  post('/healthcheck/fail', 'cause the server to fail health checks', () => {
    server.healthCheckFailed = true;
    server.refreshStateStats();
    return text('OK\n');
  });
  post('/healthcheck/ok', 'cause the server to pass health checks', () => {
    server.healthCheckFailed = false;
    server.refreshStateStats();
    return text('OK\n');
  });
  post('/drain_listeners', 'drain listeners (inboundonly, graceful, skip_exit)', (q) => {
    server.drainListeners(q.has('inboundonly'), q.has('graceful'), q.has('skip_exit'));
    return text('OK\n');
  });
  post('/logging', 'change logging levels (level=<level>)', (q) => {
    const level = q.get('level');
    if (level) setLevels(level, '');
    return text('active loggers:\n');
  });
  post('/reset_counters', 'reset all counters to zero', () => text('OK\n'));
  return eps;
}

function helpText(eps: Map<string, Endpoint>): string {
  return `admin commands are:\n${[...eps.entries()].map(([p, e]) => `  ${p}: ${e.help}`).join('\n')}\n`;
}

async function dispatch(eps: Map<string, Endpoint>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const ep = eps.get(url.pathname);
  let reply: Reply;
  if (url.pathname === '/' || url.pathname === '/help') reply = text(helpText(eps));
  else if (!ep) reply = text(`invalid path. ${helpText(eps)}`, 404);
  else if (ep.mutates && req.method !== 'POST') reply = text(`Method ${req.method} not allowed, POST required.`, 405);
  else {
    try {
      reply = await ep.handler(url.searchParams);
    } catch (err) {
      reply = text(`${(err as Error).message}\n`, 400);
    }
  }
  res.writeHead(reply.status, { 'content-type': reply.type ?? 'text/plain', 'cache-control': 'no-cache, max-age=0', 'x-content-type-options': 'nosniff' });
  res.end(reply.body);
}

/** Starts the admin listener; resolves with where it listens (the real port when the config said 0). */
export async function startAdmin(server: StandinServer, quit: () => void): Promise<{ http: Server; where: Where } | undefined> {
  const where = whereOf(server.bootstrap.admin?.address);
  if (!where) return undefined;
  const eps = adminEndpoints(server, quit);
  const http = createServer((req, res) => {
    req.resume();
    void dispatch(eps, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    if (where.kind === 'pipe') {
      try {
        unlinkSync(where.path);
      } catch {
        // nothing to remove
      }
      http.listen(where.path, resolve);
    } else http.listen({ host: where.host, port: where.port }, resolve);
  });
  // Envoy applies the pipe's mode (Kuma asks for 0600) to the socket file.
  const mode = where.kind === 'pipe' ? Number(server.bootstrap.admin?.address?.pipe?.mode ?? 0) : 0;
  if (where.kind === 'pipe' && mode) chmodSync(where.path, mode);
  const addr = http.address();
  const actual: Where = where.kind === 'tcp' && typeof addr === 'object' && addr ? { ...where, port: addr.port } : where;
  if (server.options.adminAddressPath) writeFileSync(server.options.adminAddressPath, formatWhere(actual));
  return { http, where: actual };
}
