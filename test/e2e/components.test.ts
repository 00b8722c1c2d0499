// End to end: what kuma-dp runs beside Envoy, configured by kuma-mini-cp as
// kuma-cp configures it — a MeshMetric policy scraped through the proxy's
// Prometheus listener (Envoy → the metrics socket → Envoy's stats and the
// application's), and the DNS proxy answering from the control plane's /dns
// map. Runs with the project's Envoy stand-in (a test double), and again with
// a real Envoy when ENVOY_BINARY is set or envoy is on PATH.
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as dnsPacket from 'dns-packet';
import t, { type Test } from 'tap';
import { e2eEnvoys, httpGet, startHelloApp, startMiniCp, startProxy } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const envoys = e2eEnvoys();
const promtool = spawnSync('promtool', ['--version']).status === 0;
// Polled fast so that a test sees a policy change quickly; Kuma's default is 1s.
const FAST_DYNCONF = { KUMA_DATAPLANE_RUNTIME_DYNAMIC_CONFIGURATION_REFRESH_INTERVAL: '200ms' };

/** An application's own metrics endpoint. */
async function metricsApp(t: Test, series: string): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      .end(`# HELP ${series}_total Orders.\n# TYPE ${series}_total counter\n${series}_total{kind="book"} 3\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { port: (server.address() as AddressInfo).port, server };
}

function meshMetric(name: string, dataplane: string, port: number, conf: { appPort: number; profile?: string }) {
  return {
    type: 'MeshMetric',
    mesh: 'default',
    name,
    spec: {
      targetRef: { kind: 'Dataplane', name: dataplane },
      default: {
        ...(conf.profile ? { sidecar: { profiles: { appendProfiles: [{ name: conf.profile }] } } } : {}),
        applications: [{ name: 'app', port: conf.appPort, path: '/metrics' }],
        backends: [{ type: 'Prometheus', prometheus: { port, path: '/metrics' } }],
      },
    },
  };
}

async function scrape(port: number): Promise<string | undefined> {
  try {
    const res = await httpGet(`http://127.0.0.1:${port}/metrics`, 3000);
    return res.status === 200 ? res.body : undefined;
  } catch {
    return undefined;
  }
}

