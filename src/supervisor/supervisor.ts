// Supervision of a running Envoy. The components beside it start once Envoy
// runs and watch the agent's phase (starting → live → draining → stopping).
// When Envoy exits, the restart policy decides: exit with Envoy's status (the
// default, as Kuma), or start it again after a growing delay until the
// crash-loop limit. On SIGTERM/SIGINT (or POST /quitquitquit) the agent
// drains: /healthcheck/fail, then a wait that ends at --drain-time, or early
// once inbound listeners have no connections after --drain-min-time (a
// second signal cuts it short); then Envoy is stopped (SIGTERM, SIGKILL after
// a grace period) and the agent exits 0. A third signal exits at once.
// SIGUSR2 (or POST /drain) drains inbound listeners and keeps running.
import { adminRequest, envoyServerState } from '../envoy/admin.js';
import type { EnvoyExit, EnvoyProcess } from '../envoy/process.js';
import type { Logger } from '../log/logger.js';
import type { AgentStats } from '../metrics/agent-stats.js';
import type { RestartSettings } from '../config/agent-config.js';
import type { AdminAddress } from '../render/envoy-config.js';
import { formatDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { ComponentManager, type Component } from './component.js';
import { ConfigDumps } from './config-dump.js';
import { drainWait } from './drain.js';
import { Lifecycle, type AgentControls } from './lifecycle.js';
import { RestartPolicy } from './restart-policy.js';
import type { SignalCounter } from './signals.js';

export interface SuperviseOptions {
  /** A new, not yet started Envoy process (for restarts). */
  launch: () => EnvoyProcess;
  admin: AdminAddress;
  drainTimeMs: number;
  drainMinTimeMs: number;
  /** Inbound ports known from the Dataplane; Envoy's inbound:* listeners are found too. */
  inboundPorts: readonly number[];
  /** How long Envoy gets between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** How long components get to stop. */
  componentStopMs?: number;
  restart: RestartSettings;
  workDir: string;
  signals: SignalCounter;
  stats: AgentStats;
  log: Logger;
}

const SIGNAL_STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
const LIVE_POLL_MAX_MS = 1000;
const LIVE_POLL_SLOW_MS = 5000;

function delay(ms: number): { promise: Promise<'elapsed'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'elapsed'>((resolve) => (timer = setTimeout(() => resolve('elapsed'), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

export class Supervisor {
  readonly lifecycle = new Lifecycle();
  readonly controls: AgentControls;
  /** Set when a crash left a config dump worth keeping in a temporary work dir. */
  keepWorkDir = false;
  private envoy!: EnvoyProcess;
  private readonly dumps: ConfigDumps;
  private readonly policy: RestartPolicy;

  constructor(private readonly opts: SuperviseOptions) {
    this.dumps = new ConfigDumps(opts.admin, opts.workDir, opts.log.child('config-dump'));
    this.policy = new RestartPolicy(opts.restart);
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

  /** Drains inbound listeners only and keeps running, as Kuma does for native sidecars. */
  private async drainInbound(reason: string): Promise<void> {
    this.opts.log.info('draining inbound listeners; kuma-dp keeps running', { reason });
    const res = await adminRequest(this.opts.admin, 'POST', '/drain_listeners?inboundonly&graceful&skip_exit');
    if (res.status !== 200) throw new Error(`Envoy answered /drain_listeners with ${res.status}: ${res.body.trim()}`);
  }

  /** Polls Envoy's /ready (growing intervals, at most once a second, slower after a minute) until LIVE, then enters 'live'. */
  private watchUntilLive(envoy: EnvoyProcess): void {
    let gone = false;
    void envoy.exited.then(() => (gone = true));
    const poll = async (wait: number): Promise<void> => {
      if (gone || envoy !== this.envoy || this.lifecycle.terminating) return;
      const state = await envoyServerState(this.opts.admin);
      if (gone || envoy !== this.envoy || this.lifecycle.terminating) return;
      if (state?.live) {
        this.lifecycle.enter('live', { pid: envoy.pid });
        this.opts.log.info('Envoy is live', { pid: envoy.pid });
        this.dumps.refreshEvery();
        return;
      }
      // Once a second at most; after a minute without LIVE (Envoy waiting on its control plane), every few seconds.
      const cap = Date.now() - began > 60_000 ? LIVE_POLL_SLOW_MS : LIVE_POLL_MAX_MS;
      setTimeout(() => void poll(Math.min(cap, wait * 2)), wait).unref();
    };
    const began = Date.now();
    void poll(50);
  }

  /** Runs until Envoy is gone (and not restarted); resolves with the agent's exit status. */
  async run(first: EnvoyProcess, components: readonly Component[]): Promise<number> {
    const { log, signals, stats } = this.opts;
    this.envoy = first;
    stats.envoyStarts += 1;
    const manager = new ComponentManager(log);
    const stopComponents = () => manager.stopAll(Date.now() + (this.opts.componentStopMs ?? 5000));
    const onUsr2 = (): void => {
      this.controls.drainInbound('SIGUSR2').catch((err: Error) => log.warn('could not drain inbound listeners', { error: err.message }));
    };
    process.on('SIGUSR2', onUsr2);
    try {
      try {
        await manager.startAll(components);
      } catch (err) {
        log.error('a component failed to start; stopping Envoy', { error: (err as Error).message });
        await stopComponents();
        await this.envoy.terminate(this.opts.killGraceMs);
        if (err instanceof UserError) throw err;
        return 1;
      }
      this.watchUntilLive(this.envoy);

      for (;;) {
        const first = await Promise.race([
          this.envoy.exited.then((exit) => ({ kind: 'exit' as const, exit })),
          signals.nth(1).then((signal) => ({ kind: 'signal' as const, signal })),
        ]);
        if (first.kind === 'signal') return await this.shutdown(first.signal, stopComponents);
        const next = await this.afterExit(first.exit, stopComponents);
        if (typeof next === 'number') return next;
      }
    } finally {
      process.off('SIGUSR2', onUsr2);
      this.dumps.stopRefreshing();
    }
  }

  /** Envoy exited on its own: exit with it, or restart it. Resolves with a status to exit with, or 'restarted'. */
  private async afterExit(exit: EnvoyExit, stopComponents: () => Promise<void>): Promise<number | 'restarted'> {
    const { log, signals, stats } = this.opts;
    const { status } = exit;
    let dump: string | undefined;
    if (status !== 0) {
      dump = this.dumps.keepForCrash();
      if (dump) {
        this.keepWorkDir = true;
        log.error('Envoy exited abnormally; its last config dump is kept for study', { file: dump, status });
      }
    } else this.dumps.stopRefreshing();

    const decision = this.policy.decide(status);
    if (!decision.restart) {
      await stopComponents();
      if (decision.reason === 'crash-loop') {
        const { maxRestarts, windowMs } = this.opts.restart;
        const lines = this.envoy.lastLines();
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
    const wait = delay(decision.delayMs);
    const outcome = await Promise.race([wait.promise, signals.nth(1).then(() => 'signal' as const)]);
    wait.cancel();
    if (outcome === 'signal') {
      log.info('stopped while waiting to restart Envoy');
      await stopComponents();
      return 0;
    }
    this.envoy = this.opts.launch();
    try {
      await this.envoy.start();
    } catch (err) {
      await stopComponents();
      throw new UserError(`could not restart Envoy: ${(err as Error).message}; check --binary-path (KUMA_DATAPLANE_RUNTIME_BINARY_PATH)`);
    }
    stats.envoyStarts += 1;
    stats.envoyRestarts += 1;
    this.lifecycle.enter('starting', { pid: this.envoy.pid, restart: decision.attempt });
    this.watchUntilLive(this.envoy);
    return 'restarted';
  }

  private async shutdown(signal: string, stopComponents: () => Promise<void>): Promise<number> {
    const { log, signals, stats } = this.opts;
    const envoy = this.envoy;
    this.dumps.stopRefreshing();
    this.lifecycle.enter('draining', { signal, drainTimeMs: this.opts.drainTimeMs });
    log.info('draining', { signal, drainTimeMs: this.opts.drainTimeMs, drainMinTimeMs: this.opts.drainMinTimeMs });
    const began = Date.now();
    try {
      const res = await adminRequest(this.opts.admin, 'POST', '/healthcheck/fail');
      log.info('Envoy health check failed on purpose, so load balancers stop sending traffic', { status: res.status });
    } catch (err) {
      log.warn('could not tell Envoy to fail its health check', { error: (err as Error).message });
    }

    const cut = new AbortController();
    const drained = await Promise.race([
      drainWait(this.opts.admin, {
        minMs: this.opts.drainMinTimeMs,
        maxMs: this.opts.drainTimeMs,
        inboundPorts: this.opts.inboundPorts,
        signal: cut.signal,
      }).then((o) => o.reason),
      signals.nth(2).then(() => 'second signal' as const),
      envoy.exited.then(() => 'Envoy exited' as const),
    ]);
    cut.abort();
    const drainMs = Date.now() - began;
    stats.recordDrain(drainMs);
    log.info('drain finished', { reason: drained, elapsedMs: drainMs });

    this.lifecycle.enter('stopping');
    const third = signals.nth(3);
    const outcome = await Promise.race([envoy.terminate(this.opts.killGraceMs).then(() => 'stopped' as const), third]);
    if (outcome !== 'stopped') {
      log.warn('third signal: exiting at once', { signal: outcome });
      envoy.kill();
      return SIGNAL_STATUS[outcome] ?? 143;
    }
    await stopComponents();
    log.info('stopped', { status: 0 });
    return 0;
  }
}
