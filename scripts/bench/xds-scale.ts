// xDS scale benchmark: N simulated proxies (ADS clients on loopback, each its
// own Dataplane, spread over 10 services, each consuming every service)
// against bin/kuma-mini-cp run as its own process. Measures:
//  - first config: from opening all streams until every proxy has ACKed CDS, EDS and LDS;
//  - push latency: from a dataplane change (an endpoint going not-ready/ready)
//    until every affected proxy has received the new endpoints (p50/p99 over the changes);
//  - the control plane's RSS (peak, from /proc).
// Usage: node dist/scripts/bench/xds-scale.js [--n 100 --n 1000] [--changes 30] [--delta] [--find-max] [--max-n 6000] [--step 1000]
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { TYPE_URL, type DiscoveryResponse } from '../../src/xds/ads-proto.js';
import { KUMA_MINI_CP, start, type Running } from '../../test/helpers/cli.js';
import { waitFor } from '../../test/helpers/wait.js';
import { AdsClient, type AnyResponse } from '../../test/minicp/ads-client.js';

const SERVICES = 10;
const CLI_MODULE = fileURLToPath(new URL('../../src/cli/kuma-mini-cp.js', import.meta.url));
const TARGETS = { firstConfigMs: 5000, pushP99Ms: 1000, rssMb: 400 };
const PHASE_TIMEOUT_MS = 120_000;

interface Result {
  n: number;
  mode: 'sotw' | 'delta';
  firstConfigMs: number;
  pushP50Ms: number;
  pushP99Ms: number;
  pushMaxMs: number;
  rssAfterFirstConfigMb: number;
  rssPeakMb: number;
  /** CPU the control plane used in each phase, to tell its cost from the simulated proxies'. */
  cpCpuFirstConfigS: number;
  cpCpuPushesS: number;
  /** The machine's 1-minute load average when the run ended: other work on it skews every figure. */
  loadAvg1m: number;
  holds: boolean;
}

