// MADS and Mesh.metrics through the real API, store file and a MADS client:
// only Dataplanes of meshes with an enabled metrics backend are assigned, at
// that backend's port and path; a MeshMetric with a Prometheus backend takes
// precedence, as in Kuma.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import t from 'tap';
import type { MiniCp } from '../../src/minicp/index.js';
import { api, dataplane, inProcessCp } from './fixtures.js';

interface MadsResponse {
  version_info: string;
  resources: Array<{ mesh: string; targets: Array<{ name: string; address: string; metrics_path: string; scheme: string }> }>;
}
interface Problem {
  invalid_parameters: Array<{ field: string; reason: string }>;
}

const METRICS = {
  enabledBackend: 'prom-1',
  backends: [
    { name: 'prom-0', type: 'prometheus', conf: { port: 5670, path: '/metrics' } },
    { name: 'prom-1', type: 'prometheus', conf: { port: 1234, path: '/stats', skipMTLS: true, tags: { 'kuma.io/service': 'dataplane-metrics' } } },
  ],
};

function fetchMads(cp: MiniCp, versionInfo = '', timeout = '0s') {
  return fetch(`${cp.addresses.mads}/v3/discovery:monitoringassignments?fetch-timeout=${timeout}`, {
    method: 'POST',
    body: JSON.stringify({ version_info: versionInfo, node: { id: 'prometheus' } }),
  });
}
async function assigned(cp: MiniCp): Promise<MadsResponse> {
  const res = await fetchMads(cp);
  if (res.status !== 200) throw new Error(`MADS answered ${res.status}`);
  return (await res.json()) as MadsResponse;
}
const targets = (body: MadsResponse) =>
  body.resources.map((r) => ({ mesh: r.mesh, ...r.targets[0] })).sort((a, b) => String(a.name).localeCompare(String(b.name)));

