// The one lifecycle shape of everything that runs beside Envoy (readiness,
// metrics, notify, drain...), as kuma-dp's component manager has it.
import type { Server } from 'node:http';
import type { Logger } from '../log/logger.js';

export interface Component {
  readonly name: string;
  /** Resolves once the component is serving; rejects if it cannot start. */
  start(): Promise<void>;
  /** Stops it; must settle by `deadline` (a Date.now() timestamp). */
  stop(deadline: number): Promise<void>;
}

/** Starts components in order and stops them in reverse, each bounded by the shared deadline. */
export class ComponentManager {
  private readonly started: Component[] = [];

  constructor(private readonly log: Logger) {}

  async startAll(components: readonly Component[]): Promise<void> {
    for (const component of components) {
      await component.start();
      this.started.push(component);
      this.log.info('component started', { component: component.name });
    }
  }

  async stopAll(deadline: number): Promise<void> {
    while (this.started.length > 0) {
      const component = this.started.pop()!;
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), left)));
      try {
        const outcome = await Promise.race([component.stop(deadline).then(() => 'stopped' as const), late]);
        if (outcome === 'late') this.log.warn('component did not stop by the deadline', { component: component.name });
        else this.log.info('component stopped', { component: component.name });
      } catch (err) {
        this.log.warn('component failed to stop cleanly', { component: component.name, error: (err as Error).message });
      } finally {
        clearTimeout(timer);
      }
    }
  }
}

/** Listens; a failure (port in use...) rejects with the error `explain` makes of it, which names the setting to change. */
export function listenOn(server: Server, port: number, host: string, explain: (err: NodeJS.ErrnoException) => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(explain(err)));
    server.listen(port, host, () => resolve());
  });
}

/** Closes a component's HTTP server, ending kept-alive connections too. */
export function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
