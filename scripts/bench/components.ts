// Benchmark: what kuma-dp runs beside Envoy, on a real `kuma-dp run` against
// kuma-mini-cp and the Envoy stand-in (a test double), with targets:
//   a /meshmetric scrape: Envoy with ~5,000 series + 3 applications  p99 ≤ 50 ms
//   kuma-dp's RSS while serving those scrapes                         ≤ 80 MB
//   a DNS answer from the map on loopback                              p99 ≤ 1 ms
//
//   npm run bench:components [-- scrapes queries]
//
// The scrapes go to kuma-dp's metrics socket (what Envoy's Prometheus listener
// forwards to) and, for comparison, through the stand-in's listener; the DNS
// queries go to kuma-dp's DNS proxy over UDP, one at a time. Floors for
// scale: the same scrape of the Envoy stand-in's own /stats alone, a UDP echo
// round trip on loopback, and for the RSS scripts/bench/floor-scrape.cjs,
// which only streams Envoy's stats through, scraped on the same schedule.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as dnsPacket from 'dns-packet';
import { ENVOY_STANDIN, startHelloApp, startMiniCp, startProxy } from '../../test/helpers/mesh.js';
import { freePort } from '../../test/helpers/ports.js';
import { waitFor } from '../../test/helpers/wait.js';

const scrapes = Number(process.argv[2] ?? 200);
const queries = Number(process.argv[3] ?? 5000);
const ENVOY_SERIES = 5000;
const APP_SERIES = 100;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(ms: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}

const fmt = (n: number): string => (n < 1 ? n.toFixed(3) : n.toFixed(1));

