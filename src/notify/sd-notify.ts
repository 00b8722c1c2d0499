// sd_notify for systemd's Type=notify: READY=1 once Envoy is live, STATUS= on
// each transition, STOPPING=1 when draining starts, WATCHDOG=1 every half
// WATCHDOG_USEC.
//
// NOTIFY_SOCKET is a Unix datagram socket and Node has none in its core. The
// npm packages that offer one (unix-dgram, sd-notify) are native addons that
// need a compiler at install time and a rebuild per Node version. Instead each
// message is sent by systemd's own `systemd-notify` tool, which is on every
// machine that has a NOTIFY_SOCKET to give us. Its messages come from its own
// pid, so the unit needs NotifyAccess=all (scripts/deploy/kuma-dp.service has
// it); it waits until systemd has processed each message (a barrier), and the
// messages are sent one after another, so they arrive in order.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Component } from '../lifecycle/component.js';
import type { Lifecycle, Phase } from '../lifecycle/phase.js';

export interface NotifyOptions {
  socket: string;
  lifecycle: Lifecycle;
  /** WATCHDOG_USEC in ms; pings go out every half of it. */
  watchdogMs?: number;
  log: Logger;
  /** The systemd-notify executable; found on PATH by default. */
  binary?: string;
}

const SEND_TIMEOUT_MS = 10_000;

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const STATUS: Record<Phase, string> = {
  starting: 'Envoy started, waiting for it to be live',
  live: 'Envoy is live',
  restarting: 'Envoy exited, restarting it',
  draining: 'draining connections before stopping',
  stopping: 'stopping Envoy',
};

export class SdNotifier implements Component {
  readonly name = 'sd-notify';
  private binary?: string;
  private queue: Promise<void> = Promise.resolve();
  private unsubscribe?: () => void;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly opts: NotifyOptions) {}

  start(): Promise<void> {
    this.binary = this.opts.binary ?? findOnPath('systemd-notify');
    if (!this.binary) {
      this.opts.log.warn(
        'NOTIFY_SOCKET is set but systemd-notify is not on PATH, so systemd is not told when Envoy is ready; install systemd, or unset NOTIFY_SOCKET and use Type=exec',
      );
      return Promise.resolve();
    }
    this.onPhase(this.opts.lifecycle.phase);
    this.unsubscribe = this.opts.lifecycle.onPhase((phase) => this.onPhase(phase));
    if (this.opts.watchdogMs) {
      this.watchdog = setInterval(() => this.post(['WATCHDOG=1']), Math.max(1, Math.floor(this.opts.watchdogMs / 2)));
      this.watchdog.unref();
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.watchdog);
    await this.queue;
  }

  private onPhase(phase: Phase): void {
    const status = `STATUS=${STATUS[phase]}`;
    if (phase === 'live') this.post(['READY=1', status]);
    else if (phase === 'draining') this.post(['STOPPING=1', status]);
    else this.post([status]);
  }

  /** send() for callers that do not wait: a message that cannot be sent is logged, not thrown. */
  private post(assignments: string[]): void {
    this.send(assignments).catch((err: unknown) => this.opts.log.warn('could not notify systemd', { message: assignments.join(' '), error: err }));
  }

  /** Queues one message; messages go out one at a time, in order. */
  send(assignments: string[]): Promise<void> {
    const binary = this.binary;
    if (!binary) return this.queue;
    this.queue = this.queue.then(
      () =>
        new Promise<void>((resolve) => {
          execFile(binary, assignments, { env: { ...process.env, NOTIFY_SOCKET: this.opts.socket }, timeout: SEND_TIMEOUT_MS }, (err, _stdout, stderr) => {
            if (err) this.opts.log.warn('could not notify systemd', { message: assignments.join(' '), error: (stderr || err.message).trim() });
            else this.opts.log.debug('notified systemd', { message: assignments.join(' ') });
            resolve();
          });
        }),
    );
    return this.queue;
  }
}
