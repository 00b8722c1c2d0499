// The dynamic-configuration fetcher: the control plane puts JSON documents
// (`/dns`, `/meshmetric`) into an Envoy listener on
// <workdir>/kuma-mesh-metric-config.sock as direct responses; this polls them
// with Kuma's protocol (If-None-Match with the last ETag; 200 = new config,
// 304 = unchanged) and hands each new body to its consumer. Steps never
// overlap; nothing here is fatal. One difference from Kuma: when a route goes
// away (404) after a config was applied, the consumer is told the config was
// removed (Kuma keeps the last one in force forever).
import { request } from 'node:http';
import type { Logger } from '../log/logger.js';
import type { OwnSeries, Counter, Histogram } from '../exposition/own-series.js';
import { NO_SERVER_NAME_GUESS } from '../util/loopback.js';

export interface DynconfConsumer {
  readonly path: string;
  /** A new body (200), or undefined when the control plane removed the route. Throwing rejects it: it is fetched again next time. */
  apply(body: string | undefined): void | Promise<void>;
}

export interface DynconfResponse {
  status: number;
  etag?: string;
  body: string;
}

export type DynconfGet = (path: string, etag: string | undefined) => Promise<DynconfResponse>;

/** Time as the fetcher sees it; tests pass a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** GET over the Envoy listener's Unix socket, 5 s timeout as Kuma's client. */
export function unixSocketGet(socketPath: string, timeoutMs = 5000): DynconfGet {
  return (path, etag) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: 'localhost' };
      if (etag) headers['if-none-match'] = etag;
      const req = request({ socketPath, path, headers, timeout: timeoutMs, agent: false, ...NO_SERVER_NAME_GUESS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const tag = res.headers.etag;
          resolve({ status: res.statusCode ?? 0, ...(tag ? { etag: tag } : {}), body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
}

export interface FetcherOptions {
  get: DynconfGet;
  consumers: readonly DynconfConsumer[];
  intervalMs: number;
  series: OwnSeries;
  log: Logger;
  clock?: Clock;
}

interface PathState {
  etag?: string;
  applied: boolean;
  everApplied?: boolean;
  /** The last outcome logged, so that a failure repeated every second is logged once. */
  state?: string;
}

export class ConfigFetcher {
  readonly name = 'dynamic-config-fetcher';
  private readonly states = new Map<string, PathState>();
  private readonly clock: Clock;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private readonly calls: Counter;
  private readonly errors: Counter;
  private readonly durations: Histogram;

  constructor(private readonly opts: FetcherOptions) {
    this.clock = opts.clock ?? realClock;
    for (const c of opts.consumers) this.states.set(c.path, { applied: false });
    this.calls = opts.series.counter(
      'kuma_dp_envoyconfigfetcher_handler_call_count',
      'Number of times a handler has been called, unlike kuma_dp_envoyconfigfetcher_handler_call_duration_seconds this is inclusive of not modified cases',
    );
    this.durations = opts.series.histogram(
      'kuma_dp_envoyconfigfetcher_handler_call_duration_seconds',
      'The duration for the envoy configuration to be fetched and processed by the handler. This is not computed when no change happened',
    );
    this.errors = opts.series.counter('kuma_dp_envoyconfigfetcher_handler_error_count', 'Number of times the handler encountered an error');
  }

  start(): Promise<void> {
    this.loop = this.run();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const began = this.clock.now();
      await this.step();
      // As Go's ticker: the next step on the next tick, at once if this one overran.
      const wait = Math.max(0, began + this.opts.intervalMs - this.clock.now());
      await this.clock.sleep(wait, this.stopping.signal);
    }
  }

  /** One pass over every path, one after the other. */
  async step(): Promise<void> {
    for (const consumer of this.opts.consumers) {
      if (this.stopping.signal.aborted) return;
      await this.fetchOne(consumer);
    }
  }

  private async fetchOne(consumer: DynconfConsumer): Promise<void> {
    const state = this.states.get(consumer.path)!;
    const labels: Array<[string, string]> = [['path', consumer.path]];
    const began = this.clock.now();
    let res: DynconfResponse;
    try {
      res = await this.opts.get(consumer.path, state.etag);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: no listener (not yet, or removed with its socket file); ECONNREFUSED: removed, its socket file left behind.
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        if (state.everApplied)
          this.report(state, consumer.path, 'gone', 'info', 'the dynamic configuration listener is gone; the last configuration stays', { code });
        else this.report(state, consumer.path, 'absent', 'debug', 'no dynamic configuration listener yet', { code });
      } else
        this.report(state, consumer.path, `error:${(err as Error).message}`, 'warn', 'could not fetch dynamic configuration', {
          error: (err as Error).message,
        });
      return;
    }
    this.calls.inc(labels);
    if (res.status === 304) return;
    if (res.status === 404) {
      delete state.etag;
      if (state.applied) {
        state.applied = false;
        this.report(state, consumer.path, 'removed', 'info', 'dynamic configuration removed by the control plane');
        await this.apply(consumer, state, undefined, labels);
      } else this.report(state, consumer.path, 'none', 'debug', 'no dynamic configuration for this path');
      return;
    }
    if (res.status !== 200) {
      delete state.etag;
      this.errors.inc(labels);
      this.report(state, consumer.path, `status:${res.status}`, 'warn', 'unexpected status fetching dynamic configuration', { status: res.status });
      return;
    }
    delete state.etag;
    if (await this.apply(consumer, state, res.body, labels)) {
      if (res.etag) state.etag = res.etag;
      state.applied = true;
      state.everApplied = true;
      this.durations.observe((this.clock.now() - began) / 1000, labels);
      this.report(state, consumer.path, `ok:${res.etag ?? ''}`, 'info', 'dynamic configuration applied', { etag: res.etag });
    }
  }

  private async apply(consumer: DynconfConsumer, state: PathState, body: string | undefined, labels: Array<[string, string]>): Promise<boolean> {
    try {
      await consumer.apply(body);
      return true;
    } catch (err) {
      this.errors.inc(labels);
      this.report(state, consumer.path, `rejected:${(err as Error).message}`, 'warn', 'dynamic configuration rejected', { error: (err as Error).message });
      return false;
    }
  }

  private report(state: PathState, path: string, outcome: string, level: 'debug' | 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}): void {
    if (state.state === outcome) return;
    state.state = outcome;
    this.opts.log[level](msg, { path, ...fields });
  }
}
