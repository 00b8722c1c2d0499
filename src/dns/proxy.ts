// The embedded DNS proxy (Kuma's dnsproxy): answers A and AAAA questions for
// the mesh's names from the `/dns` map (authoritative; an empty answer when
// the name has no address of the asked family) and forwards everything else,
// byte for byte, to the system's resolver over UDP. Served on UDP and TCP.
// The map is swapped whole, so a reload never drops a query.
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { Counter, Gauge, Histogram, OwnSeries } from '../exposition/own-series.js';
import type { FailureReport } from '../lifecycle/component.js';
import { UserError } from '../util/errors.js';
import { applyServerLimits } from '../util/server-limits.js';
import { EMPTY_DNS_MAP, parseDnsMap, type DnsMap } from './map.js';

type DnsPacket = typeof import('dns-packet');

export const DNS_PATH = '/dns';

export interface Upstream {
  host: string;
  port: number;
}

export interface DnsProxyOptions {
  /** Addresses to serve on, each on UDP and TCP. */
  addresses: string[];
  port: number;
  upstream: Upstream;
  series: OwnSeries;
  log: Logger;
  upstreamTimeoutMs?: number;
  now?: () => number;
}

const QR_OPCODE_MASK = 0x7800;
const RD = 0x0100;
const CD = 0x0010;
const AA = 0x0400;
const RCODE = { NOERROR: 0, SERVFAIL: 2 } as const;

interface DnsMetrics {
  requestDuration: Histogram;
  upstreamDuration: Histogram;
  upstreamFailures: Counter;
  queries: Counter;
  responseCodes: Counter;
  entries: Gauge;
  readyWait: Histogram;
}

export class DnsProxy {
  readonly name = 'dns-proxy';
  private map: DnsMap = EMPTY_DNS_MAP;
  private configured = false;
  private readonly created: number;
  private packet!: DnsPacket;
  private createSocket!: typeof import('node:dgram').createSocket;
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: Server[] = [];
  private readonly tcpConnections = new Set<Socket>();
  private readonly metrics: DnsMetrics;
  private readonly readyWaiters: Array<() => void> = [];
  private boundPort?: number;
  private failed: FailureReport = () => undefined;

  constructor(private readonly opts: DnsProxyOptions) {
    const now = opts.now ?? Date.now;
    this.created = now();
    const s = opts.series;
    this.metrics = {
      requestDuration: s.histogram('kuma_dp_dns_request_duration_seconds', 'The duration of the request (inclusive of request that use internal DNS map).'),
      upstreamDuration: s.histogram('kuma_dp_dns_upstream_request_duration_seconds', 'The duration of the proxied requests.'),
      upstreamFailures: s.counter('kuma_dp_dns_upstream_request_failure_count', 'The total number of failed upstream requests.'),
      queries: s.counter('kuma_dp_dns_queries_total', 'Total DNS queries handled, by query type and source (local map or upstream).'),
      responseCodes: s.counter('kuma_dp_dns_response_codes_total', 'Total DNS responses by response code.'),
      entries: s.gauge('kuma_dp_dns_entries_total', 'Current number of hostnames in the DNS proxy map.'),
      readyWait: s.histogram(
        'kuma_dp_dns_config_ready_wait_seconds',
        'Time between DNS proxy creation and first configuration received from Envoy.',
        [0.1, 0.5, 1, 2, 5, 10, 30],
      ),
    };
  }

  /** The port actually bound (the configured one, or the one the OS chose for 0). */
  get port(): number | undefined {
    return this.boundPort;
  }

  /** Whether the first map has arrived (readiness waits for it). */
  get ready(): boolean {
    return this.configured;
  }

