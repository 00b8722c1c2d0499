// The agent's signals. SIGTERM/SIGINT (and shutdown requests such as POST
// /quitquitquit) are counted: the first starts a graceful shutdown, the
// second cuts the drain short, the third exits at once. SIGUSR2 asks to drain
// inbound listeners; before anyone handles that (Envoy not running yet) it is
// logged and ignored rather than killing the agent (its default action).

/** What the supervisor needs of the signals; tests drive it in-process. */
export interface ShutdownSignals {
  /** Counts as a shutdown signal; `reason` names the request (e.g. 'POST /quitquitquit'). */
  trigger(reason: string): void;
  /** Resolves when the n-th shutdown signal has arrived (at once if it already has), with its name. */
  nth(n: number): Promise<string>;
  /** Handles SIGUSR2 from now on; returns the function that stops handling it. */
  onDrainRequest(handler: () => void): () => void;
}

export class SignalCounter implements ShutdownSignals {
  private count = 0;
  private readonly waiters: Array<{ n: number; resolve: (signal: string) => void }> = [];
  private drainHandler?: () => void;
  readonly abort = new AbortController();
  private readonly handler = (signal: string): void => {
    this.count += 1;
    if (this.count === 1) this.abort.abort(new Error(`received ${signal}`));
    for (const waiter of this.waiters.filter((w) => w.n <= this.count)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(signal);
    }
    this.events?.onSignal(signal, this.count);
  };
  private readonly usr2 = (): void => {
    if (this.drainHandler) this.drainHandler();
    else this.events?.onUnhandledDrain();
  };

  /** `listen: false` leaves the process' signals alone (in-process tests call trigger()). */
  constructor(
    private readonly events?: { onSignal(signal: string, count: number): void; onUnhandledDrain(): void },
    private readonly listen = true,
  ) {
    if (!listen) return;
    process.on('SIGTERM', this.handler);
    process.on('SIGINT', this.handler);
    process.on('SIGUSR2', this.usr2);
  }

  get received(): number {
    return this.count;
  }

  trigger(reason: string): void {
    this.handler(reason);
  }

  /** As SIGUSR2 (for in-process tests). */
  requestDrain(): void {
    this.usr2();
  }

  nth(n: number): Promise<string> {
    if (this.count >= n) return Promise.resolve('SIGTERM');
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  onDrainRequest(handler: () => void): () => void {
    this.drainHandler = handler;
    return () => {
      if (this.drainHandler === handler) this.drainHandler = undefined;
    };
  }

  dispose(): void {
    if (!this.listen) return;
    process.off('SIGTERM', this.handler);
    process.off('SIGINT', this.handler);
    process.off('SIGUSR2', this.usr2);
  }
}
