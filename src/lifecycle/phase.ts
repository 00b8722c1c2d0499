// What the supervisor tells the components beside Envoy (the phase the agent
// is in), and what they may ask of it (the same things a signal asks for).
// The supervisor alone changes the phase; components only watch it.

export type Phase = 'starting' | 'live' | 'restarting' | 'draining' | 'stopping';

export type PhaseListener = (phase: Phase, detail: Record<string, unknown>) => void;

export class Lifecycle {
  private current: Phase = 'starting';
  private readonly listeners = new Set<PhaseListener>();

  get phase(): Phase {
    return this.current;
  }

  /** True once shutdown has begun: the readiness reporter answers TERMINATING. */
  get terminating(): boolean {
    return this.current === 'draining' || this.current === 'stopping';
  }

  /** Calls `listener` on every change; returns the unsubscribe function. */
  onPhase(listener: PhaseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  enter(phase: Phase, detail: Record<string, unknown> = {}): void {
    if (phase === this.current) return;
    this.current = phase;
    for (const listener of [...this.listeners]) listener(phase, detail);
  }
}

/** Requests a component can make; each is also reachable by a signal or the lifecycle endpoints. */
export interface AgentControls {
  /** A graceful shutdown, as SIGTERM. */
  shutdown(reason: string): void;
  /** Drain inbound listeners and keep running, as SIGUSR2. */
  drainInbound(reason: string): Promise<void>;
  /** Saves Envoy's config dump into the work dir; resolves with the file. */
  dumpConfig(reason: string): Promise<string>;
}
