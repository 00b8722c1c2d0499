import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { MetricsHijacker } from '../../src/metrics/hijacker.js';
import { metricsHijackerSocketName } from '../../src/util/socket-name.js';
import { OwnSeries } from '../../src/exposition/own-series.js';
import { recordingLogger } from '../helpers/log.js';

const ENVOY_STATS = `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 7
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="system_envoy_admin"} 2
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 7
envoy_cluster_upstream_rq_total{envoy_cluster_name="backend-5fb50345cfb50345"} 3
# TYPE envoy_cluster_lb_subsets_created counter
envoy_cluster_lb_subsets_created{envoy_cluster_name="backend"} 0
# TYPE envoy_server_live gauge
envoy_server_live{} 1
`;

async function listen(t: Test, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return (server.address() as AddressInfo).port;
}

async function setup(t: Test) {
  const adminPaths: string[] = [];
  const admin = createServer((req, res) => {
    adminPaths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(ENVOY_STATS);
  });
  const adminPort = await listen(t, admin);
  const app = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      .end('# HELP orders_total Orders.\n# TYPE orders_total counter\norders_total{kind="book"} 3\n');
  });
  const appPort = await listen(t, app);
  const dir = mkdtempSync(join(tmpdir(), 'mh-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const series = new OwnSeries();
  series.counter('kuma_dp_envoyconfigfetcher_handler_call_count', 'calls').inc([['path', '/meshmetric']]);
  const socketPath = metricsHijackerSocketName(dir, 'web-1', 'default');
  const hijacker = new MetricsHijacker({
    socketPath,
    admin: { kind: 'tcp', address: '127.0.0.1', port: adminPort },
    defaultAddress: '127.0.0.1',
    legacySources: [{ name: 'app', url: `http://127.0.0.1:${appPort}/metrics` }],
    ownSeries: () => series.families(),
    log: recordingLogger(),
  });
  await hijacker.start((err) => t.fail(`the metrics socket failed: ${err.message}`));
  t.teardown(() => hijacker.stop());
  const get = (path: string, accept?: string) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request({ socketPath, path, headers: { host: 'localhost', ...(accept ? { accept } : {}) } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    });
  return { hijacker, get, appPort, adminPaths, dir, socketPath };
}

const meshMetric = (appPort: number, sidecar: object = {}) =>
  JSON.stringify({
    observability: {
      metrics: {
        applications: [{ path: '/metrics', port: appPort, address: '' }],
        backends: [{ type: 'Prometheus', name: null }],
        sidecar,
        extraLabels: { 'kuma.proxy_role': 'sidecar', mesh: 'default', zone: 'zone-1' },
      },
    },
  });

t.test('/meshmetric: Envoy (Basic profile), the applications, own series, extra labels', async (t) => {
  const { hijacker, get, appPort, adminPaths } = await setup(t);
  const before = await get('/meshmetric');
  t.equal(before.status, 200);
  t.match(before.body, /^envoy_server_live 1$/m, 'before any policy: Envoy only');
  t.notMatch(before.body, /orders_total/);
  t.equal(adminPaths.at(-1), '/stats?format=prometheus&text_readouts=');

  hijacker.consumer.apply(meshMetric(appPort));
  const { body, type } = await get('/meshmetric');
  t.match(type, /^text\/plain; version=0\.0\.4/);
  t.equal(adminPaths.at(-1), '/stats?format=prometheus&text_readouts=&usedonly=', "Kuma's query once a policy applies");
  t.match(body, /^orders_total\{kind="book",kuma_proxy_role="sidecar",mesh="default",zone="zone-1"\} 3$/m, "the application's series with the extra labels");
  t.match(
    body,
    /^envoy_cluster_upstream_rq\{envoy_response_code="200",envoy_cluster_name="backend",kuma_proxy_role="sidecar",mesh="default",zone="zone-1"\} 7$/m,
  );
  t.notMatch(body, /system_envoy_admin/, 'Basic drops Kuma system clusters');
  t.notMatch(body, /lb_subsets_created/, 'Basic drops what it does not select');
  t.match(body, /^kuma_dp_envoyconfigfetcher_handler_call_count\{path="\/meshmetric",/m, "kuma-dp's own series");

  hijacker.consumer.apply(meshMetric(appPort, { profiles: { appendProfiles: [{ name: 'All' }] }, includeUnused: true }));
  const all = await get('/meshmetric');
  t.match(all.body, /lb_subsets_created/, 'All keeps everything');
  t.equal(adminPaths.at(-1), '/stats?format=prometheus&text_readouts=');

  hijacker.consumer.apply(undefined);
  t.notMatch((await get('/meshmetric')).body, /orders_total/, 'a removed policy stops scraping its applications');
});

t.test('OpenMetrics negotiated: each family declared once, # EOF at the end', async (t) => {
  const { hijacker, get, appPort } = await setup(t);
  hijacker.consumer.apply(meshMetric(appPort, { profiles: { appendProfiles: [{ name: 'All' }] } }));
  const { body, type } = await get('/meshmetric', 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5');
  t.match(type, /^application\/openmetrics-text; version=1\.0\.0/);
  const types = body.split('\n').filter((l) => l.startsWith('# TYPE '));
  t.equal(new Set(types.map((l) => l.split(' ')[2])).size, types.length, 'no family declared twice');
  t.match(body, /^# TYPE envoy_cluster_upstream_rq counter$/m);
  t.match(body, /^# TYPE orders counter$/m);
  t.match(body, /^orders_total\{/m);
  t.ok(body.endsWith('# EOF\n'));
});

t.test('legacy path: cluster-suffix merge, mesh traffic label, the bootstrap applications', async (t) => {
  const { get } = await setup(t);
  const { body } = await get('/metrics');
  t.match(body, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="backend",kuma_io_mesh_traffic="true"\} 10$/m, 'backend and backend-<hash> summed');
  t.match(body, /^orders_total\{kind="book"\} 3$/m);
});

t.test('a target that fails leaves its series out, the scrape still answers', async (t) => {
  const { hijacker, get } = await setup(t);
  hijacker.consumer.apply(meshMetric(1));
  const res = await get('/meshmetric');
  t.equal(res.status, 200);
  t.match(res.body, /envoy_server_live/);
});

t.test('a stale socket file is replaced; a live one is refused', async (t) => {
  const { socketPath } = await setup(t);
  const again = new MetricsHijacker({
    socketPath,
    admin: { kind: 'tcp', address: '127.0.0.1', port: 1 },
    defaultAddress: '127.0.0.1',
    legacySources: [],
    ownSeries: () => [],
    log: recordingLogger(),
  });
  await t.rejects(
    again.start(() => undefined),
    /is served by another process/,
  );
  const dir = mkdtempSync(join(tmpdir(), 'mh-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stale = join(dir, 'kuma-mh-x-y.sock');
  writeFileSync(stale, '');
  const fresh = new MetricsHijacker({
    socketPath: stale,
    admin: { kind: 'tcp', address: '127.0.0.1', port: 1 },
    defaultAddress: '127.0.0.1',
    legacySources: [],
    ownSeries: () => [],
    log: recordingLogger(),
  });
  await fresh.start(() => undefined);
  await fresh.stop();
});

t.test('socket name as Kuma: at most 98 bytes, then .sock', (t) => {
  t.equal(metricsHijackerSocketName('/tmp', 'web', 'default'), '/tmp/kuma-mh-web-default.sock');
  t.equal(metricsHijackerSocketName('/tmp', 'x'.repeat(200), 'm').length, 98 + 5);
  t.end();
});

const promtool = spawnSync('promtool', ['--version']).status === 0;

t.test(
  'promtool check metrics: the bodies parse (only lint notes inherent to Envoy names)',
  { skip: promtool ? false : 'promtool is not installed (Debian: apt-get install prometheus)' },
  async (t) => {
    const { hijacker, get, appPort } = await setup(t);
    hijacker.consumer.apply(meshMetric(appPort, { profiles: { appendProfiles: [{ name: 'All' }] } }));
    for (const path of ['/meshmetric', '/metrics']) {
      const { body } = await get(path);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      t.not(check.status, 1, `${path}: promtool found an error: ${check.stderr}`);
      t.notMatch(check.stderr, /error while linting/);
      const notes = (check.stdout + check.stderr)
        .split('\n')
        .filter(Boolean)
        .filter((l) => !/ no help text$/.test(l) && !/counter metrics should have "_total" suffix$/.test(l))
        // Kuma's own names for these counters, kept as Kuma has them.
        .filter((l) => !/^kuma_dp_\w+_count non-histogram and non-summary metrics should not have "_count" suffix$/.test(l));
      t.same(notes, [], `${path}: no other lint findings`);
    }
  },
);
