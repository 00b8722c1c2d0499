// Supervision of a running Envoy: the components beside it start once Envoy
// runs; when Envoy exits the agent exits with Envoy's status; on SIGTERM or
// SIGINT the agent drains (healthcheck/fail, wait --drain-time, a second
// signal cuts it short), stops Envoy (SIGTERM, SIGKILL after a grace period)
// and exits 0. A third signal exits at once.
import { adminRequest } from '../envoy/admin.js';
import type { EnvoyProcess } from '../envoy/process.js';
import type { Logger } from '../log/logger.js';
import type { AdminAddress } from '../render/envoy-config.js';
import { ComponentManager, type Component } from './component.js';
import type { SignalCounter } from './signals.js';

export interface SuperviseOptions {
  envoy: EnvoyProcess;
  admin: AdminAddress;
  drainTimeMs: number;
  /** How long Envoy gets between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** How long components get to stop. */
  componentStopMs?: number;
  signals: SignalCounter;
  components: readonly Component[];
  log: Logger;
}

const SIGNAL_STATUS = { SIGINT: 130, SIGTERM: 143 } as const;

function delay(ms: number): { promise: Promise<'elapsed'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'elapsed'>((resolve) => (timer = setTimeout(() => resolve('elapsed'), ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Runs until Envoy is gone; resolves with the agent's exit status. */
export async function supervise(opts: SuperviseOptions): Promise<number> {
  const { envoy, log, signals } = opts;
  const manager = new ComponentManager(log);
  const stopComponents = () => manager.stopAll(Date.now() + (opts.componentStopMs ?? 5000));
  try {
    await manager.startAll(opts.components);
  } catch (err) {
    log.error('a component failed to start; stopping Envoy', { error: (err as Error).message });
    await stopComponents();
    await envoy.terminate(opts.killGraceMs);
    return 1;
  }

  const first = await Promise.race([envoy.exited.then((exit) => ({ kind: 'exit' as const, exit })), signals.nth(1).then((signal) => ({ kind: 'signal' as const, signal }))]);
  if (first.kind === 'exit') {
    const { status } = first.exit;
    if (status === 0) log.info('Envoy exited; kuma-dp exits with it', { status });
    else log.error('Envoy exited with an error; kuma-dp exits with its status', { status, code: first.exit.code, signal: first.exit.signal });
    await stopComponents();
    return status;
  }

  log.info('draining', { signal: first.signal, drainTimeMs: opts.drainTimeMs });
  try {
    const res = await adminRequest(opts.admin, 'POST', '/healthcheck/fail');
    log.info('Envoy health check failed on purpose, so load balancers stop sending traffic', { status: res.status });
  } catch (err) {
    log.warn('could not tell Envoy to fail its health check', { error: (err as Error).message });
  }

  const wait = delay(opts.drainTimeMs);
  const drained = await Promise.race([wait.promise, signals.nth(2).then(() => 'signal' as const), envoy.exited.then(() => 'exit' as const)]);
  wait.cancel();
  log.info('drain finished', { reason: drained === 'elapsed' ? 'drain time elapsed' : drained === 'signal' ? 'second signal' : 'Envoy exited' });

  const third = signals.nth(3).then((signal) => signal);
  const outcome = await Promise.race([envoy.terminate(opts.killGraceMs).then(() => 'stopped' as const), third]);
  if (outcome !== 'stopped') {
    log.warn('third signal: exiting at once', { signal: outcome });
    envoy.kill();
    return SIGNAL_STATUS[outcome];
  }
  await stopComponents();
  log.info('stopped', { status: 0 });
  return 0;
}
