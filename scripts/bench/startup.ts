// Benchmark: kuma-dp's start-up and idle cost, beside the floors that show
// what Node and the unavoidable I/O allow, all measured in one run on this
// machine and compared with the targets:
//   exec of `kuma-dp run` → Envoy spawned        ≤ 1.7 × `node -e 0`
//   `kuma-dp wait` against a ready proxy, exit    ≤ 1.4 × `node -e 0`
//   `kuma-dp version`, exit                       ≤ 1.4 × `node -e 0`
//   RSS while supervising an idle Envoy           ≤ 55 MB (read here 7 s in;
//                                                 npm run bench:supervising follows it for minutes)
//
//   npm run bench:startup [-- runs]
//
// The fixture (scripts/bench/fixture.ts): a control plane on loopback, an
// Envoy that is a shell-script double recording when it was exec'd, and its
// admin API served by this process, so the figures are kuma-dp's own cost.
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
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { KUMA_DP, ROOT, procStatus, startFixture, startSupervising, statusMb, userEnv } from './fixture.js';

const runs = Number(process.argv[2] ?? 15);
const fixture = await startFixture();
const { dir, readyUrl, floorEnv, agentCommand, floorCommand: floor } = fixture;

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
  const wall0 = BigInt(Date.now()) * 1_000_000n;
  const running = await startSupervising(fixture, command, env);
  const cpuMs = processCpuMs(running.child.pid!);
  const ms = Number(running.spawnedAtNs - wall0) / 1e6;
  if (idle) idle(await idleSample(running.child.pid!));
  await running.stop();
  return { ms, cpuMs };
}

async function idleSample(pid: number): Promise<Idle> {
  await new Promise((resolve) => setTimeout(resolve, 2000)); // let start-up work and GC settle before sampling
  const before = procStatus(pid);
  const windowMs = 5000;
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = procStatus(pid);
  const switches = (s: Record<string, string>) => Number(s.voluntary_ctxt_switches) + Number(s.nonvoluntary_ctxt_switches);
  return { rssMb: statusMb(after, 'VmRSS'), wakeupsPerSec: (switches(after) - switches(before)) / (windowMs / 1000) };
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
  const rss = statusMb(procStatus(child.pid!), 'VmRSS');
  child.kill();
  return rss;
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
  console.log('\n  7 s into supervising an idle Envoy (wake-ups counted over the last 5 s; npm run bench:supervising follows RSS for minutes):');
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
      `  ${what.padEnd(52)} wall ${w.toFixed(2)} × ${verdict(w <= limit).padEnd(6)}  CPU ${c.toFixed(2)} × ${verdict(c <= limit).padEnd(6)}  target ≤ ${limit} ×${floorText}`,
    );
  };
  const rssTarget = (what: string, rss: number) =>
    console.log(
      `  ${what.padEnd(52)} ${rss.toFixed(1)} MB ${verdict(rss <= 55)}   target ≤ 55 MB   floors: idle Node ${nodeRss.toFixed(1)} MB, bare client ${idle.floor!.rssMb.toFixed(1)} MB, contract client ${idle['floor-contract']!.rssMb.toFixed(1)} MB`,
    );
  console.log('\nTargets (ratios to node -e 0 in this run; a floor is the same work done by the smallest program that can do it):');
  timeTarget('exec → Envoy spawned (config validated)', 'run', 1.7, 'floor-http', 'floor-contract');
  timeTarget('exec → Envoy spawned (--skip-config-validation)', 'run-skip', 1.7, 'floor-http', 'floor-contract');
  timeTarget('kuma-dp wait against a ready proxy', 'wait', 1.4, 'floor-wait');
  timeTarget('kuma-dp version', 'version', 1.4);
  rssTarget('RSS 7 s into supervising (config validated)', idle.run!.rssMb);
  rssTarget('RSS 7 s into supervising (--skip-config-validation)', idle['run-skip']!.rssMb);
  console.log(`\n  ${ratio(median(wall('floor-undici')))} (wall) for the floor client with undici 8 instead of node:http.`);
} finally {
  fixture.close();
}
