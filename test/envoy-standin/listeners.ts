// The listener manager: one listening socket per listener, filter-chain
// selection per connection, and updates that keep what they can: a listener
// whose address is unchanged keeps its socket (new connections get the new
// filter chains, existing ones keep theirs); a removed listener stops
// accepting at once and its connections are closed after the drain time.
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { isIP } from 'node:net';
import { formatWhere, statNameOf, whereOf, type Where } from './address.js';
import type { ClusterManager } from './clusters.js';
import { ConfigError } from './config.js';
import {
  typeOf,
  type CidrRange,
  type FilterChain,
  type FilterChainMatch,
  type HttpConnectionManagerConfig,
  type ListenerConfig,
  type TcpProxyConfig,
} from './envoy-config.js';
import { httpConnectionManager, type DrainSignal } from './http-connection-manager.js';
import type { Log } from './log.js';
import { statSafe, type Stats } from './stats.js';
import { tcpProxy } from './tcp-proxy.js';
import { checkAccessLogs } from './access-log.js';

export const TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

type Handler = (socket: Socket) => void;

interface Chain {
  match: FilterChainMatch;
  handler: Handler | undefined;
}

export interface ActiveListener {
  name: string;
  config: ListenerConfig;
  where: Where | undefined;
  addedViaApi: boolean;
  versionInfo: string;
  lastUpdated: string;
  server?: Server;
  /** The port actually bound (differs from the config when it asked for port 0). */
  boundPort?: number;
  chains: Chain[];
  defaultChain?: Chain;
  connections: Set<Socket>;
  statPrefix: string;
  draining: boolean;
  drainStartedAt?: number;
  stopped: boolean;
}

/** What the server's drain state says about drain-close for a listener (Envoy's DrainManager). */
export interface DrainPolicy {
  drainClose(listener: ActiveListener): boolean;
}

function ipInPrefix(ip: string, range: CidrRange): boolean {
  const prefix = String(range.address_prefix ?? '');
  const len = Number(range.prefix_len ?? (isIP(prefix) === 6 ? 128 : 32));
  const v4 = ip.replace(/^::ffff:/, '');
  if (isIP(v4) === 4 && isIP(prefix) === 4) {
    const toInt = (a: string): number => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
    const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
    return (toInt(v4) & mask) === (toInt(prefix) & mask);
  }
  return ip === prefix;
}

/** Whether a plain-TCP connection satisfies a FilterChainMatch (TLS/ALPN criteria cannot match raw bytes). */
function chainMatches(match: FilterChainMatch, socket: Socket): boolean {
  if (match.destination_port !== undefined && Number(match.destination_port) !== socket.localPort) return false;
  if (match.prefix_ranges?.length && !match.prefix_ranges.some((r) => ipInPrefix(socket.localAddress ?? '', r))) return false;
  if (match.source_prefix_ranges?.length && !match.source_prefix_ranges.some((r) => ipInPrefix(socket.remoteAddress ?? '', r))) return false;
  if (match.direct_source_prefix_ranges?.length && !match.direct_source_prefix_ranges.some((r) => ipInPrefix(socket.remoteAddress ?? '', r))) return false;
  if (match.source_ports?.length && !match.source_ports.map(Number).includes(socket.remotePort ?? -1)) return false;
  if (match.server_names?.length || match.application_protocols?.length) return false;
  if (match.transport_protocol && match.transport_protocol !== 'raw_buffer') return false;
  return true;
}

/** Envoy prefers the more specific match: a destination port, then an address range, then the rest in order. */
function specificity(match: FilterChainMatch): number {
  return (match.destination_port !== undefined ? 2 : 0) + (match.prefix_ranges?.length ? 1 : 0);
}

/** Rejections Envoy makes when a listener is added, beyond the proto rules. */
export function checkListener(l: ListenerConfig): void {
  if (!l.address && !l.api_listener) throw new ConfigError(`error adding listener named '${l.name}': address is necessary`);
  const w = whereOf(l.address);
  if (w?.kind === 'tcp' && isIP(w.host) === 0) throw new ConfigError(`error adding listener named '${l.name}': malformed IP address: ${w.host}`);
  const seen = new Set<string>();
  for (const chain of l.filter_chains ?? []) {
    const key = JSON.stringify(chain.filter_chain_match ?? {});
    if (seen.has(key))
      throw new ConfigError(`error adding listener '${w ? formatWhere(w) : l.name}': multiple filter chains with the same matching rules are defined`);
    seen.add(key);
    for (const filter of chain.filters ?? []) checkAccessLogs(filter.typed_config?.access_log);
  }
}

