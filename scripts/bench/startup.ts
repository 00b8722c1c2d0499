// Benchmark: kuma-dp's start-up and idle cost, beside the floors that show
// what Node and the unavoidable I/O allow, all measured in one run on this
// machine and compared with the targets:
//   exec of `kuma-dp run` → Envoy spawned        ≤ 1.7 × `node -e 0`
//   `kuma-dp wait` against a ready proxy, exit    ≤ 1.4 × `node -e 0`
//   `kuma-dp version`, exit                       ≤ 1.4 × `node -e 0`
//   RSS while supervising an idle Envoy           ≤ 55 MB
//
//   npm run bench:startup [-- runs]
//
// The control plane is on loopback (scripts/build-code-cache.mjs's), the
// Envoy is a shell-script double that records when it was exec'd, and its
// admin API (a ready proxy: /ready answers LIVE) is served by this process,
// so the figures are kuma-dp's own cost. BENCH_KUMA_DP=<executable> measures
// another kuma-dp (e.g. Kuma's own) instead.
//
// Floors, measured the same way: `node -e 0`; a Node script doing one HTTP
// GET; scripts/bench/floor-wait.cjs, what `kuma-dp wait` must do (the Node
// version check and compile cache every kuma-dp executable has, its flags,
// Kuma's two log lines, one GET); scripts/bench/floor-client.cjs, bundled and
// with Node's compile cache as kuma-dp has: `bare`, only the I/O `kuma-dp run`
// cannot avoid (envoy --version, POST /bootstrap, write the file, spawn
// Envoy), with node:http and with undici's public Client (the comparison
// behind src/bootstrap/client.ts), and `contract`, which adds what the
// agent's contract puts before the spawn (the bootstrap read as YAML, the
// servers and the access-log FIFO ready before Envoy); and the RSS of an idle
// Node and of both floor clients supervising.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
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

// Envoy's admin API as a ready, idle Envoy answers it (/ready is LIVE, an empty config dump, 200 to the rest):
// the double is a shell script, so this process serves it, for the agent's supervision and for `kuma-dp wait`.
const admin = createServer((req, res) => {
  req.resume();
  res.end(req.url?.startsWith('/ready') ? 'LIVE\n' : req.url?.startsWith('/config_dump') ? '{"configs":[]}' : '');
});
await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
const adminPort = (admin.address() as AddressInfo).port;
const readyUrl = `http://127.0.0.1:${adminPort}/ready`;

// The same loopback control plane the build's code-cache run uses, with the admin address above in its bootstrap.
const { startLoopbackControlPlane } = (await import(pathToFileURL(join(ROOT, 'scripts/build-code-cache.mjs')).href)) as {
  startLoopbackControlPlane: (name: string, options: { adminPort: number }) => Promise<{ url: string; close: () => void }>;
};
const cp = await startLoopbackControlPlane('bench', { adminPort });

// The floors run with Node's compile cache, as kuma-dp does (bin/kuma-dp), in a directory of their own.
const floorEnv = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'floor-compile-cache') };
// kuma-dp and node -e 0 run as a user would run them: without this process's NODE_OPTIONS.
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS'));

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

const agentCommand = (extraArgs: readonly string[]): string[] => [
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
];

/** A port free now, for the agent's readiness reporter (on by default in Kuma; a fixed 9902 could be taken on a shared host). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** CPU time used so far by this process's waited-for children (clock ticks of 10 ms: meaningful summed over many runs). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10; // cutime + cstime, fields 16 and 17 of proc(5)
}

/** CPU time of every thread of a running process so far, in ms (schedstat: nanoseconds on a CPU). */
function processCpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e6;
}

interface Sample {
  /** Wall time, ms. */
  ms: number;
  /** CPU time of the measured process (not its children), ms. */
  cpuMs: number;
}

interface Idle {
  rssMb: number;
  wakeupsPerSec: number;
}

