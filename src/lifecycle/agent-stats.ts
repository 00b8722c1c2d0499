// The agent's own figures, kept as plain numbers so that recording them costs
// nothing on the start-up path; the metrics component turns them into
// Prometheus series (with prom-client) only when someone scrapes.

export class AgentStats {
  readonly startedAt = Date.now();
  bootstrapAttempts = 0;
  envoyStarts = 0;
  envoyRestarts = 0;
  /** Durations of completed drains, in seconds. */
  readonly drainSeconds: number[] = [];

  recordDrain(ms: number): void {
    this.drainSeconds.push(ms / 1000);
  }
}