const service = (i: number) => `svc-${i % SERVICES}`;
const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function dataplane(i: number, ready = true) {
  return {
    type: 'Dataplane',
    mesh: 'default',
    name: `dp-${i}`,
    networking: {
      address: address(i),
      inbound: [
        { port: 10001, servicePort: 8080, tags: { 'kuma.io/service': service(i), 'kuma.io/protocol': 'http' }, ...(ready ? {} : { state: 'NotReady' }) },
      ],
      outbound: Array.from({ length: SERVICES }, (_, s) => ({ port: 20001 + s, tags: { 'kuma.io/service': `svc-${s}` } })),
    },
  };
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function rssMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** An Envoy-like proxy: CDS, then EDS for the services, then LDS, ACKing every response at once. */
class Proxy {
  private acked = new Set<string>();
  constructor(
    readonly client: AdsClient<AnyResponse>,
    private readonly delta: boolean,
    private readonly report: (event: ProxyEvent) => void,
  ) {}

  private subscribe(type: string, names: string[]): void {
    if (this.delta) this.client.deltaRequest({ type_url: type, resource_names_subscribe: names });
    else this.client.request({ type_url: type, resource_names: names });
  }

  start(): void {
    const names = Array.from({ length: SERVICES }, (_, s) => `svc-${s}`);
    this.client.onResponse = (response) => {
      const type = response.type_url;
      if (this.delta) this.client.deltaRequest({ type_url: type, response_nonce: response.nonce });
      else this.client.ack(response as DiscoveryResponse, type === TYPE_URL.endpoint ? names : []);
      if (type === TYPE_URL.endpoint) {
        this.report({ kind: 'eds', version: 'version_info' in response ? response.version_info : response.system_version_info, at: now() });
      }
      if (!this.acked.has(type)) {
        this.acked.add(type);
        if (type === TYPE_URL.cluster) this.subscribe(TYPE_URL.endpoint, names);
        if (type === TYPE_URL.endpoint) this.subscribe(TYPE_URL.listener, []);
        if (this.acked.size === 3) this.report({ kind: 'first', at: now() });
      }
      this.client.responses.length = 0; // keep memory flat: the benchmark reads versions, not history
    };
    this.subscribe(TYPE_URL.cluster, []);
  }
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A timestamp comparable between threads. */
const now = (): number => performance.timeOrigin + performance.now();

type ProxyEvent = { kind: 'first'; at: number } | { kind: 'eds'; version: string; at: number };
type WorkerMessage = { kind: 'ready' } | (ProxyEvent & { i: number });

interface WorkerData {
  target: string;
  from: number;
  to: number;
  delta: boolean;
}

/**
 * Simulated proxies run in worker threads, so that they use the machine's
 * cores while the control plane waits on them, as separate Envoys would.
 */
async function runProxies({ target, from, to, delta }: WorkerData): Promise<void> {
  const port = parentPort!;
  const clients: AdsClient<AnyResponse>[] = [];
  await AdsClient.open<AnyResponse>({ target, nodeId: 'warm-up', headersOnly: true }).then((c) => c.close()); // loads the protos before timing starts
  port.postMessage({ kind: 'ready' } satisfies WorkerMessage);
  const openProxies = async () => {
    for (let i = from; i < to; i++) {
      const client = await AdsClient.open<AnyResponse>({ target, nodeId: `default.dp-${i}`, headersOnly: true, delta });
      clients.push(client);
      new Proxy(client, delta, (event) => port.postMessage({ ...event, i } satisfies WorkerMessage)).start();
    }
  };
  port.on('message', (message: string) => {
    if (message === 'go') {
      openProxies().catch((err: unknown) => {
        console.error(`proxy worker for dp-${from}..dp-${to - 1} failed: ${errorMessage(err)}`);
        process.exit(1); // in a worker, this ends the worker's thread
      });
    } else if (message === 'close') {
      for (const c of clients) c.close();
      port.close();
    }
  });
}

async function api(base: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`${base}${path}`, { method, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
}

/** Ports free right now (the CP is told them, so it can run at --log-level warn: a busy benchmark draining info lines from a pipe would slow the CP down). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function runOnce(n: number, changes: number, delta: boolean, cpNodeArgs: string[], workerCount: number): Promise<Result> {
  const workDir = await mkdtemp(join(tmpdir(), 'xds-scale-'));
  const [dpPort, apiPort, apiHttpsPort, diagPort, madsPort] = await freePorts(5);
  const args = [
    'run',
    '--bind-address',
    '127.0.0.1',
    '--dp-server-port',
    String(dpPort),
    '--api-server-http-port',
    String(apiPort),
    '--api-server-https-port',
    String(apiHttpsPort),
    '--diagnostics-port',
    String(diagPort),
    '--mads-port',
    String(madsPort),
    '--no-dp-server-tls',
    '--auth',
    'none',
    '--work-dir',
    workDir,
    '--log-level',
    'warn',
  ];
  // With node flags (profiling), run the CLI's module under node directly; otherwise as users do.
  const cp: Running = cpNodeArgs.length > 0 ? start(process.execPath, [...cpNodeArgs, CLI_MODULE, ...args]) : start(KUMA_MINI_CP, args);
  const workers: Worker[] = [];
  try {
    await waitFor(`the control plane to be ready\n${cp.stderr().slice(-500)}`, async () => (await fetch(`http://127.0.0.1:${diagPort}/ready`)).ok, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const base = `http://127.0.0.1:${apiPort}`;
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => api(base, 'PUT', `/meshes/default/dataplanes/dp-${i + k}`, dataplane(i + k))));
    }

    const target = `127.0.0.1:${dpPort}`;
    const firstConfigAt = new Array<number | undefined>(n).fill(undefined);
    const lastEdsVersion = new Array<string>(n).fill('');
    const lastEdsAt = new Array<number>(n).fill(0);
    let ready = 0;
    const perWorker = Math.ceil(n / workerCount);
    for (let w = 0; w < workerCount && w * perWorker < n; w++) {
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { target, from: w * perWorker, to: Math.min(n, (w + 1) * perWorker), delta } satisfies WorkerData,
      });
      worker.on('message', (m: WorkerMessage) => {
        if (m.kind === 'ready') ready++;
        else if (m.kind === 'first') firstConfigAt[m.i] = m.at;
        else {
          lastEdsVersion[m.i] = m.version;
          lastEdsAt[m.i] = m.at;
        }
      });
      worker.on('error', (err: unknown) => console.error(`proxy worker ${w} failed: ${errorMessage(err)}`));
      workers.push(worker);
    }
    await waitFor('the proxy workers to load', () => ready === workers.length, { timeoutMs: 30_000 });
    const cpuAtStart = cpuSeconds(cp.child.pid!);
    const startedAt = now();
    for (const worker of workers) worker.postMessage('go');
    await waitFor(`all ${n} proxies to ACK their first config`, () => firstConfigAt.every((at) => at !== undefined), {
      timeoutMs: PHASE_TIMEOUT_MS,
      intervalMs: 10,
    });
    const firstConfigMs = Math.max(...(firstConfigAt as number[])) - startedAt;
    const afterFirst = rssMb(cp.child.pid!);
    const cpuAfterFirst = cpuSeconds(cp.child.pid!);

    // Each change flips one endpoint of a service every proxy consumes: all N proxies are affected.
    const latencies: number[] = [];
    const isReady = new Array<boolean>(n).fill(true);
    for (let c = 0; c < changes; c++) {
      const i = (c * 7) % n;
      isReady[i] = !isReady[i];
      const before = [...lastEdsVersion];
      const t0 = now();
      await api(base, 'PUT', `/meshes/default/dataplanes/dp-${i}`, dataplane(i, isReady[i]));
      await waitFor(`change ${c} to reach all ${n} proxies`, () => lastEdsVersion.every((v, k) => v !== before[k]), {
        timeoutMs: PHASE_TIMEOUT_MS,
        intervalMs: 2,
      });
      latencies.push(Math.max(...lastEdsAt) - t0);
    }
    latencies.sort((a, b) => a - b);
    const end = rssMb(cp.child.pid!);
    const result: Result = {
      n,
      mode: delta ? 'delta' : 'sotw',
      firstConfigMs: Math.round(firstConfigMs),
      pushP50Ms: Math.round(percentile(latencies, 50)),
      pushP99Ms: Math.round(percentile(latencies, 99)),
      pushMaxMs: Math.round(latencies[latencies.length - 1]!),
      rssAfterFirstConfigMb: Math.round(afterFirst.rss),
      rssPeakMb: Math.round(Math.max(afterFirst.peak, end.peak)),
      cpCpuFirstConfigS: Number((cpuAfterFirst - cpuAtStart).toFixed(2)),
      cpCpuPushesS: Number((cpuSeconds(cp.child.pid!) - cpuAfterFirst).toFixed(2)),
      loadAvg1m: Number(loadavg()[0]!.toFixed(2)),
      holds: false,
    };
    result.holds = result.firstConfigMs <= TARGETS.firstConfigMs && result.pushP99Ms <= TARGETS.pushP99Ms && result.rssPeakMb <= TARGETS.rssMb;
    return result;
  } finally {
    for (const worker of workers) worker.postMessage('close');
    await Promise.all(
      workers.map((w) => Promise.race([new Promise((r) => w.once('exit', r)), new Promise((r) => setTimeout(r, 5_000)).then(() => w.terminate())])),
    );
    cp.kill('SIGTERM');
    const exited = await Promise.race([cp.exited, new Promise((r) => setTimeout(r, 10_000, undefined))]);
    if (!exited) cp.kill('SIGKILL');
    await rm(workDir, { recursive: true, force: true });
  }
}

if (!isMainThread) {
  await runProxies(workerData as WorkerData);
} else {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', multiple: true },
      changes: { type: 'string', default: '30' },
      // Incremental xDS (what Kuma 3 proxies use) instead of state-of-the-world.
      delta: { type: 'boolean', default: false },
      // Threads the simulated proxies are spread over.
      workers: { type: 'string', default: '1' },
      'find-max': { type: 'boolean', default: false },
      'max-n': { type: 'string', default: '6000' },
      step: { type: 'string', default: '1000' },
      // e.g. --cp-node-arg=--cpu-prof --cp-node-arg=--cpu-prof-dir=/tmp/cp-prof to profile the control plane alone
      'cp-node-arg': { type: 'string', multiple: true },
    },
  });
  const changes = Number(values.changes);
  const sizes = (values.n ?? ['100', '1000']).map(Number);
  const results: Result[] = [];
  const report = (r: Result) => {
    results.push(r);
    console.log(JSON.stringify(r));
  };
  for (const n of sizes) report(await runOnce(n, changes, values.delta, values['cp-node-arg'] ?? [], Number(values.workers)));
  if (values['find-max']) {
    const step = Number(values.step);
    // Upwards from the largest size given, while the targets hold.
    let n = Math.max(...sizes) + step;
    while (results.find((r) => r.n === Math.max(...sizes))?.holds && n <= Number(values['max-n'])) {
      let r: Result;
      try {
        r = await runOnce(n, changes, values.delta, values['cp-node-arg'] ?? [], Number(values.workers));
      } catch (err) {
        console.log(JSON.stringify({ n, error: (err as Error).message.split('\n')[0] }));
        break;
      }
      report(r);
      if (!r.holds) break;
      n += step;
    }
    const held = results.filter((r) => r.holds).map((r) => r.n);
    console.log(
      `largest N holding the targets (first config ≤ ${TARGETS.firstConfigMs} ms, push p99 ≤ ${TARGETS.pushP99Ms} ms, RSS ≤ ${TARGETS.rssMb} MB): ${held.length ? Math.max(...held) : 'none'}`,
    );
  }
  console.table(results);
  process.exit(0);
}
