// The TCP access-log streamer, as Kuma's (app/kuma-dp/pkg/dataplane/accesslogs):
// the control plane points Envoy's file access logger for MeshAccessLog Tcp
// backends at <workdir>/kuma-al-<name>-<mesh>.sock, a FIFO this component
// makes before Envoy starts; each line names its collector, and goes there
// over one persistent TCP connection per address. A dead or slow collector
// loses its own lines only: nothing here ever blocks the pipe. If reading the
// pipe fails, the pipe is made again after a growing delay (5 s to 1 min), as
// Kuma's ResilientComponent restarts its streamer; it never ends the agent.
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { Counter, OwnSeries } from '../exposition/own-series.js';
import type { Component } from '../lifecycle/component.js';
import { UserError } from '../util/errors.js';
import { Destination, type DestinationCounters } from './destination.js';
import { makeFifo, openFifoReader } from './fifo.js';
import { parseRecord } from './record.js';

export interface StreamerOptions {
  /** The FIFO's path (accessLogSocketName(workdir, name, mesh)). */
  path: string;
  /** makeFifo(path) already under way (the agent starts it early, to overlap the child process with the bootstrap request). */
  made?: Promise<string>;
  log: Logger;
  /** Per collector: unsent bytes kept before its lines are dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** A longer line is dropped (default 1 MiB): a writer that never ends its line cannot grow memory. */
  maxLineBytes?: number;
  /** Distinct collector addresses at most (default 256); lines for more are dropped. */
  maxDestinations?: number;
  connectTimeoutMs?: number;
  /** Where kuma_dp_access_log_* counters go (the metrics endpoints show them). */
  series?: OwnSeries;
  /** First delay before the pipe is made again after a read failure; it doubles up to 12 times that (Kuma: 5 s → 1 min). */
  restartBackoffMs?: number;
}

export interface StreamerCounters {
  lines: number;
  invalidLines: number;
  overlongLines: number;
  destinations: Record<string, DestinationCounters>;
}

const MiB = 1024 * 1024;

/** Repeated problems are logged at the 1st, 10th, 100th… occurrence, not once per line. */
const isPowerOfTen = (n: number): boolean => /^10*$/.test(String(n));

export class AccessLogStreamer implements Component {
  readonly name = 'access-log-streamer';
  private reader: Socket | undefined;
  private readonly destinations = new Map<string, Destination>();
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private discarding = false;
  private started = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;
  private lines = 0;
  private invalidLines = 0;
  private overlongLines = 0;
  private readonly maxLineBytes: number;

  private readonly metrics: { lines: Counter; ignored: Counter; sent: Counter; dropped: Counter } | undefined;

  private early: Promise<string> | undefined;

  constructor(private readonly opts: StreamerOptions) {
    this.maxLineBytes = opts.maxLineBytes ?? MiB;
    this.early = opts.made;
    const s = opts.series;
    this.metrics = s && {
      lines: s.counter('kuma_dp_access_log_lines_total', 'Lines read from the access-log pipe.'),
      ignored: s.counter('kuma_dp_access_log_ignored_lines_total', 'Access-log lines ignored: neither record form, too long, or too many collectors.'),
      sent: s.counter('kuma_dp_access_log_sent_lines_total', 'Access-log lines written to a TCP collector, by its address.'),
      dropped: s.counter(
        'kuma_dp_access_log_dropped_lines_total',
        'Access-log lines a TCP collector lost (unreachable, or not reading fast enough), by its address.',
      ),
    };
  }

  get path(): string {
    return this.opts.path;
  }

  /** Makes the FIFO and starts reading it; the agent starts it before Envoy. A failure to make the pipe stops the agent with a clear error. */
  async start(): Promise<void> {
    this.started = true;
    await this.open();
  }

