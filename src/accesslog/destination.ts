// One TCP collector (Logstash, Fluentd, netcat…) that access-log lines go to,
// over one persistent connection, as Kuma's logSender. Differences that keep
// a bad collector from hurting anyone else, where Kuma's sender blocks:
//  - the connection is made in the background; lines that arrive meanwhile
//    wait in a bounded buffer, and are dropped if it fails (Kuma drops the
//    line whose dial fails, and dials again for the next line);
//  - a slow collector's unsent bytes are bounded too: past the bound, its new
//    lines are dropped (Kuma would block the pipe and, with it, every other
//    destination and eventually Envoy's access-log flushes).
import { connect, isIP, type Socket } from 'node:net';
import type { Counter } from '../exposition/own-series.js';
import type { Logger } from '../log/logger.js';

export interface DestinationOptions {
  /** Unsent bytes kept for this collector, waiting for its connection or its reading; beyond that, lines are dropped. */
  maxBufferedBytes: number;
  /** As Kuma's dialer. */
  connectTimeoutMs: number;
  log: Logger;
  /** The agent's own series, labelled with this collector's address. */
  series?: { sent: Counter; dropped: Counter };
}

export interface DestinationCounters {
  sentLines: number;
  droppedLines: number;
  connects: number;
  connectFailures: number;
}

/** `host:port` as Go's net.Dial("tcp") reads it: `[v6]:port`, `v4:port`, `name:port`. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]*):(\d+)$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1]!;
  if (address.startsWith('[') && isIP(host) !== 6) return undefined;
  return { host: host === '' ? 'localhost' : host, port };
}

export class Destination {
  readonly counters: DestinationCounters = { sentLines: 0, droppedLines: 0, connects: 0, connectFailures: 0 };
  private socket: Socket | undefined;
  private connected = false;
  /** Lines waiting for the connection being made. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Set while the collector is failing: its failures are logged once, not once per line. */
  private failing = false;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly opts: DestinationOptions,
  ) {}

  /** Queues a line; false when it was dropped (collector unreachable or too far behind). Never blocks. */
  send(line: Buffer): boolean {
    if (this.closed) return this.drop(1);
    if (this.connected && this.socket) {
      if (this.socket.writableLength + line.length > this.opts.maxBufferedBytes) return this.drop(1, 'the collector is not reading fast enough');
      this.socket.write(line);
      this.sent(1);
      return true;
    }
    if (this.pendingBytes + line.length > this.opts.maxBufferedBytes) return this.drop(1, 'the connection to the collector is not up yet');
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (!this.socket) this.dial();
    return true;
  }

  /** Unsent bytes (pending a connection, or in the socket's buffer). */
  get bufferedBytes(): number {
    return this.pendingBytes + (this.socket?.writableLength ?? 0);
  }

  /** Flushes what the socket holds, until `deadline`; then closes. */
  close(deadline: number): Promise<void> {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => socket.destroy(), Math.max(0, deadline - Date.now()));
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.connected) socket.end();
      else socket.destroy();
    });
  }

  private sent(lines: number): void {
    this.counters.sentLines += lines;
    this.opts.series?.sent.inc([['address', this.address]], lines);
  }

  private dropped(lines: number): void {
    if (lines === 0) return;
    this.counters.droppedLines += lines;
    this.opts.series?.dropped.inc([['address', this.address]], lines);
  }

  private drop(lines: number, why?: string): false {
    this.dropped(lines);
    if (why && !this.failing) {
      this.failing = true;
      this.opts.log.warn('dropping access-log lines for a TCP collector', { address: this.address, reason: why });
    }
    return false;
  }

  private dial(): void {
    const target = splitHostPort(this.address);
    if (!target) {
      this.fail(new Error(`'${this.address}' is not host:port`));
      return;
    }
    const socket = connect({ host: target.host, port: target.port, timeout: this.opts.connectTimeoutMs });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('timeout', () => {
      if (!this.connected) socket.destroy(new Error(`no connection within ${this.opts.connectTimeoutMs} ms`));
    });
    socket.once('connect', () => {
      socket.setTimeout(0);
      this.connected = true;
      this.counters.connects++;
      if (this.failing || this.counters.connects === 1) this.opts.log.info('connected to TCP log destination', { address: this.address });
      this.failing = false;
      const lines = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      for (const line of lines) socket.write(line);
      this.sent(lines.length);
    });
    // What a collector says back is not read by anyone; discard it so it cannot pile up.
    socket.resume();
    socket.on('error', (err) => {
      if (!this.connected) this.fail(err);
      else if (!this.failing) {
        this.failing = true;
        this.opts.log.warn('the connection to a TCP log destination failed; its unsent lines are lost, the next line reconnects', {
          address: this.address,
          error: err.message,
        });
      }
    });
    socket.once('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.connected = false;
      // A collector that closed without an error: its unsent bytes are gone with the connection.
      if (this.pending.length > 0) this.fail(new Error('connection closed'));
    });
  }

  /** The connection could not be made: the lines waiting for it are dropped, as Kuma drops a line whose dial fails. */
  private fail(err: Error): void {
    this.counters.connectFailures++;
    const lines = this.pending.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.dropped(lines);
    if (!this.failing) {
      this.failing = true;
      this.opts.log.warn('could not connect to TCP log destination; dropping its lines until it accepts', { address: this.address, error: err.message });
    }
  }
}
