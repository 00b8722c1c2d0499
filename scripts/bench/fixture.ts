// What the start-up and supervising benchmarks share: a control plane on
// loopback (scripts/build-code-cache.mjs's), an Envoy that is a shell-script
// double recording when it was exec'd, its admin API (a ready proxy: /ready
// answers LIVE) served by this process, and the commands that start kuma-dp
// and the floor client (scripts/bench/floor-client.cjs) against them. So the
// figures are kuma-dp's own cost. BENCH_KUMA_DP=<executable> measures another
// kuma-dp (e.g. Kuma's own) instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../../test/helpers/ports.js';
import { waitFor } from '../../test/helpers/wait.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUMA_DP = process.env.BENCH_KUMA_DP ?? join(ROOT, 'bin/kuma-dp');
/** kuma-dp and node run as a user would run them: without this process's NODE_OPTIONS. */
export const userEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS'));

export interface Fixture {
  dir: string;
  envoyDouble: string;
  /** Envoy's /ready on the admin API this process serves. */
  readyUrl: string;
  /** The floors run with Node's compile cache, as kuma-dp does (bin/kuma-dp), in a directory of their own. */
  floorEnv: NodeJS.ProcessEnv;
  /** `kuma-dp run` against the loopback control plane and the Envoy double. */
  agentCommand: (extraArgs: readonly string[]) => string[];
  /** The floor client (bundled) against the same; `extra` is its mode (`contract`). */
  floorCommand: (client: 'http' | 'undici', ...extra: string[]) => string[];
  close: () => void;
}

export async function startFixture(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-bench-'));
  const envoyDouble = join(dir, 'envoy');
  writeFileSync(
    envoyDouble,
    `#!/bin/sh
if [ "$1" = "--version" ]; then
  printf '\\nenvoy  version: 0123456789abcdef0123456789abcdef01234567/1.39.0/Clean/RELEASE/BoringSSL\\n'
  exit 0
fi
date +%s%N > "$BENCH_SPAWNED_FILE"
# A killed double leaves no sleep behind: the trap ends it, and a short one ends by itself after a SIGKILL.
trap 'kill $! 2>/dev/null; exit 0' TERM INT
while :; do sleep 1 & wait $!; done
`,
  );
  chmodSync(envoyDouble, 0o755);

  // Envoy's admin API as a ready, idle Envoy answers it (/ready is LIVE, an empty config dump, 200 to the rest):
  // the double is a shell script, so this process serves it, for the agent's supervision and for `kuma-dp wait`.
  const admin = createServer((req, res) => {
    req.resume();
    res.end(req.url?.startsWith('/ready') ? 'LIVE\n' : req.url?.startsWith('/config_dump') ? '{"configs":[]}' : '');
  });
  await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
  const adminPort = (admin.address() as AddressInfo).port;

  // The same loopback control plane the build's code-cache run uses, with the admin address above in its bootstrap.
  const { startLoopbackControlPlane } = (await import(pathToFileURL(join(ROOT, 'scripts/build-code-cache.mjs')).href)) as {
    startLoopbackControlPlane: (name: string, options: { adminPort: number }) => Promise<{ url: string; close: () => void }>;
  };
  const cp = await startLoopbackControlPlane('bench', { adminPort });
  const floorDir = join(dir, 'floor-work');
  mkdirSync(floorDir);
  const bundled = { http: await bundledFloorClient(dir, 'http'), undici: await bundledFloorClient(dir, 'undici') };

  return {
    dir,
    envoyDouble,
    readyUrl: `http://127.0.0.1:${adminPort}/ready`,
    floorEnv: { ...process.env, NODE_COMPILE_CACHE: join(dir, 'floor-compile-cache') },
    agentCommand: (extraArgs) => [
      KUMA_DP,
      'run',
      '--cp-address',
      cp.url,
      '--name',
      'bench',
      '--mesh',
      'default',
      '--binary-path',
      envoyDouble,
      '--drain-time',
      '0s',
      ...extraArgs,
    ],
    floorCommand: (client, ...extra) => [process.execPath, bundled[client], client, cp.url, envoyDouble, floorDir, ...extra],
    close: () => {
      cp.close();
      admin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * floor-client.cjs bundled as dist/kuma-dp.cjs is (one file with its libraries). With node:http it is
 * bundled without undici, which it never loads: a megabyte of source it would only read and hold.
 */
async function bundledFloorClient(dir: string, client: 'http' | 'undici'): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = join(dir, `floor-client-${client}.cjs`);
  await esbuild.build({
    entryPoints: [join(ROOT, 'scripts/bench/floor-client.cjs')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minifyWhitespace: true,
    minifySyntax: true,
    external: client === 'http' ? ['undici'] : [],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

export function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const [k, v] = line.split(':');
    if (k && v) out[k.trim()] = v.trim();
  }
  return out;
}

/** A /proc/<pid>/status size field (`VmRSS`, `RssAnon`, `RssFile`) in MB. */
export const statusMb = (status: Record<string, string>, field: string): number => Number(status[field]!.replace(/\D/g, '')) / 1024;

export interface Supervising {
  child: ChildProcess;
  /** When the Envoy double was exec'd, ns since the epoch. */
  spawnedAtNs: bigint;
  /** SIGTERM, and resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Starts an agent (or floor) command and resolves once it has spawned the Envoy double. */
export async function startSupervising(fixture: Fixture, command: readonly string[], env: NodeJS.ProcessEnv): Promise<Supervising> {
  const spawnedFile = join(fixture.dir, `spawned-${Math.random().toString(36).slice(2)}`);
  // The agent's readiness reporter is on by default, as in Kuma; a fixed 9902 could be taken on a shared host.
  const readinessPort = String(await freePort());
  const child = spawn(command[0]!, command.slice(1), {
    stdio: 'ignore',
    env: { ...env, BENCH_SPAWNED_FILE: spawnedFile, KUMA_READINESS_PORT: readinessPort },
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Polled every 2 ms: the caller reads the process's CPU time once this resolves. Only a whole line
  // counts: a read can land while the double's `date` is still writing it.
  const spawnedAt = await waitFor(
    'the Envoy double to be spawned',
    () => {
      const line = existsSync(spawnedFile) ? readFileSync(spawnedFile, 'utf8') : '';
      return line.endsWith('\n') && line.trim();
    },
    { timeoutMs: 30_000, intervalMs: 2 },
  );
  return {
    child,
    spawnedAtNs: BigInt(spawnedAt),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