t.test('a mesh keeps its metrics across PUT, GET and a restart; MADS lists only its Dataplanes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'minicp-mads-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storeFile = join(dir, 'store.json');
  let cp = (await inProcessCp({ storeFile, workDir: join(dir, 'cp') })).cp;
  t.teardown(() => cp.close());

  t.equal((await api(cp, 'PUT', '/meshes/observed', { type: 'Mesh', name: 'observed', metrics: METRICS })).status, 201);
  t.same((await api(cp, 'GET', '/meshes/observed')).json, { type: 'Mesh', name: 'observed', metrics: METRICS }, 'GET returns metrics as stored');
  t.equal(
    (await api(cp, 'PUT', '/meshes/observed/dataplanes/web-1', { ...dataplane('web-1', { service: 'web', address: '127.0.0.2' }), mesh: 'observed' })).status,
    201,
  );
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/other-1', dataplane('other-1', { service: 'other' }))).status, 201);

  const first = await assigned(cp);
  t.same(
    targets(first),
    [{ mesh: 'observed', name: 'web-1', scheme: 'http', address: '127.0.0.2:1234', metrics_path: '/stats', labels: { 'kuma.io/service': 'web' } }],
    "only the mesh with an enabled backend is listed, at that backend's port and path",
  );

  // A bad enabledBackend is refused, naming the field, and nothing changes (memory or file).
  const fileBefore = await readFile(storeFile, 'utf8');
  const bad = await api(cp, 'PUT', '/meshes/observed', { type: 'Mesh', name: 'observed', metrics: { ...METRICS, enabledBackend: 'prom-9' } });
  t.equal(bad.status, 422);
  t.match((bad.json as Problem).invalid_parameters, [
    { field: 'metrics.enabledBackend', reason: /'prom-9' is not one of metrics.backends \(prom-0, prom-1\)/ },
  ]);
  const badType = await api(cp, 'PUT', '/meshes/observed', {
    type: 'Mesh',
    name: 'observed',
    metrics: { enabledBackend: 'x', backends: [{ name: 'x', type: 'statsd', conf: { port: 0 } }] },
  });
  t.equal(badType.status, 422);
  t.same((badType.json as Problem).invalid_parameters.map((p) => p.field).sort(), ['metrics.backends[0].conf.port', 'metrics.backends[0].type']);
  const unkept = await api(cp, 'PUT', '/meshes/observed', { type: 'Mesh', name: 'observed', mtls: { enabledBackend: 'ca-1' } });
  t.equal(unkept.status, 422, 'a Mesh field the mini-CP does not keep is refused, not dropped');
  t.match((unkept.json as Problem).invalid_parameters, [{ field: 'mtls' }]);
  t.same((await api(cp, 'GET', '/meshes/observed')).json, { type: 'Mesh', name: 'observed', metrics: METRICS }, 'the stored mesh is unchanged');
  t.equal(await readFile(storeFile, 'utf8'), fileBefore, 'the store file is unchanged');
  t.equal((await fetchMads(cp, first.version_info, '50ms')).status, 304, 'MADS has nothing new');

  // Enabling metrics on another mesh wakes a waiting MADS client.
  const waiting = fetchMads(cp, first.version_info, '10s');
  t.equal(
    (
      await api(cp, 'PUT', '/meshes/default', {
        type: 'Mesh',
        name: 'default',
        metrics: { enabledBackend: 'p', backends: [{ name: 'p', type: 'prometheus' }] },
      })
    ).status,
    200,
  );
  const woken = await waiting;
  t.equal(woken.status, 200);
  t.same(
    targets((await woken.json()) as MadsResponse).map((x) => `${x.mesh}/${x.name} ${x.address}${x.metrics_path}`),
    ['default/other-1 127.0.0.1:5670/metrics', 'observed/web-1 127.0.0.2:1234/stats'],
    "a backend without conf uses Kuma's defaults (5670, /metrics)",
  );
  // PUT replaces the resource: without metrics, the mesh has none.
  t.equal((await api(cp, 'PUT', '/meshes/default', { type: 'Mesh', name: 'default' })).status, 200);
  t.same((await api(cp, 'GET', '/meshes/default')).json, { type: 'Mesh', name: 'default' });

  await cp.close();
  cp = (await inProcessCp({ storeFile, workDir: join(dir, 'cp') })).cp;
  t.same((await api(cp, 'GET', '/meshes/observed')).json, { type: 'Mesh', name: 'observed', metrics: METRICS }, 'metrics survive a restart');
  t.same(
    targets(await assigned(cp)).map((x) => `${x.mesh}/${x.name}`),
    ['observed/web-1'],
    'and so does what MADS lists',
  );
});

t.test('a MeshMetric with a Prometheus backend takes precedence over Mesh.metrics, as in Kuma', async (t) => {
  const { cp } = await inProcessCp();
  t.teardown(() => cp.close());
  await api(cp, 'PUT', '/meshes/observed', { type: 'Mesh', name: 'observed', metrics: METRICS });
  await api(cp, 'PUT', '/meshes/observed/dataplanes/web-1', { ...dataplane('web-1', { service: 'web' }), mesh: 'observed' });
  await api(cp, 'PUT', '/meshes/default/dataplanes/other-1', dataplane('other-1', { service: 'other' }));
  t.same(
    targets(await assigned(cp)).map((x) => `${x.mesh}/${x.name}`),
    ['observed/web-1'],
  );
  const policy = {
    type: 'MeshMetric',
    mesh: 'default',
    name: 'prom',
    spec: { targetRef: { kind: 'Mesh' }, default: { backends: [{ type: 'Prometheus', prometheus: { port: 5671, path: '/mm' } }] } },
  };
  t.equal((await api(cp, 'PUT', '/meshes/default/meshmetrics/prom', policy)).status, 201);
  t.same(
    targets(await assigned(cp)).map((x) => `${x.mesh}/${x.name} ${x.address}${x.metrics_path}`),
    ['default/other-1 127.0.0.1:5671/mm'],
    "the MeshMetric's Dataplanes at its backend's port and path; Mesh.metrics no longer counts",
  );
});
