// Benchmark: kuma-dp's RSS over a long supervision, beside its floors, against
// the target "RSS while supervising an idle Envoy ≤ 55 MB".
//
//   npm run bench:supervising [-- minutes]     (15 by default)
//
// npm run bench:startup reads the RSS 7 s into supervising; a sidecar
// supervises for days. A Node process's RSS keeps growing for minutes after
// start-up while it repeats the same work every second: V8 promotes that
// work's garbage to its old generation and collects it only when that reaches
// a limit, and it compiles the code run every second with its optimizing
// tiers (Maglev, then Turbofan after minutes), whose compilers are then paged
// in. So this runs, side by side, on the fixture of bench:startup
// (scripts/bench/fixture.ts):
//   - `kuma-dp run`, config validated;
//   - the contract floor client (scripts/bench/floor-client.cjs `contract`):
//     the servers and the FIFO kuma-dp holds while Envoy runs, and the one
//     GET a second of the dynamic-configuration poll, and nothing else;
//   - an idle `node -e "setInterval(...)"`;
// reads each one's RSS (anonymous + file-backed, /proc/<pid>/status) every
// 10 s and prints it at checkpoints, with the highest value each reached.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { procStatus, startFixture, startSupervising, statusMb, userEnv, type Supervising } from './fixture.js';

const minutes = Number(process.argv[2] ?? 15);
const TARGET_MB = 55;
const SAMPLE_EVERY_MS = 10_000;
const CHECKPOINTS_S = [7, 30, 60, 120, 300, 600, 900, 1800, 3600].filter((s) => s < minutes * 60).concat(minutes * 60);

interface Rss {
  total: number;
  anon: number;
  file: number;
}

function rss(pid: number): Rss {
  const status = procStatus(pid);
  return { total: statusMb(status, 'VmRSS'), anon: statusMb(status, 'RssAnon'), file: statusMb(status, 'RssFile') };
}

const fixture = await startFixture();
const running: Supervising[] = [];
let idleNode: ChildProcess | undefined;
try {
  // Warm the floor's compile cache (kuma-dp's is filled by the build), then start all three together.
  await (await startSupervising(fixture, fixture.floorCommand('http', 'contract'), fixture.floorEnv)).stop();
  const agent = await startSupervising(fixture, fixture.agentCommand([]), userEnv);
  running.push(agent);
  const floor = await startSupervising(fixture, fixture.floorCommand('http', 'contract'), fixture.floorEnv);
  running.push(floor);
  idleNode = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: userEnv });
  const processes = { agent: agent.child.pid!, floor: floor.child.pid!, node: idleNode.pid! };
  const highest = { agent: { mb: 0, atS: 0 }, floor: { mb: 0, atS: 0 }, node: { mb: 0, atS: 0 } };
  const firstOver = { agent: undefined as number | undefined, floor: undefined as number | undefined };

  console.log(`Node ${process.version}, ${minutes} min side by side on ${availableParallelism()} CPUs; RSS in MB (anonymous + file-backed).\n`);
  console.log(`  ${'time'.padEnd(8)} ${'kuma-dp run'.padEnd(22)} ${'floor: contract client'.padEnd(24)} ${'idle node'.padEnd(10)} kuma-dp − floor`);
  const show = (r: Rss) => `${r.total.toFixed(1)} (${r.anon.toFixed(1)} + ${r.file.toFixed(1)})`;
  // Every 10 s and at every checkpoint, in order.
  const end = minutes * 60_000;
  const everyTen = Array.from({ length: Math.floor(end / SAMPLE_EVERY_MS) }, (_, i) => (i + 1) * SAMPLE_EVERY_MS);
  const sampleAtMs = [...new Set([...everyTen, ...CHECKPOINTS_S.map((s) => s * 1000)])].sort((a, b) => a - b);
  const t0 = Date.now();
  for (const atMs of sampleAtMs) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, atMs - (Date.now() - t0))));
    const atS = atMs / 1000;
    const now = { agent: rss(processes.agent), floor: rss(processes.floor), node: rss(processes.node) };
    for (const key of ['agent', 'floor', 'node'] as const) {
      if (now[key].total > highest[key].mb) highest[key] = { mb: now[key].total, atS };
    }
    for (const key of ['agent', 'floor'] as const) if (firstOver[key] === undefined && now[key].total > TARGET_MB) firstOver[key] = atS;
    if (!CHECKPOINTS_S.includes(atS)) continue;
    const when = atS < 120 ? `${atS} s` : `${atS / 60} min`;
    console.log(
      `  ${when.padEnd(8)} ${show(now.agent).padEnd(22)} ${show(now.floor).padEnd(24)} ${now.node.total.toFixed(1).padEnd(10)} ${(now.agent.total - now.floor.total).toFixed(1)}`,
    );
  }

  const over = (s: number | undefined) => (s === undefined ? `never above ${TARGET_MB} MB` : `above ${TARGET_MB} MB from ${s} s`);
  console.log(`\nHighest RSS in ${minutes} min (load average ${loadavg()[0]!.toFixed(1)} at the end):`);
  console.log(`  kuma-dp run                      ${highest.agent.mb.toFixed(1)} MB at ${highest.agent.atS} s, ${over(firstOver.agent)}`);
  console.log(`  floor: the contract client       ${highest.floor.mb.toFixed(1)} MB at ${highest.floor.atS} s, ${over(firstOver.floor)}`);
  console.log(`  floor: an idle node              ${highest.node.mb.toFixed(1)} MB`);
  const met = highest.agent.mb <= TARGET_MB;
  const verdict = met
    ? 'met'
    : highest.floor.mb > TARGET_MB
      ? `MISSED, and below what the stack allows: the contract floor itself reaches ${highest.floor.mb.toFixed(1)} MB`
      : 'MISSED';
  console.log(`\nTarget: RSS while supervising ≤ ${TARGET_MB} MB: ${verdict}`);
} finally {
  idleNode?.kill();
  await Promise.all(running.map((r) => r.stop()));
  fixture.close();
}
