// The one owner of the Envoy child process and its state machine:
//   starting → running → stopping → exited
// Envoy runs in its own process group (a terminal's Ctrl-C reaches only the
// agent, which drains first) and, on Linux, with a parent-death signal so it
// never outlives the agent, even one killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Logger } from '../log/logger.js';

export type EnvoyState = 'starting' | 'running' | 'stopping' | 'exited';

export interface EnvoyExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What a shell would report: the code, or 128 + the signal number. */
  status: number;
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

export class EnvoyProcess {
  private child?: ChildProcess;
  private current: EnvoyState = 'starting';
  readonly exited: Promise<EnvoyExit>;
  private resolveExit!: (exit: EnvoyExit) => void;
  private readonly tail: string[] = [];
  private partial = '';

  constructor(private readonly launch: EnvoyLaunch) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  get state(): EnvoyState {
    return this.current;
  }

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
  start(): Promise<void> {
    const { binary, args, log } = this.launch;
    const wrapper = pdeathsigWrapper();
    const [command, argv] = wrapper ? [wrapper, ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
    if (!wrapper) log.warn('setpriv not found: Envoy may outlive kuma-dp if kuma-dp is killed with SIGKILL');
    log.info('starting Envoy', { path: binary, arguments: args });
    const child = spawn(command, argv, { stdio: ['ignore', this.launch.stdio ?? 'inherit', 'pipe'], detached: true });
    this.child = child;
    child.stderr!.on('data', (chunk: Buffer) => this.keepTail(chunk));
    // If the agent itself exits (normally or by an uncaught error), Envoy goes too.
    const killOnExit = (): void => {
      if (this.current !== 'exited') child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    let stderrEnded = false;
    child.stderr!.once('end', () => (stderrEnded = true));
    child.on('exit', (code, signal) => {
      process.off('exit', killOnExit);
      const status = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      this.transition('exited', { code, signal, status });
      // Let Envoy's last stderr lines arrive first (bounded: a grandchild could hold the pipe).
      const settle = (): void => this.resolveExit({ code, signal, status });
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
        this.transition('running', { pid: child.pid });
        resolve();
      });
      child.once('error', (err) => {
        this.transition('exited', { error: err.message });
        this.resolveExit({ code: null, signal: null, status: 1 });
        reject(err);
      });
    });
  }

  /** SIGTERM, then SIGKILL if Envoy is still there after `graceMs`. */
  async terminate(graceMs: number): Promise<EnvoyExit> {
    const child = this.child;
    if (!child || this.current === 'exited') return this.exited;
    this.transition('stopping', { signal: 'SIGTERM', graceMs });
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    const outcome = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.launch.log.warn('Envoy did not exit after SIGTERM; sending SIGKILL', { graceMs });
      child.kill('SIGKILL');
    }
    return this.exited;
  }

  kill(): void {
    if (this.child && this.current !== 'exited') this.child.kill('SIGKILL');
  }
}
