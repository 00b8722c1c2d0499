// Supervision of Envoy and the components beside it, run by one component
// manager: the components that listen on ports start first (a busy port stops
// the agent before Envoy is spawned), then Envoy, then those that cannot fail
// at start and need nothing before Envoy (kept off the start path); they stop
// in reverse. The
// components watch the agent's phase (starting → live → draining → stopping).
// When Envoy exits, the restart policy decides: exit with Envoy's status (the
// default, as Kuma), or start it again after a growing delay until the
// crash-loop limit. Another component failing after it started stops the
// agent (status 1). On SIGTERM/SIGINT (or POST /quitquitquit) the agent
// drains: /healthcheck/fail, then a wait that ends at --drain-time, or early
// once inbound listeners have no connections after --drain-min-time (a
// second signal cuts it short); then Envoy is stopped (SIGTERM, SIGKILL after
// a grace period) and the agent exits 0. A third signal exits at once.
// SIGUSR2 (or POST /drain) drains inbound listeners and keeps running.
// Time comes from a Clock and Envoy through an interface, so all of this is
// unit-tested in-process (test/lifecycle/supervisor.test.ts).
import type { RestartSettings } from '../config/agent-config.js';
import { envoyServerState, type AdminClient } from '../envoy/admin.js';
import type { EnvoyExit } from '../envoy/process.js';
import { sleep, systemClock, type Clock } from '../lifecycle/clock.js';
import { ComponentManager, type Component } from '../lifecycle/component.js';
import { Lifecycle, type AgentControls } from '../lifecycle/phase.js';
import type { Logger } from '../log/logger.js';
import type { AgentStats } from '../lifecycle/agent-stats.js';
import { formatDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { ConfigDumps, type DumpDir } from './config-dump.js';
import { drainWait } from './drain.js';
import { RestartPolicy } from './restart-policy.js';
import type { ShutdownSignals } from './signals.js';

/** What the supervisor needs of Envoy's process (src/envoy/process.ts has the real one). */

/** Kuma's kuma-dp gives /healthcheck/fail and /drain_listeners 10 s. */
const ADMIN_POST_TIMEOUT_MS = 10_000;
export interface SupervisedEnvoy extends Component {
  readonly pid: number | undefined;
  /** Envoy's last stderr lines. */
  lastLines(): string[];
  /** SIGKILL now. */
  kill(): void;
}

export interface SuperviseOptions {
  envoy: SupervisedEnvoy;
  admin: AdminClient;
  drainTimeMs: number;
  drainMinTimeMs: number;
  /** Inbound ports known from the Dataplane; Envoy's inbound:* listeners are found too. */
  inboundPorts: readonly number[];
  /** How long Envoy gets between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** How long the other components get to stop. */
  componentStopMs?: number;
  restart: RestartSettings;
  workDir: DumpDir;
  signals: ShutdownSignals;
  stats: AgentStats;
  log: Logger;
  clock?: Clock;
}

const SIGNAL_STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
const LIVE_POLL_FIRST_MS = 50;
const LIVE_POLL_MAX_MS = 1000;
const LIVE_POLL_SLOW_MS = 5000;
const LIVE_POLL_SLOW_AFTER_MS = 60_000;
const COMPONENT_STOP_MS = 5000;

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export class Supervisor {
  readonly lifecycle = new Lifecycle();
  readonly controls: AgentControls;
  private readonly clock: Clock;
  private readonly manager: ComponentManager;
  private readonly dumps: ConfigDumps;
  private readonly policy: RestartPolicy;
  /** Resolves when the current Envoy exits on its own; a new one per start. */
  private envoyExit = deferred<EnvoyExit>();
  private readonly otherFailure = deferred<{ component: Component; error: Error }>();
  /** Counts Envoy starts, so a poll for the previous one stops. */
  private generation = 0;

  constructor(private readonly opts: SuperviseOptions) {
    this.clock = opts.clock ?? systemClock;
    this.dumps = new ConfigDumps(opts.admin, opts.workDir, this.clock, opts.log.child('config-dump'));
    this.policy = new RestartPolicy(opts.restart);
    this.manager = new ComponentManager({
      log: opts.log,
      clock: this.clock,
      onFailure: (component, error) => {
        if (component !== opts.envoy) return this.otherFailure.resolve({ component, error });
        const exit = (error as { exit?: EnvoyExit }).exit ?? { code: null, signal: null, status: 1 };
        this.envoyExit.resolve(exit);
      },
    });
    this.controls = {
      shutdown: (reason) => opts.signals.trigger(reason),
      drainInbound: (reason) => this.drainInbound(reason),
      dumpConfig: async (reason) => {
        const file = await this.dumps.save();
        opts.log.info('Envoy config dump saved', { file, reason });
        return file;
      },
    };
  }

  private get componentStopMs(): number {
    return this.opts.componentStopMs ?? COMPONENT_STOP_MS;
  }

  /** Drains inbound listeners only and keeps running, as Kuma does for native sidecars. */
  private async drainInbound(reason: string): Promise<void> {
    this.opts.log.info('draining inbound listeners; kuma-dp keeps running', { reason });
    const res = await this.opts.admin('POST', '/drain_listeners?inboundonly&graceful&skip_exit', ADMIN_POST_TIMEOUT_MS);
    if (res.status !== 200) throw new Error(`Envoy answered /drain_listeners with ${res.status}: ${res.body.trim()}`);
  }

  /** Polls Envoy's /ready (growing intervals, at most once a second, slower after a minute) until LIVE, then enters 'live'. */
  private watchUntilLive(): void {
    const generation = this.generation;
    const { envoy, log } = this.opts;
    const gone = (): boolean => generation !== this.generation || !this.manager.isRunning(envoy) || this.lifecycle.terminating;
    const began = this.clock.now();
    const poll = async (wait: number): Promise<void> => {
      if (gone()) return;
      const state = await envoyServerState(this.opts.admin);
      if (gone()) return;
      if (state?.live) {
        this.lifecycle.enter('live', { pid: envoy.pid });
        log.info('Envoy is live', { pid: envoy.pid });
        this.dumps.refreshEvery();
        return;
      }
      // Once a second at most; after a minute without LIVE (Envoy waiting on its control plane), every few seconds.
      const cap = this.clock.now() - began > LIVE_POLL_SLOW_AFTER_MS ? LIVE_POLL_SLOW_MS : LIVE_POLL_MAX_MS;
      this.clock.setTimeout(() => void poll(Math.min(cap, wait * 2)), wait);
    };
    void poll(LIVE_POLL_FIRST_MS);
  }

  /** Starts Envoy (again); its exit is awaited through `envoyExit`. */
  private async startEnvoy(): Promise<void> {
    this.envoyExit = deferred();
    this.generation += 1;
    await this.manager.start(this.opts.envoy);
    this.opts.stats.envoyStarts += 1;
  }

  private stopOthers(): Promise<void> {
    return this.manager.stopAll(this.clock.now() + this.componentStopMs);
  }

  /**
   * Starts `beside` in order, then Envoy, then `after` (components that need
   * nothing before Envoy runs), and supervises them until Envoy is gone (and
   * not restarted); resolves with the agent's exit status.
   */
  async run(beside: readonly Component[], after: readonly Component[] = []): Promise<number> {
    const { log, signals, envoy } = this.opts;
    const stopHandlingDrain = signals.onDrainRequest(() => {
      this.controls.drainInbound('SIGUSR2').catch((err: Error) => log.warn('could not drain inbound listeners', { error: err.message }));
    });
    const firstSignal = signals.nth(1);
    try {
      await this.manager.startAll(beside, this.componentStopMs);
      try {
        await this.startEnvoy();
      } catch (err) {
        await this.stopOthers();
        throw new UserError(`could not start Envoy: ${(err as Error).message}; check --binary-path (KUMA_DATAPLANE_RUNTIME_BINARY_PATH)`);
      }
      // If one of these cannot start, startAll stops everything running (Envoy included) and rethrows.
      await this.manager.startAll(after, this.componentStopMs);
      this.watchUntilLive();

      for (;;) {
        const event = await Promise.race([
          this.envoyExit.promise.then((exit) => ({ kind: 'exit' as const, exit })),
          this.otherFailure.promise.then((failure) => ({ kind: 'failure' as const, ...failure })),
          firstSignal.then((signal) => ({ kind: 'signal' as const, signal })),
        ]);
        if (event.kind === 'signal') return await this.shutdown(event.signal);
        if (event.kind === 'failure') {
          log.error('a component stopped working; stopping kuma-dp', { component: event.component.name, error: event.error.message });
          this.lifecycle.enter('stopping', { component: event.component.name });
          await this.manager.stop(envoy, this.clock.now() + this.opts.killGraceMs);
          await this.stopOthers();
          return 1;
        }
        const next = await this.afterExit(event.exit, firstSignal);
        if (typeof next === 'number') return next;
      }
    } finally {
      stopHandlingDrain();
      this.dumps.stopRefreshing();
    }
  }

  /** Envoy exited on its own: exit with it, or restart it. Resolves with a status to exit with, or 'restarted'. */
  private async afterExit(exit: EnvoyExit, firstSignal: Promise<string>): Promise<number | 'restarted'> {
    const { log } = this.opts;
    const { status } = exit;
    let dump: string | undefined;
    if (status !== 0) {
      dump = this.dumps.keepForCrash();
      if (dump) log.error('Envoy exited abnormally; its last config dump is kept for study', { file: dump, status });
    } else this.dumps.stopRefreshing();

    const decision = this.policy.decide(status, this.clock.now());
    if (!decision.restart) {
      await this.stopOthers();
      if (decision.reason === 'crash-loop') {
        const { maxRestarts, windowMs } = this.opts.restart;
        const lines = this.opts.envoy.lastLines();
        const message =
          `Envoy keeps exiting: it was restarted ${decision.restartsInWindow} time${decision.restartsInWindow === 1 ? '' : 's'} within ${formatDuration(windowMs)} (--envoy-max-restarts ${maxRestarts}, --envoy-restart-window ${formatDuration(windowMs)}) and exited again with status ${status}` +
          (dump ? `; its last config dump is in ${dump}` : '') +
          (lines.length ? `. Envoy's last lines:\n  ${lines.join('\n  ')}` : '. Envoy printed nothing on stderr') +
          `\nFix the cause above, or raise --envoy-max-restarts (KUMA_DATAPLANE_RUNTIME_ENVOY_MAX_RESTARTS).`;
        log.error('Envoy is crash-looping; giving up', { status, restarts: decision.restartsInWindow });
        throw new UserError(message, status === 0 ? 1 : status);
      }
      if (status === 0) log.info('Envoy exited; kuma-dp exits with it', { status });
      else log.error('Envoy exited with an error; kuma-dp exits with its status', { status, code: exit.code, signal: exit.signal });
      return status;
    }

    this.lifecycle.enter('restarting', { status, delayMs: decision.delayMs });
    log.warn('Envoy exited; restarting it', {
      status,
      code: exit.code,
      signal: exit.signal,
      attempt: decision.attempt,
      delayMs: decision.delayMs,
      policy: this.opts.restart.mode,
    });
    const cancel = new AbortController();
    const outcome = await Promise.race([
      sleep(this.clock, decision.delayMs, cancel.signal).then(() => 'elapsed' as const),
      firstSignal.then(() => 'signal' as const),
    ]);
    cancel.abort();
    if (outcome === 'signal') {
      log.info('stopped while waiting to restart Envoy');
      await this.stopOthers();
      return 0;
    }
    try {
      await this.startEnvoy();
    } catch (err) {
      await this.stopOthers();
      throw new UserError(`could not restart Envoy: ${(err as Error).message}; check --binary-path (KUMA_DATAPLANE_RUNTIME_BINARY_PATH)`);
    }
    this.opts.stats.envoyRestarts += 1;
    this.lifecycle.enter('starting', { pid: this.opts.envoy.pid, restart: decision.attempt });
    this.watchUntilLive();
    return 'restarted';
  }

  private async shutdown(signal: string): Promise<number> {
    const { log, signals, stats, envoy } = this.opts;
    this.dumps.stopRefreshing();
    this.lifecycle.enter('draining', { signal, drainTimeMs: this.opts.drainTimeMs });
    log.info('draining', { signal, drainTimeMs: this.opts.drainTimeMs, drainMinTimeMs: this.opts.drainMinTimeMs });
    const began = this.clock.now();
    try {
      const res = await this.opts.admin('POST', '/healthcheck/fail', ADMIN_POST_TIMEOUT_MS);
      log.info('Envoy health check failed on purpose, so load balancers stop sending traffic', { status: res.status });
    } catch (err) {
      log.warn('could not tell Envoy to fail its health check', { error: (err as Error).message });
    }

    const cut = new AbortController();
    const drained = await Promise.race([
      drainWait(this.opts.admin, this.clock, {
        minMs: this.opts.drainMinTimeMs,
        maxMs: this.opts.drainTimeMs,
        inboundPorts: this.opts.inboundPorts,
        signal: cut.signal,
      }).then((o) => o.reason),
      signals.nth(2).then(() => 'second signal' as const),
      this.envoyExit.promise.then(() => 'Envoy exited' as const),
    ]);
    cut.abort();
    const drainMs = this.clock.now() - began;
    stats.recordDrain(drainMs);
    log.info('drain finished', { reason: drained, elapsedMs: drainMs });

    this.lifecycle.enter('stopping');
    const third = signals.nth(3);
    const outcome = await Promise.race([this.manager.stop(envoy, this.clock.now() + this.opts.killGraceMs).then(() => 'stopped' as const), third]);
    if (outcome !== 'stopped') {
      log.warn('third signal: exiting at once', { signal: outcome });
      envoy.kill();
      return SIGNAL_STATUS[outcome] ?? 143;
    }
    await this.stopOthers();
    log.info('stopped', { status: 0 });
    return 0;
  }
}