export class ListenerManager {
  private readonly listeners = new Map<string, ActiveListener>();
  /** Removed listeners whose connections are still draining. */
  private readonly draining = new Set<ActiveListener>();

  constructor(
    private readonly clusters: ClusterManager,
    private readonly stats: Stats,
    private readonly log: Log,
    private readonly drainPolicy: DrainPolicy,
    private readonly drainTimeMs: number,
  ) {
    for (const s of ['listener_added', 'listener_modified', 'listener_removed', 'listener_create_success', 'listener_create_failure'])
      stats.declare(`listener_manager.${s}`, 'counter');
    for (const s of ['total_listeners_active', 'total_listeners_draining', 'total_listeners_warming']) stats.declare(`listener_manager.${s}`, 'gauge');
  }

  all(): ActiveListener[] {
    return [...this.listeners.values()];
  }

  get(name: string): ActiveListener | undefined {
    return this.listeners.get(name);
  }

  /**
   * Adds or updates a set of listeners together: every new socket is bound
   * before anything changes, so a bind failure rejects the whole update.
   */
  async apply(configs: ListenerConfig[], viaApi: boolean, versionInfo: string, removeOthers: boolean): Promise<void> {
    const plan: Array<{ config: ListenerConfig; existing?: ActiveListener; where?: Where; reuse: boolean }> = [];
    for (const config of configs) {
      checkListener(config);
      const existing = this.listeners.get(config.name ?? '');
      if (existing && viaApi && !existing.addedViaApi)
        throw new ConfigError(`error adding listener named '${config.name}': a static listener of that name exists and cannot be updated`);
      if (existing && JSON.stringify(existing.config) === JSON.stringify(config)) continue;
      const where = config.bind_to_port === false ? undefined : whereOf(config.address);
      const reuse =
        !!existing &&
        !existing.stopped &&
        JSON.stringify(existing.config.address) === JSON.stringify(config.address) &&
        existing.server !== undefined &&
        where !== undefined;
      plan.push({ config, existing, where, reuse });
    }
    const bound: Array<{ server: Server; port?: number } | undefined> = [];
    try {
      for (const p of plan) bound.push(p.reuse || !p.where ? undefined : await this.bind(p.config.name ?? '', p.where));
    } catch (err) {
      for (const b of bound) b?.server.close();
      throw err;
    }
    plan.forEach((p, i) => this.install(p.config, p.existing, p.reuse, bound[i], viaApi, versionInfo));
    if (removeOthers) {
      const keep = new Set(configs.map((c) => c.name ?? ''));
      for (const name of [...this.listeners.keys()]) if (!keep.has(name) && this.listeners.get(name)!.addedViaApi) this.remove(name);
    }
  }

  remove(name: string): void {
    const l = this.listeners.get(name);
    if (!l) return;
    this.listeners.delete(name);
    this.retire(l);
    this.stats.inc('listener_manager.listener_removed');
    this.stats.set('listener_manager.total_listeners_active', this.listeners.size);
    this.log('info', `removed listener '${name}'`);
  }

  /** A listener replaced or removed: it stops accepting, and its connections are closed after the drain time. */
  private retire(l: ActiveListener): void {
    this.stopAccepting(l);
    if (l.connections.size === 0) return;
    l.draining = true;
    l.drainStartedAt = Date.now();
    this.draining.add(l);
    this.stats.set('listener_manager.total_listeners_draining', this.draining.size);
    setTimeout(() => {
      for (const c of l.connections) c.destroy();
      this.draining.delete(l);
      this.stats.set('listener_manager.total_listeners_draining', this.draining.size);
    }, this.drainTimeMs).unref();
  }

  /** Stops accepting on a listener (drain_listeners): the socket closes, connections stay. */
  stopAccepting(l: ActiveListener): void {
    if (l.stopped) return;
    l.stopped = true;
    l.server?.close();
  }

  /** Closes every listening socket and connection (shutdown). */
  closeAll(): void {
    for (const l of [...this.listeners.values(), ...this.draining]) {
      l.server?.close();
      for (const c of l.connections) c.destroy();
    }
  }

