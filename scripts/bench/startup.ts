// Benchmark: time from exec of `bin/kuma-dp run` to Envoy spawned, with the
// control plane on loopback, and the agent's RSS and wake-ups while it
// supervises an idle Envoy.
//   node dist/scripts/bench/startup.js [runs]
// The Envoy here is a shell-script double that records when it was exec'd, so
// the figures are the agent's own cost, not a Node-based stand-in's start-up.
// BENCH_KUMA_DP=<executable> measures another kuma-dp (e.g. Kuma's own) instead.
//
// For scale it also measures floors on the same machine: Node's own start-up,
// and scripts/bench/floor-client.cjs, which does only the I/O the agent cannot
// avoid (envoy --version, POST /bootstrap, write the file, spawn Envoy), once
// with node:http and once with undici's client bundled as the agent bundles it.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KUMA_DP = process.env.BENCH_KUMA_DP ?? join(ROOT, 'bin/kuma-dp');
const runs = Number(process.argv[2] ?? 15);
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

// The same loopback control plane the build's code-cache run uses.
const { startLoopbackControlPlane } = (await import(pathToFileURL(join(ROOT, 'scripts/build-code-cache.mjs')).href)) as {
  startLoopbackControlPlane: (name: string) => Promise<{ url: string; close: () => void }>;
};
const cp = await startLoopbackControlPlane('bench');
const cpUrl = cp.url;

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const [k, v] = line.split(':');
    if (k && v) out[k.trim()] = v.trim();
  }
  return out;
}

async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path) || readFileSync(path, 'utf8').trim() === '') {
    if (Date.now() > deadline) throw new Error(`the Envoy double was not spawned within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

interface Sample {
  ms: number;
  rssMb?: number;
  wakeupsPerSec?: number;
}

const agentCommand = (extraArgs: readonly string[]): string[] => [
  KUMA_DP,
  'run',
  '--cp-address',
  cpUrl,
  '--name',
  'bench',
  '--mesh',
  'default',
  '--binary-path',
  envoyDouble,
  '--drain-time',
  '0s',
  ...extraArgs,
];

async function once(command: readonly string[], measureIdle: boolean): Promise<Sample> {
  const spawnedFile = join(dir, `spawned-${Math.random().toString(36).slice(2)}`);
  const wall0 = BigInt(Date.now()) * 1_000_000n;
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, BENCH_SPAWNED_FILE: spawnedFile },
  });
  await waitForFile(spawnedFile, 30_000);
  const spawnedAt = BigInt(readFileSync(spawnedFile, 'utf8').trim());
  const sample: Sample = { ms: Number(spawnedAt - wall0) / 1e6 };
  if (measureIdle) {
    await new Promise((resolve) => setTimeout(resolve, 2000)); // let start-up work and GC settle before sampling
    const before = procStatus(child.pid!);
    const windowMs = 5000;
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const after = procStatus(child.pid!);
    const switches = (s: Record<string, string>) => Number(s.voluntary_ctxt_switches) + Number(s.nonvoluntary_ctxt_switches);
    sample.rssMb = Number(after.VmRSS!.replace(/\D/g, '')) / 1024;
    sample.wakeupsPerSec = (switches(after) - switches(before)) / (windowMs / 1000);
  }
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;
const summary = (times: number[]) =>
  `median ${median(times).toFixed(0)} ms, p90 ${p90(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)} ms over ${times.length} runs`;

/** Exec → exit of `node -e 0`: what any Node program pays before its first line. */
async function nodeBoot(): Promise<number> {
  const t0 = performance.now();
  await new Promise((resolve) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('exit', resolve));
  return performance.now() - t0;
}

/**
 * Runs every measurement once per round, round after round, so that a load
 * change on the host (this is a shared 2-core VM) shifts them all alike and
 * the differences between them stay meaningful.
 */
async function interleaved(measures: ReadonlyArray<{ label: string; run: () => Promise<number> }>): Promise<void> {
  for (const m of measures) await m.run(); // warm the file cache
  const times = measures.map(() => [] as number[]);
  for (let round = 0; round < runs; round++) {
    for (const [i, m] of measures.entries()) times[i]!.push(await m.run());
  }
  for (const [i, m] of measures.entries()) console.log(`${m.label}: ${summary(times[i]!)}`);
}

/** floor-client.cjs with undici bundled into it, as dist/kuma-dp.cjs bundles it. */
async function bundledFloorClient(): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = join(dir, 'floor-client-bundled.cjs');
  await esbuild.build({
    entryPoints: [join(ROOT, 'scripts/bench/floor-client.cjs')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

try {
  const floorDir = mkdtempSync(join(dir, 'floor-'));
  const floor = (script: string, client: string) => [process.execPath, script, client, cpUrl, envoyDouble, floorDir];
  const undiciFloor = floor(await bundledFloorClient(), 'undici');
  const spawnTime = (command: readonly string[]) => async () => (await once(command, false)).ms;
  await interleaved([
    { label: 'startup default (config validated)', run: spawnTime(agentCommand([])) },
    { label: 'startup --skip-config-validation', run: spawnTime(agentCommand(['--skip-config-validation'])) },
    { label: 'floor: node -e 0 (exec to exit)', run: nodeBoot },
    { label: "floor: the agent's unavoidable I/O with node:http", run: spawnTime(floor(join(ROOT, 'scripts/bench/floor-client.cjs'), 'http')) },
    { label: "floor: the same with undici's client, bundled (no code cache)", run: spawnTime(undiciFloor) },
  ]);
  for (const [label, args] of [
    ['default', []],
    ['--skip-config-validation', ['--skip-config-validation']],
  ] as const) {
    const idle = await once(agentCommand(args), true);
    console.log(`supervising an idle Envoy (${label}): RSS ${idle.rssMb!.toFixed(1)} MB, ${idle.wakeupsPerSec!.toFixed(1)} context switches/s over 5 s`);
  }
} finally {
  cp.close();
  rmSync(dir, { recursive: true, force: true });
}
