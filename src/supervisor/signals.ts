// Turns SIGTERM/SIGINT (and shutdown requests such as POST /quitquitquit)
// into events the supervisor counts: the first starts a graceful shutdown,
// the second cuts the drain short, the third exits at once.
export type ShutdownSignal = 'SIGTERM' | 'SIGINT';

export class SignalCounter {
  private count = 0;
  private readonly waiters: Array<{ n: number; resolve: (signal: string) => void }> = [];
  readonly abort = new AbortController();
  private readonly handler = (signal: string): void => {
    this.count += 1;
    if (this.count === 1) this.abort.abort(new Error(`received ${signal}`));
    for (const waiter of this.waiters.filter((w) => w.n <= this.count)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(signal);
    }
    this.onSignal?.(signal, this.count);
  };

  constructor(private readonly onSignal?: (signal: string, count: number) => void) {
    process.on('SIGTERM', this.handler);
    process.on('SIGINT', this.handler);
  }

  get received(): number {
    return this.count;
  }

  /** Counts as a shutdown signal; `reason` names the request (e.g. 'POST /quitquitquit'). */
  trigger(reason: string): void {
    this.handler(reason);
  }

  /** Resolves when the n-th signal has arrived (at once if it already has), with its name. */
  nth(n: number): Promise<string> {
    if (this.count >= n) return Promise.resolve('SIGTERM');
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  dispose(): void {
    process.off('SIGTERM', this.handler);
    process.off('SIGINT', this.handler);
  }
}
