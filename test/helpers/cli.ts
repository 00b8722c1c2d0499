// Starts the project's executables as a user would, and collects what they print.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUMA_DP = `${ROOT}bin/kuma-dp`;
export const KUMA_MINI_CP = `${ROOT}bin/kuma-mini-cp`;

/**
 * A copy of kuma-dp's installation in a new directory under `parent` (bin/,
 * the bundle, its build info, package.json, envoy-templates/; node_modules
 * linked), for tests that change what an installation holds. `distSrc` adds
 * dist/src/ (the validator's descriptor and the rest of the built files).
 * Returns its root; bin/kuma-dp is in it.
 */
export function installationCopy(parent: string, opts: { distSrc?: boolean; buildInfo?: boolean } = {}): string {
  const root = mkdtempSync(join(parent, 'install-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist'));
  const files = [
    'bin/kuma-dp',
    'bin/package.json',
    'dist/kuma-dp.cjs',
    'dist/kuma-dp-lite.cjs',
    'package.json',
    ...(opts.buildInfo === false ? [] : ['dist/build-info.json']),
  ];
  for (const file of files) copyFileSync(join(ROOT, file), join(root, file));
  for (const dir of ['envoy-templates', ...(opts.distSrc ? ['dist/src'] : [])]) cpSync(join(ROOT, dir), join(root, dir), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

/**
 * bin/kuma-dp runs dist/kuma-dp.cjs, a bundle of dist/src/. After a bare `tsc`
 * (no `npm run build`) the bundle would be older than the modules and the
 * tests would exercise stale code: rebuild it first.
 */
function ensureFreshBundle(): void {
  const bundle = join(ROOT, 'dist', 'kuma-dp.cjs');
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : e.name.endsWith('.js') ? statSync(join(dir, e.name)).mtimeMs : 0,
      ),
    );
  let built = 0;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    // missing: build it
  }
  if (built >= newest(join(ROOT, 'dist', 'src'))) return;
  process.stderr.write(`test helpers: ${bundle} is older than dist/src/ (tsc without 'npm run build'?): rebuilding it\n`);
  for (const step of ['build-bundle.mjs', 'build-code-cache.mjs'])
    execFileSync(process.execPath, [join(ROOT, 'scripts', step)], { stdio: ['ignore', 'ignore', 'inherit'] });
}
ensureFreshBundle();

export interface Running {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** stderr's JSON log lines, parsed (other lines are skipped). */
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  exited: Promise<{ code: number; signal: NodeJS.Signals | null }>;
  waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * tap's process tracking re-adds its module hooks to NODE_OPTIONS on every
 * spawn, and under them an extensionless ES module such as bin/kuma-dp fails
 * to load. env(1) drops the variable and execs the program (same pid), so the
 * program runs as from a user's shell.
 */
export function userCommand(bin: string, args: readonly string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', bin, ...args]];
}

export function start(bin: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Running {
  const [command, argv] = userCommand(bin, args);
  const child = spawn(command, argv, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + (SIGNALS[signal ?? ''] ?? 0), signal }));
  });
  const logs = (): Array<Record<string, unknown>> =>
    err
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog: (match, what, timeoutMs = 10_000) =>
      waitFor(`log line: ${what}\n--- stderr so far ---\n${err.slice(-2000)}`, () => logs().find(match), { timeoutMs }),
    kill: (signal = 'SIGTERM') => {
      child.kill(signal);
    },
  };
}

/** Runs to completion and returns what a user would see. */
export async function run(bin: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}) {
  const proc = start(bin, args, options);
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const { code, signal } = await proc.exited;
  clearTimeout(timer);
  return { code, signal, stdout: proc.stdout(), stderr: proc.stderr(), logs: proc.logs() };
}