  private async open(): Promise<void> {
    const { path, log } = this.opts;
    let removed: string;
    const early = this.early;
    this.early = undefined; // a restart makes the pipe again
    try {
      removed = await (early ?? makeFifo(path));
    } catch (err) {
      // Without the pipe Envoy would fill a regular file there, or block on a stale FIFO: the agent stops before Envoy starts.
      throw new UserError(`cannot create the access-log pipe ${path}: ${(err as Error).message}; check --work-dir (KUMA_DATAPLANE_RUNTIME_WORK_DIR)`);
    }
    if (removed !== 'nothing') log.info('removed what an earlier run left at the access-log pipe', { file: path, was: removed });
    if (this.stopped) return; // stopped while a restart was making the pipe
    const reader = openFifoReader(path);
    this.reader = reader;
    reader.on('data', (chunk: Buffer) => this.onData(chunk));
    reader.on('error', (err) => this.readFailed(reader, err));
    // Holding a write end ourselves, the pipe never reads EOF; an end is a failure too.
    reader.on('close', () => this.readFailed(reader, new Error('the pipe was closed')));
    log.info('access-log pipe ready', { file: path });
  }

  private readFailed(reader: Socket, err: Error): void {
    if (this.stopped || reader !== this.reader) return;
    this.reader = undefined;
    reader.destroy();
    this.partial = [];
    this.partialBytes = 0;
    this.discarding = false;
    this.scheduleReopen(err);
  }

  private scheduleReopen(err: Error): void {
    const base = this.opts.restartBackoffMs ?? 5000;
    const delay = Math.min(base * 2 ** this.restarts, base * 12);
    this.restarts++;
    this.opts.log.error('reading the access-log pipe failed; making it again', { file: this.opts.path, error: err.message, delayMs: delay });
    this.restartTimer = setTimeout(() => {
      this.open().catch((e: Error) => {
        if (!this.stopped) this.scheduleReopen(e);
      });
    }, delay);
  }

  async stop(deadline: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.reader?.destroy();
    this.reader = undefined;
    await Promise.all([...this.destinations.values()].map((d) => d.close(deadline)));
    this.destinations.clear();
    // Kuma leaves the FIFO; removing it means no later Envoy can block opening a pipe nobody reads.
    if (this.started) rmSync(this.opts.path, { force: true });
  }

  counters(): StreamerCounters {
    const destinations: Record<string, DestinationCounters> = {};
    for (const [address, d] of this.destinations) destinations[address] = { ...d.counters };
    return { lines: this.lines, invalidLines: this.invalidLines, overlongLines: this.overlongLines, destinations };
  }

  private onData(chunk: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const piece = chunk.subarray(from, nl + 1);
      from = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const line = this.partial.length === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      if (line.length > this.maxLineBytes) this.overlong();
      else this.onLine(line);
    }
    if (from < chunk.length && !this.discarding) {
      const rest = chunk.subarray(from);
      this.partialBytes += rest.length;
      // Copied: a kept slice would pin the whole chunk.
      this.partial.push(Buffer.from(rest));
      if (this.partialBytes > this.maxLineBytes) {
        this.overlong();
        this.partial = [];
        this.partialBytes = 0;
        this.discarding = true;
      }
    }
  }

  private overlong(): void {
    this.overlongLines++;
    this.metrics?.ignored.inc();
    if (isPowerOfTen(this.overlongLines))
      this.opts.log.warn('dropping an access-log line longer than the limit', { limitBytes: this.maxLineBytes, droppedSoFar: this.overlongLines });
  }

  private onLine(line: Buffer): void {
    this.lines++;
    this.metrics?.lines.inc();
    const record = parseRecord(line);
    if ('invalid' in record) {
      this.invalidLines++;
      this.metrics?.ignored.inc();
      if (isPowerOfTen(this.invalidLines)) this.opts.log.warn('access-log line ignored', { reason: record.invalid, ignoredSoFar: this.invalidLines });
      return;
    }
    let destination = this.destinations.get(record.address);
    if (!destination) {
      if (this.destinations.size >= (this.opts.maxDestinations ?? 256)) {
        this.invalidLines++;
        this.metrics?.ignored.inc();
        if (isPowerOfTen(this.invalidLines)) this.opts.log.warn('access-log line ignored: too many TCP log destinations', { address: record.address });
        return;
      }
      destination = new Destination(record.address, {
        maxBufferedBytes: this.opts.maxBufferedBytes ?? MiB,
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 5000,
        log: this.opts.log,
        ...(this.metrics ? { series: { sent: this.metrics.sent, dropped: this.metrics.dropped } } : {}),
      });
      this.destinations.set(record.address, destination);
    }
    destination.send(record.message);
  }
}