  /** Resolves when the first map arrives. */
  whenReady(): Promise<void> {
    return this.configured ? Promise.resolve() : new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** The `/dns` dynamic-config consumer. */
  readonly consumer = {
    path: DNS_PATH,
    apply: (body: string | undefined): void => this.reload(body === undefined ? EMPTY_DNS_MAP : parseDnsMap(body)),
  };

  reload(map: DnsMap): void {
    this.map = map;
    for (const ip of map.skipped) this.opts.log.warn('DNS map: not an IP address, skipped', { ip });
    this.metrics.entries.set(map.names.size, this.labels());
    this.opts.log.info('DNS map loaded', { names: map.names.size, ttl: map.ttl });
    if (!this.configured) {
      this.configured = true;
      this.metrics.readyWait.observe(((this.opts.now ?? Date.now)() - this.created) / 1000, this.labels());
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    }
  }

  async start(failed: FailureReport = () => undefined): Promise<void> {
    this.failed = failed;
    // Loaded here, not at start-up: most proxies run without the DNS proxy.
    [this.packet, { createSocket: this.createSocket }] = await Promise.all([import('dns-packet'), import('node:dgram')]);
    let port = this.opts.port;
    for (const address of this.opts.addresses) {
      port = await this.listenUdp(address, port);
      await this.listenTcp(address, port);
    }
    this.boundPort = port;
    this.opts.log.info('DNS proxy listening', {
      addresses: this.opts.addresses,
      port,
      protocols: ['udp', 'tcp'],
      upstream: `${this.opts.upstream.host}:${this.opts.upstream.port}`,
    });
  }

  async stop(): Promise<void> {
    for (const c of this.tcpConnections) c.destroy();
    await Promise.all([
      ...this.udp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      ...this.tcp.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ]);
    this.udp.length = 0;
    this.tcp.length = 0;
  }

  private bindError(address: string, port: number, proto: string, err: NodeJS.ErrnoException): UserError {
    const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
    return new UserError(`DNS proxy: cannot listen on ${proto} ${address}:${port} (${why}); set --dns-proxy-port (KUMA_DNS_PROXY_PORT) or --dns-enabled=false`);
  }

  private listenUdp(address: string, port: number): Promise<number> {
    const socket = this.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', ipv6Only: address.includes(':') });
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => reject(this.bindError(address, port, 'UDP', err)));
      socket.bind(port, address, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.failed(new Error(`DNS proxy: UDP socket on ${address}:${port} failed: ${err.message}`)));
        socket.on('message', (msg, rinfo) => {
          void this.answer(msg).then((reply) => {
            if (reply) socket.send(reply, rinfo.port, rinfo.address);
          });
        });
        this.udp.push(socket);
        resolve(socket.address().port);
      });
    });
  }

  private listenTcp(address: string, port: number): Promise<void> {
    // DNS over TCP: connections a client keeps open are closed when idle, and their number is bounded.
    const server = applyServerLimits(
      createServer((conn) => this.serveTcp(conn)),
      { idleTimeoutMs: 30_000 },
    );
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(this.bindError(address, port, 'TCP', err)));
      server.listen({ port, host: address, ipv6Only: address.includes(':') }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.failed(new Error(`DNS proxy: TCP socket on ${address}:${port} failed: ${err.message}`)));
        this.tcp.push(server);
        resolve();
      });
    });
  }

  /** DNS over TCP: two-byte length, then the message; several queries may share a connection. */
  private serveTcp(conn: Socket): void {
    this.tcpConnections.add(conn);
    conn.setTimeout(10_000, () => conn.destroy());
    conn.on('close', () => this.tcpConnections.delete(conn));
    conn.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > 65_537) return void conn.destroy();
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const msg = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        void this.answer(msg).then((reply) => {
          if (!reply || conn.destroyed) return;
          const framed = Buffer.alloc(2 + reply.length);
          framed.writeUInt16BE(reply.length, 0);
          reply.copy(framed, 2);
          conn.write(framed);
        });
      }
    });
  }

  private labels(): Array<[string, string]> {
    return Object.entries(this.map.extraLabels);
  }

  /** The reply to one message, or undefined when it is not a query worth answering. */
  async answer(msg: Buffer): Promise<Buffer | undefined> {
    const began = process.hrtime.bigint();
    let query: ReturnType<DnsPacket['decode']>;
    try {
      query = this.packet.decode(msg);
    } catch {
      return undefined; // not DNS: no answer, as a resolver drops garbage
    }
    if (query.type !== 'query') return undefined;
    const question = query.questions?.[0];
    const labels = this.labels();
    const qtype = question?.type === 'A' || question?.type === 'AAAA' ? question.type : 'other';
    const local = question && qtype !== 'other' && question.class === 'IN' ? this.map.names.get(question.name) : undefined;
    let reply: Buffer;
    let rcode: number;
    if (local && question) {
      const ips = qtype === 'A' ? local.a : local.aaaa;
      reply = this.packet.encode({
        id: query.id,
        type: 'response',
        flags: ((query.flags ?? 0) & (QR_OPCODE_MASK | RD | CD)) | AA,
        questions: [question],
        answers: ips.map((ip) => ({ name: question.name, type: qtype as 'A', class: 'IN' as const, ttl: this.map.ttl, data: ip })),
      });
      rcode = RCODE.NOERROR;
      this.metrics.queries.inc([...labels, ['qtype', qtype], ['source', 'local']]);
    } else {
      this.metrics.queries.inc([...labels, ['qtype', qtype], ['source', 'upstream']]);
      const upstreamBegan = process.hrtime.bigint();
      try {
        reply = await this.forward(msg, query.id ?? 0);
        rcode = reply.length >= 4 ? reply.readUInt16BE(2) & 0xf : RCODE.SERVFAIL;
        this.metrics.upstreamDuration.observe(Number(process.hrtime.bigint() - upstreamBegan) / 1e9, labels);
      } catch (err) {
        this.metrics.upstreamFailures.inc(labels);
        this.opts.log.debug('DNS upstream failed; answering SERVFAIL', { name: question?.name, error: (err as Error).message });
        reply = this.packet.encode({
          id: query.id,
          type: 'response',
          flags: ((query.flags ?? 0) & (QR_OPCODE_MASK | RD | CD)) | RCODE.SERVFAIL,
          questions: query.questions ?? [],
        });
        rcode = RCODE.SERVFAIL;
      }
    }
    this.metrics.responseCodes.inc([...labels, ['rcode', rcode === 0 ? 'noerror' : rcode === 3 ? 'nxdomain' : rcode === 2 ? 'servfail' : 'other']]);
    this.metrics.requestDuration.observe(Number(process.hrtime.bigint() - began) / 1e9, labels);
    return reply;
  }

  /** Relays the query as received to the upstream resolver over UDP; the first reply with the same ID is the answer. */
  private forward(msg: Buffer, id: number): Promise<Buffer> {
    const { host, port } = this.opts.upstream;
    const timeoutMs = this.opts.upstreamTimeoutMs ?? 2000;
    const socket = this.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (err) => (clearTimeout(timer), reject(err)));
      socket.on('message', (reply) => {
        if (reply.length < 2 || reply.readUInt16BE(0) !== id) return;
        clearTimeout(timer);
        resolve(reply);
      });
      socket.send(msg, port, host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        reject(err);
      });
    }).finally(() => socket.close());
  }
}