function get(options: { socketPath?: string; host?: string; port?: number; path: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ ...options, headers: { host: 'localhost' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function timed(n: number, once: () => Promise<unknown>, during?: () => void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const began = process.hrtime.bigint();
    await once();
    out.push(Number(process.hrtime.bigint() - began) / 1e6);
    during?.();
  }
  return out;
}

/** An application's metrics endpoint with `series` counters. */
async function metricsApp(name: string, series: number): Promise<Server> {
  let body = `# HELP ${name}_requests_total Requests.\n# TYPE ${name}_requests_total counter\n`;
  for (let i = 0; i < series; i++) body += `${name}_requests_total{path="/p${i}",code="200"} ${i}\n`;
  const server = createServer((req, res) => void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 2000)); // start-up garbage collected before an idle RSS is read

/** RSS of scripts/bench/floor-scrape.cjs (Envoy's stats fetched, scanned and written back, nothing else): idle, then peak under a scrape a second. */
async function floorRss(adminSocket: string, dir: string, scrapes: number): Promise<{ idle: number; peak: number }> {
  const socketPath = join(dir, 'floor-scrape.sock');
  const child = spawn(process.execPath, [join(ROOT, 'scripts/bench/floor-scrape.cjs'), adminSocket, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(child.stdout, 'data');
    await settle();
    const idle = rssMb(child.pid!);
    let peak = idle;
    for (let i = 0; i < scrapes; i++) {
      await get({ socketPath, path: '/metrics' });
      peak = Math.max(peak, rssMb(child.pid!));
      if (i >= 5) await new Promise((resolve) => setTimeout(resolve, 1000)); // 5 back to back first, as the agent's first scrapes
    }
    return { idle, peak };
  } finally {
    child.kill();
  }
}

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const cp = await startMiniCp();
const apps = await Promise.all(['orders', 'billing', 'search'].map((n) => metricsApp(n, APP_SERIES)));
const hello = await startHelloApp('bench');
const metricsPort = await freePort();
const dnsPort = await freePort();
const dnsUpstream = createSocket('udp4');
await new Promise<void>((resolve) => dnsUpstream.bind(0, '127.0.0.1', resolve));
try {
  const put = await cp.api('PUT', '/meshes/default/meshmetrics/bench', {
    type: 'MeshMetric',
    mesh: 'default',
    name: 'bench',
    spec: {
      targetRef: { kind: 'Mesh' },
      default: {
        sidecar: { profiles: { appendProfiles: [{ name: 'All' }] } },
        applications: apps.map((a, i) => ({ name: `app-${i}`, port: (a.address() as AddressInfo).port, path: '/metrics' })),
        backends: [{ type: 'Prometheus', prometheus: { port: metricsPort, path: '/metrics' } }],
      },
    },
  });
  if (put.status !== 201) throw new Error(`MeshMetric: ${put.status} ${put.text}`);
  // A second service, so the DNS map has more than one name.
  await cp.api('PUT', '/meshes/default/dataplanes/other-1', {
    type: 'Dataplane',
    mesh: 'default',
    name: 'other-1',
    networking: { address: '127.0.0.1', inbound: [{ port: await freePort(), servicePort: 1, tags: { 'kuma.io/service': 'other' } }] },
  });
  const proxy = await startProxy(
    cp,
    { binary: ENVOY_STANDIN, real: false, why: 'bench' },
    { name: 'bench-1', service: 'bench', appPort: hello.port, transparentProxying: true },
    ['--dns-proxy-port', String(dnsPort)],
    {
      ENVOY_STANDIN_SYNTHETIC_STATS: String(ENVOY_SERIES),
      KUMA_DNS_UPSTREAM_ADDRESS: `127.0.0.1:${dnsUpstream.address().port}`,
    },
  );
  try {
    await proxy.proc.waitForLog((l) => l.msg === 'Envoy is live', 'Envoy live', 30_000);
    await settle();
    const startRss = rssMb(proxy.proc.child.pid!);
    const socketPath = join(proxy.workDir, 'run', 'kuma-mh-bench-1-default.sock');
    const body = await waitFor(
      'the MeshMetric scrape to carry the applications',
      async () => {
        const b = await get({ socketPath, path: '/meshmetric' }).catch(() => '');
        return /search_requests_total/.test(b) ? b : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
    const envoySeries = body.split('\n').filter((l) => l.startsWith('envoy_')).length;
    const pid = proxy.proc.child.pid!;
    const idleRss = rssMb(pid);
    let peakRss = idleRss;
    const onEach = (): void => void (peakRss = Math.max(peakRss, rssMb(pid)));

    // Paced once a second (a short Prometheus scrape interval), then 10 a second, then back to back for the latency figures.
    let everySecondRss = rssMb(pid);
    await timed(30, async () => {
      await get({ socketPath, path: '/meshmetric' });
      everySecondRss = Math.max(everySecondRss, rssMb(pid));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    });
    let pacedRss = rssMb(pid);
    await timed(50, async () => {
      await get({ socketPath, path: '/meshmetric' });
      pacedRss = Math.max(pacedRss, rssMb(pid));
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    await timed(20, () => get({ socketPath, path: '/meshmetric' })); // warm-up
    const direct = summary(await timed(scrapes, () => get({ socketPath, path: '/meshmetric' }), onEach));
    const through = summary(await timed(scrapes, () => get({ host: '127.0.0.1', port: metricsPort, path: '/metrics' }), onEach));
    const adminSocket = join(proxy.workDir, 'run', 'kuma-envoy-admin.sock');
    const envoyOnly = summary(await timed(scrapes, () => get({ socketPath: adminSocket, path: '/stats?format=prometheus&text_readouts=' })));
    const floor = await floorRss(adminSocket, join(proxy.workDir, 'run'), 35);

    const ask = (name: string, id: number): Promise<dnsPacket.DecodedPacket> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no DNS answer')), 2000);
        client.once('message', (msg) => (clearTimeout(timer), resolve(dnsPacket.decode(msg))));
        client.send(
          dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }),
          dnsPort,
          '127.0.0.1',
        );
      });
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
    await waitFor('bench.mesh in the DNS map', async () => ((await ask('bench.mesh', 1).catch(() => undefined))?.flag_aa ? true : undefined), {
      timeoutMs: 30_000,
    });
    await timed(500, () => ask('bench.mesh', 2));
    const dns = summary(await timed(queries, () => ask('bench.mesh', 3)));
    // Floor: a UDP echo round trip on loopback, through the same client code.
    const echo = createSocket('udp4');
    echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
    const echoPort = echo.address().port;
    const echoOnce = (): Promise<void> =>
      new Promise((resolve) => {
        client.once('message', () => resolve());
        client.send(Buffer.alloc(40), echoPort, '127.0.0.1');
      });
    await timed(500, echoOnce);
    const udpFloor = summary(await timed(queries, echoOnce));
    client.close();
    echo.close();

    const ok = (v: number, max: number): string => (v <= max ? 'ok' : 'OVER');
    const lines = [
      `bench:components — ${new Date().toISOString()}, load average ${loadavg()[0]!.toFixed(2)} (2 shared cores)`,
      `/meshmetric body: ${series} series (${envoySeries} from Envoy, 3 applications × ${APP_SERIES}), ${(Buffer.byteLength(body) / 1024).toFixed(0)} KiB, ${scrapes} scrapes each`,
      '',
      'figure                                              p50 ms    p99 ms    max ms   target',
      `/meshmetric on kuma-dp's metrics socket            ${fmt(direct.p50).padStart(7)}  ${fmt(direct.p99).padStart(8)}  ${fmt(direct.max).padStart(8)}   p99 ≤ 50 ms: ${ok(direct.p99, 50)}`,
      `  same, through the stand-in's :${metricsPort}/metrics   ${fmt(through.p50).padStart(7)}  ${fmt(through.p99).padStart(8)}  ${fmt(through.max).padStart(8)}   (for scale)`,
      `  floor: the stand-in's own /stats (Envoy only)   ${fmt(envoyOnly.p50).padStart(7)}  ${fmt(envoyOnly.p99).padStart(8)}  ${fmt(envoyOnly.max).padStart(8)}   (for scale)`,
      `DNS answer from the map (UDP, loopback)           ${fmt(dns.p50).padStart(7)}  ${fmt(dns.p99).padStart(8)}  ${fmt(dns.max).padStart(8)}   p99 ≤ 1 ms: ${ok(dns.p99, 1)}`,
      `  floor: UDP echo round trip on loopback          ${fmt(udpFloor.p50).padStart(7)}  ${fmt(udpFloor.p99).padStart(8)}  ${fmt(udpFloor.max).padStart(8)}   (for scale)`,
      '',
      `kuma-dp RSS once Envoy is live, before any scrape: ${startRss.toFixed(1)} MB; after the first scrapes: ${idleRss.toFixed(1)} MB`,
      `kuma-dp RSS, peak while scraped once a second (30 s): ${everySecondRss.toFixed(1)} MB   target ≤ 80 MB: ${ok(everySecondRss, 80)}` +
        `   (+${(everySecondRss - startRss).toFixed(1)} MB over idle)`,
      `  floor: scripts/bench/floor-scrape.cjs, idle ${floor.idle.toFixed(1)} MB, peak while scraped once a second ${floor.peak.toFixed(1)} MB   (+${(floor.peak - floor.idle).toFixed(1)} MB over idle)`,
      `kuma-dp RSS, peak while scraped 10 times a second: ${pacedRss.toFixed(1)} MB   target ≤ 80 MB: ${ok(pacedRss, 80)}`,
      `kuma-dp RSS, peak while scraped back to back (${2 * scrapes} scrapes): ${peakRss.toFixed(1)} MB   (worst case)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await proxy.stop();
  }
} finally {
  dnsUpstream.close();
  await hello.close();
  for (const a of apps) a.close();
  await cp.stop();
}
