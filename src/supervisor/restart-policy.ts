// --envoy-restart: whether and when to start Envoy again after it exits.
// Exponential backoff (the delay doubles with each restart inside the window,
// capped), and a crash-loop limit: more than --envoy-max-restarts restarts
// within --envoy-restart-window and the agent gives up.
import type { RestartSettings } from '../config/agent-config.js';

export const MAX_BACKOFF_MS = 30_000;

export type RestartDecision =
  { restart: true; delayMs: number; attempt: number } | { restart: false; reason: 'policy' | 'crash-loop'; restartsInWindow: number };

export class RestartPolicy {
  private readonly restarts: number[] = [];

  constructor(private readonly settings: RestartSettings) {}

  /** Called when Envoy exited on its own (not because the agent stopped it). */
  decide(status: number, now = Date.now()): RestartDecision {
    const { mode, maxRestarts, windowMs, backoffMs } = this.settings;
    while (this.restarts.length > 0 && this.restarts[0]! <= now - windowMs) this.restarts.shift();
    if (mode === 'never' || (mode === 'on-failure' && status === 0)) return { restart: false, reason: 'policy', restartsInWindow: this.restarts.length };
    if (this.restarts.length >= maxRestarts) return { restart: false, reason: 'crash-loop', restartsInWindow: this.restarts.length };
    const delayMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2 ** this.restarts.length);
    this.restarts.push(now + delayMs);
    return { restart: true, delayMs, attempt: this.restarts.length };
  }
}