/** Exec → Envoy spawned; with `idle`, also the RSS and wake-ups of the agent while it supervises. */
async function spawnToEnvoy(command: readonly string[], env: NodeJS.ProcessEnv, idle?: (sample: Idle) => void): Promise<Sample> {
  const spawnedFile = join(dir, `spawned-${Math.random().toString(36).slice(2)}`);
  const readinessPort = String(await freePort());
  const wall0 = BigInt(Date.now()) * 1_000_000n;
  const child = spawn(command[0]!, command.slice(1), {
    stdio: 'ignore',
    env: { ...env, BENCH_SPAWNED_FILE: spawnedFile, KUMA_READINESS_PORT: readinessPort },
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitForFile(spawnedFile, 30_000);
  const cpuMs = processCpuMs(child.pid!);
  const ms = Number(BigInt(readFileSync(spawnedFile, 'utf8').trim()) - wall0) / 1e6;
  if (idle) idle(await idleSample(child.pid!));
  child.kill('SIGTERM');
  await exited;
  return { ms, cpuMs };
}

async function idleSample(pid: number): Promise<Idle> {
  await new Promise((resolve) => setTimeout(resolve, 2000)); // let start-up work and GC settle before sampling
  const before = procStatus(pid);
  const windowMs = 5000;
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = procStatus(pid);
  const switches = (s: Record<string, string>) => Number(s.voluntary_ctxt_switches) + Number(s.nonvoluntary_ctxt_switches);
  return { rssMb: Number(after.VmRSS!.replace(/\D/g, '')) / 1024, wakeupsPerSec: (switches(after) - switches(before)) / (windowMs / 1000) };
}

/** Exec → exit; fails on a non-zero exit (a benchmark of a failing command measures nothing). */
async function execToExit(command: readonly string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const code = await new Promise((resolve) => spawn(command[0]!, command.slice(1), { stdio: 'ignore', env }).on('exit', resolve));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${command.join(' ')} exited ${String(code)}`);
  return { ms, cpuMs: childrenCpuMs() - cpu0 };
}

/** An idle Node's RSS: what any Node program holds. */
async function nodeIdleRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: userEnv });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rss = Number(procStatus(child.pid!).VmRSS!.replace(/\D/g, '')) / 1024;
  child.kill();
  return rss;
}

/**
 * floor-client.cjs bundled as dist/kuma-dp.cjs is (one file with its libraries). With node:http it is
 * bundled without undici, which it never loads: a megabyte of source it would only read and hold.
 */
async function bundledFloorClient(client: 'http' | 'undici'): Promise<string> {
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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;

interface Measure {
  key: string;
  label: string;
  run: () => Promise<Sample>;
}

/**
 * Runs every measurement once per round, round after round, so that a load
 * change on the host (this is a shared 2-core VM) shifts them all alike and
 * the ratios between them stay meaningful.
 */
async function interleaved(measures: readonly Measure[]): Promise<Map<string, Sample[]>> {
  for (const m of measures) await m.run(); // warm the file cache and the floors' compile cache
  const times = new Map(measures.map((m) => [m.key, [] as Sample[]]));
  for (let round = 0; round < runs; round++) {
    for (const m of measures) times.get(m.key)!.push(await m.run());
  }
  return times;
}

try {
  const floorDir = join(dir, 'floor-work');
  mkdirSync(floorDir);
  const bundled = { http: await bundledFloorClient('http'), undici: await bundledFloorClient('undici') };
  const floor = (client: 'http' | 'undici', ...extra: string[]) => [process.execPath, bundled[client], client, cp.url, envoyDouble, floorDir, ...extra];
  // A script file, as bin/kuma-dp is (Node resolves and reads a main script; `node -e` skips that).
  const httpGet = join(dir, 'floor-get.cjs');
  writeFileSync(
    httpGet,
    `require('node:http').get(process.argv[2], (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 1)); });\n`,
  );
  const measures: Measure[] = [
    { key: 'node', label: 'node -e 0 (exec → exit)', run: () => execToExit([process.execPath, '-e', '0'], userEnv) },
    { key: 'run', label: 'kuma-dp run, exec → Envoy spawned (config validated)', run: () => spawnToEnvoy(agentCommand([]), userEnv) },
    {
      key: 'run-skip',
      label: 'kuma-dp run --skip-config-validation, exec → Envoy spawned',
      run: () => spawnToEnvoy(agentCommand(['--skip-config-validation']), userEnv),
    },
    { key: 'wait', label: 'kuma-dp wait, ready proxy (exec → exit)', run: () => execToExit([KUMA_DP, 'wait', '--url', readyUrl], userEnv) },
    { key: 'version', label: 'kuma-dp version (exec → exit)', run: () => execToExit([KUMA_DP, 'version'], userEnv) },
    { key: 'floor-get', label: 'floor: node doing one HTTP GET (exec → exit)', run: () => execToExit([process.execPath, httpGet, readyUrl], floorEnv) },
    {
      key: 'floor-wait',
      label: "floor: wait's flags, Kuma's two log lines, one GET (exec → exit)",
      run: () => execToExit([process.execPath, join(ROOT, 'scripts/bench/floor-wait.cjs'), '--url', readyUrl], floorEnv),
    },
    { key: 'floor-http', label: "floor: run's unavoidable I/O, node:http (exec → Envoy spawned)", run: () => spawnToEnvoy(floor('http'), floorEnv) },
    {
      key: 'floor-contract',
      label: 'floor: + YAML, servers and FIFO before Envoy (exec → spawned)',
      run: () => spawnToEnvoy(floor('http', 'contract'), floorEnv),
    },
    { key: 'floor-undici', label: "floor: the same with undici 8's Client (exec → Envoy spawned)", run: () => spawnToEnvoy(floor('undici'), floorEnv) },
  ];
  const samples = await interleaved(measures);
  const wall = (key: string) => samples.get(key)!.map((s) => s.ms);
  const cpu = (key: string) => samples.get(key)!.reduce((sum, s) => sum + s.cpuMs, 0) / runs;
  const node = median(wall('node'));
  const nodeCpu = cpu('node');
  const ratio = (ms: number) => `${(ms / node).toFixed(2)} × node -e 0`;

  console.log(`Node ${process.version}, ${runs} interleaved rounds on ${availableParallelism()} CPUs (load average ${loadavg()[0]!.toFixed(1)} at the end).`);
  console.log("Wall: median (p90, min), and its ratio to node -e 0's median in this run. CPU: mean CPU time of the measured process");
  console.log("alone (to exit, or to Envoy's spawn), which a busy host disturbs far less than wall time, and its ratio to node -e 0's.\n");
  for (const m of measures) {
    const xs = wall(m.key);
    console.log(
      `  ${m.label.padEnd(64)} ${median(xs).toFixed(0).padStart(4)} ms ${(median(xs) / node).toFixed(2).padStart(5)} ×  (p90 ${p90(xs).toFixed(0)}, min ${Math.min(...xs).toFixed(0)})   CPU ${cpu(m.key).toFixed(0).padStart(3)} ms ${(cpu(m.key) / nodeCpu).toFixed(2).padStart(5)} ×`,
    );
  }

  const idle: Record<string, Idle> = {};
  await spawnToEnvoy(agentCommand([]), userEnv, (s) => (idle.run = s));
  await spawnToEnvoy(agentCommand(['--skip-config-validation']), userEnv, (s) => (idle['run-skip'] = s));
  await spawnToEnvoy(floor('http'), floorEnv, (s) => (idle.floor = s));
  await spawnToEnvoy(floor('http', 'contract'), floorEnv, (s) => (idle['floor-contract'] = s));
  const nodeRss = await nodeIdleRss();
  console.log('\n  while supervising an idle Envoy (sampled over 5 s after 2 s):');
  for (const [key, label] of [
    ['run', 'kuma-dp run (config validated)'],
    ['run-skip', 'kuma-dp run --skip-config-validation'],
    ['floor', 'floor: the bare floor client (node:http)'],
    ['floor-contract', 'floor: the contract floor client (YAML, servers, FIFO)'],
  ] as const) {
    console.log(`    ${label.padEnd(62)} RSS ${idle[key]!.rssMb.toFixed(1)} MB, ${idle[key]!.wakeupsPerSec.toFixed(1)} context switches/s`);
  }
  console.log(`    ${'floor: an idle node -e "setInterval(...)"'.padEnd(62)} RSS ${nodeRss.toFixed(1)} MB`);

  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const timeTarget = (what: string, key: string, limit: number, ...floorKeys: string[]) => {
    const w = median(wall(key)) / node;
    const c = cpu(key) / nodeCpu;
    const floorText = floorKeys
      .map(
        (f) =>
          `   floor${floorKeys.length > 1 ? ` (${f.replace('floor-', '')})` : ''} ${(median(wall(f)) / node).toFixed(2)} × wall, ${(cpu(f) / nodeCpu).toFixed(2)} × CPU`,
      )
      .join('');
    console.log(
      `  ${what.padEnd(50)} wall ${w.toFixed(2)} × ${verdict(w <= limit).padEnd(6)}  CPU ${c.toFixed(2)} × ${verdict(c <= limit).padEnd(6)}  target ≤ ${limit} ×${floorText}`,
    );
  };
  const rssTarget = (what: string, rss: number) =>
    console.log(
      `  ${what.padEnd(50)} ${rss.toFixed(1)} MB ${verdict(rss <= 55)}   target ≤ 55 MB   floors: idle Node ${nodeRss.toFixed(1)} MB, bare client ${idle.floor!.rssMb.toFixed(1)} MB, contract client ${idle['floor-contract']!.rssMb.toFixed(1)} MB`,
    );
  console.log('\nTargets (ratios to node -e 0 in this run; a floor is the same work done by the smallest program that can do it):');
  timeTarget('exec → Envoy spawned (config validated)', 'run', 1.7, 'floor-http', 'floor-contract');
  timeTarget('exec → Envoy spawned (--skip-config-validation)', 'run-skip', 1.7, 'floor-http', 'floor-contract');
  timeTarget('kuma-dp wait against a ready proxy', 'wait', 1.4, 'floor-wait');
  timeTarget('kuma-dp version', 'version', 1.4);
  rssTarget('RSS while supervising (config validated)', idle.run!.rssMb);
  rssTarget('RSS while supervising (--skip-config-validation)', idle['run-skip']!.rssMb);
  console.log(`\n  ${ratio(median(wall('floor-undici')))} (wall) for the floor client with undici 8 instead of node:http.`);
} finally {
  cp.close();
  admin.close();
  rmSync(dir, { recursive: true, force: true });
}