  private bind(name: string, where: Where): Promise<{ server: Server; port?: number }> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false });
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const reason = err.code === 'EADDRINUSE' ? 'Address already in use' : err.code === 'EACCES' ? 'Permission denied' : err.message;
        reject(new ConfigError(`cannot bind '${formatWhere(where)}': ${reason} (listener '${name}')`));
      });
      const onListening = (): void => {
        const addr = server.address();
        resolve({ server, port: typeof addr === 'object' && addr ? addr.port : undefined });
      };
      if (where.kind === 'pipe') {
        try {
          unlinkSync(where.path);
        } catch {
          // nothing to remove
        }
        server.listen(where.path, onListening);
      } else server.listen({ host: where.host, port: where.port, ipv6Only: false }, onListening);
    });
  }

  private install(
    config: ListenerConfig,
    existing: ActiveListener | undefined,
    reuse: boolean,
    bound: { server: Server; port?: number } | undefined,
    viaApi: boolean,
    versionInfo: string,
  ): void {
    const where = config.bind_to_port === false ? undefined : whereOf(config.address);
    const statWhere = whereOf(config.address);
    const listener: ActiveListener = {
      name: config.name ?? '',
      config,
      where,
      addedViaApi: viaApi,
      versionInfo,
      lastUpdated: new Date().toISOString(),
      server: reuse ? existing!.server : bound?.server,
      boundPort: reuse ? existing!.boundPort : bound?.port,
      chains: [],
      connections: reuse ? existing!.connections : new Set(),
      statPrefix: `listener.${statSafe(config.stat_prefix || (statWhere ? statNameOf(statWhere) : (config.name ?? '')))}.`,
      draining: false,
      stopped: false,
    };
    const drain: DrainSignal = { drainClose: () => this.drainPolicy.drainClose(listener) };
    const build = (chain: FilterChain): Chain => ({ match: chain.filter_chain_match ?? {}, handler: this.terminalFilter(chain, listener, drain) });
    listener.chains = (config.filter_chains ?? []).map(build);
    if (config.default_filter_chain) listener.defaultChain = build(config.default_filter_chain);
    for (const s of ['downstream_cx_total', 'downstream_cx_destroy', 'no_filter_chain_match']) this.stats.declare(listener.statPrefix + s, 'counter');
    this.stats.declare(listener.statPrefix + 'downstream_cx_active', 'gauge');
    // The address changed: the old socket goes, its connections drain as for a removed listener.
    if (existing && !reuse) this.retire(existing);
    // Same socket, new config: connections made under the old config stay open, and HTTP ones are
    // asked to close after their current request, so clients come back to the new one.
    if (existing && reuse) existing.draining = true;
    if (listener.server) {
      listener.server.removeAllListeners('connection');
      listener.server.on('connection', (socket: Socket) => this.accept(listener, socket));
    }
    this.listeners.set(listener.name, listener);
    this.stats.inc(existing ? 'listener_manager.listener_modified' : 'listener_manager.listener_added');
    this.stats.inc('listener_manager.listener_create_success');
    this.stats.set('listener_manager.total_listeners_active', this.listeners.size);
    this.log(
      'info',
      `${existing ? 'updated' : 'added'} listener '${listener.name}'${where ? ` on ${formatWhere(where.kind === 'tcp' ? { ...where, port: listener.boundPort ?? where.port } : where)}` : ''}`,
    );
  }

  private terminalFilter(chain: FilterChain, listener: ActiveListener, drain: DrainSignal): Handler | undefined {
    for (const filter of chain.filters ?? []) {
      const type = typeOf(filter.typed_config);
      // The validator checked each typed_config against the message its @type names.
      if (type === TCP_PROXY) return tcpProxy(filter.typed_config as TcpProxyConfig, this.clusters, this.stats, this.log);
      if (type === HCM) return httpConnectionManager(filter.typed_config as HttpConnectionManagerConfig, this.clusters, this.stats, this.log, drain);
      this.log('debug', `listener '${listener.name}': network filter '${filter.name}' is passed over by this test double`);
    }
    this.log('warning', `listener '${listener.name}': a filter chain has no tcp_proxy or http_connection_manager; its connections are closed`);
    return undefined;
  }

  private accept(listener: ActiveListener, socket: Socket): void {
    const p = listener.statPrefix;
    this.stats.inc(p + 'downstream_cx_total');
    this.stats.add(p + 'downstream_cx_active', 1);
    listener.connections.add(socket);
    socket.once('close', () => {
      listener.connections.delete(socket);
      this.stats.add(p + 'downstream_cx_active', -1);
      this.stats.inc(p + 'downstream_cx_destroy');
    });
    socket.on('error', () => socket.destroy());
    const candidates = listener.chains.filter((c) => chainMatches(c.match, socket)).sort((a, b) => specificity(b.match) - specificity(a.match));
    const chain = candidates[0] ?? listener.defaultChain;
    if (!chain?.handler) {
      if (!chain) this.stats.inc(p + 'no_filter_chain_match');
      socket.destroy();
      return;
    }
    chain.handler(socket);
  }
}