for (const { label, envoy, skip } of envoys) {
  t.test(`${label}: a MeshMetric scrape through the proxy`, { skip }, async (t) => {
    const cp = await startMiniCp();
    t.teardown(() => cp.stop());
    const app = await startHelloApp('web');
    t.teardown(() => app.close());
    const metrics = await metricsApp(t, 'orders');
    const metricsPort = await freePort();
    const put = await cp.api('PUT', '/meshes/default/meshmetrics/web-metrics', meshMetric('web-metrics', 'web-1', metricsPort, { appPort: metrics.port }));
    t.equal(put.status, 201, put.text);
    const web = await startProxy(cp, envoy, { name: 'web-1', service: 'web', appPort: app.port }, [], FAST_DYNCONF);
    t.teardown(() => web.stop());

    const body = await waitFor('the MeshMetric listener to serve the application series', async () => {
      const b = await scrape(metricsPort);
      return b && /orders_total/.test(b) ? b : undefined;
    });
    t.match(body, /^orders_total\{kind="book",kuma_proxy_role="sidecar",mesh="default"\} 3$/m, "the application's series with the extra labels");
    t.match(body, /^envoy_\w+\{[^}]*mesh="default"[^}]*\} \S+$/m, "Envoy's series");
    t.notMatch(body, /"system_/, "Basic profile: no series of Kuma's own listeners and clusters");
    t.match(body, /^kuma_dp_envoyconfigfetcher_handler_call_count\{/m, "kuma-dp's own series");

    if (promtool) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      t.not(check.status, 1, `promtool found an error: ${check.stderr}`);
      t.notMatch(check.stderr, /error while linting/);
    } else t.comment('promtool is not installed (Debian: apt-get install prometheus); skipped its check');

    // A policy change (another profile) reaches the next scrapes.
    const changedAt = Date.now();
    await cp.api('PUT', '/meshes/default/meshmetrics/web-metrics', meshMetric('web-metrics', 'web-1', metricsPort, { appPort: metrics.port, profile: 'All' }));
    await waitFor('the All profile in the scrape', async () => /"system_meshmetric_prometheus_/.test((await scrape(metricsPort)) ?? '') || undefined);
    t.comment(`policy change visible in the scrape after ${Date.now() - changedAt} ms (refresh interval 200 ms)`);

    // A scrape target that goes away leaves the scrape answering, logged once.
    await new Promise<void>((resolve) => (metrics.server.closeAllConnections(), metrics.server.close(() => resolve())));
    for (let i = 0; i < 3; i++) {
      const after = await scrape(metricsPort);
      t.ok(after && /^envoy_/m.test(after) && !/orders_total/.test(after), 'Envoy series still served without the application');
    }
    t.equal(web.proc.logs().filter((l) => l.msg === 'could not scrape a metrics target; its series are left out').length, 1, 'logged once');

    // The policy removed: Envoy's listener goes; the agent stays up and says so once.
    t.equal((await cp.api('DELETE', '/meshes/default/meshmetrics/web-metrics')).status, 200);
    await waitFor('the Prometheus listener to go', async () => ((await scrape(metricsPort)) === undefined ? true : undefined));
    await web.proc.waitForLog((l) => l.msg === 'the dynamic configuration listener is gone; the last configuration stays', 'the fetcher noticed');
    // That a failure repeated at every poll is logged once is shown with an injected clock in test/dynconf/fetcher.test.ts.
    t.equal(web.proc.child.exitCode, null, 'kuma-dp keeps running');
  });

  t.test(`${label}: the DNS proxy answers mesh names from the control plane's map`, { skip }, async (t) => {
    const cp = await startMiniCp();
    t.teardown(() => cp.stop());
    const upstream = createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions?.[0]?.name ?? '';
      upstream.send(
        dnsPacket.encode({
          id: q.id,
          type: 'response',
          flags: dnsPacket.RECURSION_AVAILABLE,
          questions: q.questions,
          answers: [{ name, type: 'A', class: 'IN', ttl: 60, data: '198.51.100.7' }],
        }),
        rinfo.port,
        rinfo.address,
      );
    });
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    t.teardown(() => upstream.close());
    const app = await startHelloApp('backend');
    t.teardown(() => app.close());
    const dnsPort = await freePort();
    const proxy = await startProxy(
      cp,
      envoy,
      { name: 'backend-1', service: 'backend', appPort: app.port, transparentProxying: true },
      ['--dns-proxy-port', String(dnsPort)],
      {
        ...FAST_DYNCONF,
        KUMA_DNS_UPSTREAM_ADDRESS: `127.0.0.1:${upstream.address().port}`,
      },
    );
    t.teardown(() => proxy.stop());

    const ask = (name: string): Promise<dnsPacket.DecodedPacket & { rcode?: string }> =>
      new Promise((resolve, reject) => {
        const socket = createSocket('udp4');
        const timer = setTimeout(() => (socket.close(), reject(new Error('no DNS answer'))), 2000);
        socket.on('message', (msg) => {
          clearTimeout(timer);
          socket.close();
          resolve(dnsPacket.decode(msg));
        });
        socket.send(
          dnsPacket.encode({ id: 7, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A', class: 'IN' }] }),
          dnsPort,
          '127.0.0.1',
        );
      });
    const data = (p: dnsPacket.DecodedPacket): unknown[] => (p.answers ?? []).map((a) => ('data' in a ? a.data : undefined));

    const backend = await waitFor('backend.mesh from the map', async () => {
      const reply = await ask('backend.mesh').catch(() => undefined);
      return reply?.flag_aa ? reply : undefined;
    });
    t.match(data(backend)[0], /^24\d\.\d+\.\d+\.\d+$/, 'a VIP from 240.0.0.0/4');
    t.same(data(await ask('example.com')), ['198.51.100.7'], 'other names are answered by the upstream');

    // A new service changes the map.
    const changedAt = Date.now();
    const other = await cp.api('PUT', '/meshes/default/dataplanes/billing-1', {
      type: 'Dataplane',
      mesh: 'default',
      name: 'billing-1',
      networking: { address: '127.0.0.1', inbound: [{ port: await freePort(), servicePort: 1, tags: { 'kuma.io/service': 'billing' } }] },
    });
    t.ok(other.status === 201 || other.status === 200, other.text);
    const billing = await waitFor('billing.mesh in the map', async () => {
      const reply = await ask('billing.mesh').catch(() => undefined);
      return reply?.flag_aa ? reply : undefined;
    });
    t.comment(`new service answered after ${Date.now() - changedAt} ms (refresh interval 200 ms)`);
    t.not(data(billing)[0], data(backend)[0], 'each service has its own VIP');
    t.same(data(await ask('backend.mesh')), data(backend), 'an existing VIP does not move');
  });
}
