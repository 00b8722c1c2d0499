// The one owner of the Envoy child process, as a component: start() spawns
// Envoy, stop() ends it (SIGTERM, then SIGKILL at the deadline), and an exit
// nobody asked for is reported as the component's failure, carrying Envoy's
// status for the restart policy. start() after such an exit spawns a new
// Envoy (a restart). Per run: starting → running → stopping → exited.
// Envoy runs in its own process group (a terminal's Ctrl-C reaches only the
// agent, which drains first) and, on Linux, with a parent-death signal so it
// never outlives the agent, even one killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Component, FailureReport } from '../lifecycle/component.js';
import type { Logger } from '../log/logger.js';

export type EnvoyState = 'starting' | 'running' | 'stopping' | 'exited';

export interface EnvoyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What a shell would report: the code, or 128 + the signal number. */
  status: number;
}

/** The failure an EnvoyProcess reports when Envoy exits on its own. */
export class EnvoyExited extends Error {
  constructor(readonly exit: EnvoyExit) {
    super(`Envoy exited with status ${exit.status}`);
    this.name = 'EnvoyExited';
  }
}

export interface EnvoyLaunch {
  binary: string;
  args: string[];
  log: Logger;
  /** Where Envoy's stdout/stderr go; they pass through by default. */
  stdio?: 'inherit' | 'pipe';
}

const TAIL_LINES = 20;

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv'];

/** setpriv(1) from util-linux sets PR_SET_PDEATHSIG and execs Envoy, so the pid we hold is Envoy's. */
function pdeathsigWrapper(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  return SETPRIV_PATHS.find((p) => existsSync(p));
}

export class EnvoyProcess implements Component {
  readonly name = 'envoy';
  private child?: ChildProcess;
  private current: EnvoyState = 'exited';
  private exited: Promise<EnvoyExit> = Promise.resolve({ code: null, signal: null, status: 0 });
  private readonly tail: string[] = [];
  private partial = '';

  constructor(private readonly launch: EnvoyLaunch) {}

  get state(): EnvoyState {
    return this.current;
  }

  /** The running Envoy's pid (the last one's after it exited). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Envoy's last stderr lines, for the message when it keeps failing. */
  lastLines(): string[] {
    return this.partial ? [...this.tail, this.partial] : [...this.tail];
  }

  /** stderr passes through unchanged; the last lines are kept. */
  private keepTail(chunk: Buffer): void {
    if (this.launch.stdio !== 'pipe') process.stderr.write(chunk);
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop()!.slice(-4096);
    for (const line of lines) if (line.trim()) this.tail.push(line.slice(0, 4096));
    if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
  }

  private transition(next: EnvoyState, fields: Record<string, unknown> = {}): void {
    const from = this.current;
    this.current = next;
    this.launch.log.info(`envoy ${next}`, { from, to: next, ...fields });
  }

  /** Spawns Envoy; resolves once the process exists, rejects if it could not be started. */
  start(failed: FailureReport): Promise<void> {
    if (this.current !== 'exited') return Promise.reject(new Error(`Envoy is already ${this.current}`));
    const { binary, args, log } = this.launch;
    const wrapper = pdeathsigWrapper();
    const [command, argv] = wrapper ? [wrapper, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
    if (!wrapper) log.warn('setpriv not found: Envoy may outlive kuma-dp if kuma-dp is killed with SIGKILL');
    log.info('starting Envoy', { path: binary, arguments: args });
    this.current = 'starting';
    this.tail.length = 0;
    this.partial = '';
    const child = spawn(command, argv, { stdio: ['ignore', this.launch.stdio ?? 'inherit', 'pipe'], detached: true });
    this.child = child;
    let resolveExit!: (exit: EnvoyExit) => void;
    this.exited = new Promise((resolve) => (resolveExit = resolve));
    child.stderr!.on('data', (chunk: Buffer) => this.keepTail(chunk));
    // If the agent itself exits (normally or by an uncaught error), Envoy goes too.
    const killOnExit = (): void => {
      if (this.child === child && this.current !== 'exited') child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    let stderrEnded = false;
    child.stderr!.once('end', () => (stderrEnded = true));
    let spawned = false;
    child.on('exit', (code, signal) => {
      process.off('exit', killOnExit);
      const status = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      const asked = this.current === 'stopping';
      this.transition('exited', { code, signal, status });
      // Let Envoy's last stderr lines arrive first (bounded: a grandchild could hold the pipe).
      const settle = (): void => {
        const exit = { code, signal, status };
        resolveExit(exit);
        if (!asked && spawned) failed(new EnvoyExited(exit));
      };
      if (stderrEnded) settle();
      else {
        const timer = setTimeout(settle, 200);
        child.stderr!.once('end', () => {
          clearTimeout(timer);
          settle();
        });
      }
    });
    return new Promise((resolve, reject) => {
      child.once('spawn', () => {
        spawned = true;
        this.transition('running', { pid: child.pid });
        resolve();
      });
      child.once('error', (err) => {
        if (spawned) return;
        process.off('exit', killOnExit);
        this.transition('exited', { error: err.message });
        resolveExit({ code: null, signal: null, status: 1 });
        reject(err);
      });
    });
  }

  /** SIGTERM, then SIGKILL if Envoy is still there at `deadline`; resolves once it has exited. */
  async stop(deadline: number): Promise<void> {
    const child = this.child;
    if (!child || this.current === 'exited') return;
    const graceMs = Math.max(0, deadline - Date.now());
    this.transition('stopping', { signal: 'SIGTERM', graceMs });
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.launch.log.warn('Envoy did not exit after SIGTERM; sending SIGKILL', { graceMs });
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  /** SIGKILL now (a third signal); the exit is not reported as a failure. */
  kill(): void {
    if (this.child && this.current !== 'exited') {
      this.current = 'stopping';
      this.child.kill('SIGKILL');
    }
  }
}
