// The shape of every long-running part — in the agent Envoy and what runs
// beside it (readiness, metrics, notify, DNS, access logs...), in the mini-CP
// its servers — and the manager that runs them, in the spirit of
// consul-dataplane's run loop watching its helpers: start in order, stop in
// reverse within a shared deadline, and a part that fails after it started is
// reported to its owner.
import type { Logger } from '../log/logger.js';
import { systemClock, type Clock } from './clock.js';

/** How a started component says it stopped working on its own (Envoy exited, a socket closed...). */
export type FailureReport = (error: Error) => void;

export interface Component {
  readonly name: string;
  /**
   * Resolves once the component is serving; rejects (with an error naming the
   * setting to change) if it cannot start. `failed` is called at most once if,
   * after starting, it stops on its own; never because of stop().
   */
  start(failed: FailureReport): Promise<void>;
  /** Stops it; must settle by `deadline` (a clock.now() timestamp). */
  stop(deadline: number): Promise<void>;
}

/** A part that only needs stopping (a timer, watches), as a component. */
export function stopOnly(name: string, stop: () => void | Promise<void>): Component {
  return { name, start: () => Promise.resolve(), stop: async () => stop() };
}

export interface ManagerOptions {
  log: Logger;
  /** Told when a started component fails; the component no longer counts as running. */
  onFailure?: (component: Component, error: Error) => void;
  clock?: Clock;
}

/** A component that acts at its deadline (Envoy's SIGKILL) gets this long past it to finish. */
const OVERRUN_MS = 250;

export class ComponentManager {
  private readonly running: Component[] = [];
  private readonly clock: Clock;

  constructor(private readonly opts: ManagerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  isRunning(component: Component): boolean {
    return this.running.includes(component);
  }

  /** Starts one component (again, after it failed, for a restart). */
  async start(component: Component): Promise<void> {
    let reported = false;
    let started = false;
    let early: Error | undefined;
    const failed: FailureReport = (error) => {
      if (reported) return;
      reported = true;
      if (!started) {
        early = error; // start() has not resolved yet: it is a failure to start
        return;
      }
      const at = this.running.indexOf(component);
      if (at < 0) return; // stopped meanwhile
      this.running.splice(at, 1);
      this.opts.log.warn('component failed', { component: component.name, error: error.message });
      this.opts.onFailure?.(component, error);
    };
    await component.start(failed);
    started = true;
    if (early) throw early;
    this.running.push(component);
    this.opts.log.debug('component started', { component: component.name });
  }

  /** Starts components in order; if one cannot start, those already started are stopped (by `stopMs`) and the error is rethrown. */
  async startAll(components: readonly Component[], stopMs: number): Promise<void> {
    for (const component of components) {
      try {
        await this.start(component);
      } catch (err) {
        this.opts.log.error('a component failed to start', { component: component.name, error: (err as Error).message });
        await this.stopAll(this.clock.now() + stopMs);
        throw err;
      }
    }
  }

  /** Stops the running components in reverse order, each bounded by the shared deadline. */
  async stopAll(deadline: number): Promise<void> {
    while (this.running.length > 0) await this.stop(this.running.at(-1)!, deadline);
  }

  /** Stops one component, waiting for it no later than `deadline`. */
  async stop(component: Component, deadline: number): Promise<void> {
    const at = this.running.indexOf(component);
    if (at < 0) return;
    this.running.splice(at, 1);
    const { log } = this.opts;
    let timer: { cancel(): void } | undefined;
    const late = new Promise<'late'>(
      (resolve) => (timer = this.clock.setTimeout(() => resolve('late'), Math.max(0, deadline - this.clock.now()) + OVERRUN_MS)),
    );
    try {
      const outcome = await Promise.race([component.stop(deadline).then(() => 'stopped' as const), late]);
      if (outcome === 'late') log.warn('component did not stop by the deadline', { component: component.name });
      else log.debug('component stopped', { component: component.name });
    } catch (err) {
      log.warn('component failed to stop cleanly', { component: component.name, error: (err as Error).message });
    } finally {
      timer?.cancel();
    }
  }
}
