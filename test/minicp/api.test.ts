// The HTTP API (plain and TLS), tokens, diagnostics and MADS of an in-process mini-CP.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as https from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import t from 'tap';
import { createCa, issueCert } from '../../src/tls/certs.js';
import { api, dataplane, inProcessCp } from './fixtures.js';

// The parts of the API's bodies these tests read.
interface List<T> {
  total: number;
  items: T[];
}
interface DataplaneBody {
  networking: { address: string; inbound: Array<{ port: number }> };
}
interface Problem {
  title: string;
  invalid_parameters: Array<{ field: string; reason: string }>;
}
interface MadsResponse {
  version_info: string;
  resources: Array<{ targets: Array<{ name: string }> }>;
}

const { cp } = await inProcessCp({ auth: 'dp-token' });
t.teardown(() => cp.close());

t.test('index and meshes', async (t) => {
  const index = await api(cp, 'GET', '/');
  t.equal(index.status, 200);
  t.match(index.json, { tagline: 'Kuma', product: 'kuma-mini-cp', version: String });
  t.same((await api(cp, 'GET', '/meshes')).json, { total: 1, items: [{ type: 'Mesh', name: 'default' }], next: null });
  t.equal((await api(cp, 'PUT', '/meshes/prod', { type: 'Mesh', name: 'prod' })).status, 201);
  t.equal((await api(cp, 'PUT', '/meshes/prod', { type: 'Mesh', name: 'prod' })).status, 200);
  t.same(
    ((await api(cp, 'GET', '/meshes')).json as List<{ name: string }>).items.map((m) => m.name),
    ['default', 'prod'],
  );
  const bad = await api(cp, 'PUT', '/meshes/Bad_Mesh', { type: 'Mesh', name: 'Bad_Mesh' });
  t.equal(bad.status, 422);
  t.match((bad.json as Problem).invalid_parameters, [{ field: 'name', reason: /not a valid mesh name/ }]);
});

t.test('dataplanes: create, read, list, update, delete', async (t) => {
  const dp = dataplane('web-1', { service: 'web' });
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', dp)).status, 201);
  const got = await api(cp, 'GET', '/meshes/default/dataplanes/web-1');
  t.equal(got.status, 200);
  t.match(got.json, { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: dp.networking, creationTime: String, modificationTime: String });
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web', port: 10005 }))).status, 200);
  const list = await api(cp, 'GET', '/meshes/default/dataplanes');
  const listed = list.json as List<DataplaneBody>;
  t.equal(listed.total, 1);
  t.equal(listed.items[0]?.networking.inbound[0]?.port, 10005);
  t.equal((await api(cp, 'DELETE', '/meshes/default/dataplanes/web-1')).status, 200);
  t.equal((await api(cp, 'GET', '/meshes/default/dataplanes/web-1')).status, 404);
  t.equal((await api(cp, 'DELETE', '/meshes/default/dataplanes/web-1')).status, 404);
});

t.test('errors name the field and change nothing', async (t) => {
  await api(cp, 'PUT', '/meshes/default/dataplanes/keep', dataplane('keep', { service: 'keep' }));
  const badJson = await api(cp, 'PUT', '/meshes/default/dataplanes/keep', '{"type": "Dataplane",');
  t.equal(badJson.status, 400);
  t.match((badJson.json as Problem).title, /not valid JSON/);

  const invalid = await api(cp, 'PUT', '/meshes/default/dataplanes/keep', {
    type: 'Dataplane',
    mesh: 'default',
    name: 'keep',
    networking: { address: '10.0.0.1', inbound: [{ port: 0, tags: { app: 'x' } }], colour: 'red' },
  });
  t.equal(invalid.status, 422);
  t.match((invalid.json as Problem).invalid_parameters, [{ field: 'networking.colour', reason: 'unknown field' }]);
  const semantic = await api(cp, 'PUT', '/meshes/default/dataplanes/keep', {
    type: 'Dataplane',
    mesh: 'default',
    name: 'keep',
    networking: { address: '10.0.0.1', inbound: [{ port: 0, tags: { app: 'x' } }] },
  });
  t.equal(semantic.status, 422);
  const fields = (semantic.json as Problem).invalid_parameters.map((p) => p.field);
  t.ok(fields.includes('networking.inbound[0].port') && fields.includes('networking.inbound[0].tags["kuma.io/service"]'), JSON.stringify(fields));
  t.equal(
    ((await api(cp, 'GET', '/meshes/default/dataplanes/keep')).json as DataplaneBody).networking.address,
    '127.0.0.1',
    'the stored resource is unchanged',
  );

  const mismatch = await api(cp, 'PUT', '/meshes/default/dataplanes/other-name', dataplane('keep', { service: 'keep' }));
  t.equal(mismatch.status, 400);
  t.match((mismatch.json as Problem).invalid_parameters, [{ field: 'name' }]);
  const unknownMesh = await api(cp, 'PUT', '/meshes/nope/dataplanes/keep', dataplane('keep', { service: 'keep' }));
  t.equal(unknownMesh.status, 404);
  t.match((unknownMesh.json as Problem).title, /mesh 'nope' does not exist/);
  t.equal((await api(cp, 'GET', '/meshes/nope/dataplanes')).status, 404);
  t.equal((await api(cp, 'POST', '/meshes/default/dataplanes/keep', {})).status, 405);
  t.equal((await api(cp, 'GET', '/no/such/thing')).status, 404);
});

t.test('dataplane tokens', async (t) => {
  const res = await api(cp, 'POST', '/tokens/dataplane', { name: 'web-1', mesh: 'default', tags: { 'kuma.io/service': ['web'] }, validFor: '1h' });
  t.equal(res.status, 200);
  const [header, payload] = res.text
    .split('.')
    .slice(0, 2)
    .map((p): unknown => JSON.parse(Buffer.from(p, 'base64url').toString()));
  t.match(header, { alg: 'RS256', kid: String });
  t.match(payload, { Name: 'web-1', Mesh: 'default', Type: 'dataplane', Tags: { 'kuma.io/service': ['web'] }, jti: String, exp: Number });
  const claims = payload as { exp: number; iat: number };
  t.ok(claims.exp - claims.iat <= 3600 + 5, 'validFor sets the expiry');
  t.same(await cp.tokens.verify(res.text, 'default', 'web-1').then((id) => id.name), 'web-1');
  const bad = await api(cp, 'POST', '/tokens/dataplane', { name: 'Web 1', mesh: 'default', colour: 'red', validFor: 'soon' });
  t.equal(bad.status, 422);
  t.same((bad.json as Problem).invalid_parameters.map((p) => p.field).sort(), ['colour', 'name', 'validFor']);
  t.equal((await api(cp, 'POST', '/tokens/dataplane', { name: 'web-1', mesh: 'nope' })).status, 422);
  t.equal((await api(cp, 'POST', '/tokens/dataplane', 'not json')).status, 400);
});

t.test('the HTTPS API answers with a certificate from the logged CA', async (t) => {
  const ca = await readFile(cp.caCertPath);
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get(`https://localhost:${cp.ports.apiHttps}/meshes`, { ca }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  t.match(JSON.parse(body), { items: [{ name: 'default' }] });
});

t.test('diagnostics: healthy, ready, metrics', async (t) => {
  const get = (path: string) => fetch(`${cp.addresses.diagnostics}${path}`);
  t.equal((await get('/healthy')).status, 200);
  t.equal((await get('/ready')).status, 200);
  const metrics = await (await get('/metrics')).text();
  t.match(metrics, /^kuma_mini_cp_dataplanes \d+$/m);
  t.match(metrics, /^kuma_mini_cp_xds_streams 0$/m);
  t.match(metrics, /^# TYPE kuma_mini_cp_xds_nacks_total counter$/m);
  t.match(metrics, /^kuma_mini_cp_xds_nacks_total 0$/m);
  t.match(metrics, /kuma_mini_cp_process_resident_memory_bytes/);
});

t.test('MADS lists the dataplanes of a mesh with a metrics backend and long-polls for changes', async (t) => {
  const metrics = { enabledBackend: 'prometheus-1', backends: [{ name: 'prometheus-1', type: 'prometheus' }] };
  t.equal((await api(cp, 'PUT', '/meshes/default', { type: 'Mesh', name: 'default', metrics })).status, 200);
  const fetchMads = (versionInfo = '', timeout = '0s') =>
    fetch(`${cp.addresses.mads}/v3/discovery:monitoringassignments?fetch-timeout=${timeout}`, {
      method: 'POST',
      body: JSON.stringify({ version_info: versionInfo, node: { id: 'prometheus' } }),
    });
  const first = await fetchMads();
  t.equal(first.status, 200);
  const body = (await first.json()) as MadsResponse;
  const keep = body.resources.find((r) => r.targets[0]?.name === 'keep');
  t.match(keep, {
    '@type': 'type.googleapis.com/kuma.observability.v1.MonitoringAssignment',
    mesh: 'default',
    service: 'keep',
    targets: [{ scheme: 'http', address: '127.0.0.1:5670', metrics_path: '/metrics', labels: { 'kuma.io/service': 'keep' } }],
  });
  t.equal((await fetchMads(body.version_info, '50ms')).status, 304, 'nothing changed within the fetch timeout');
  const waiting = fetchMads(body.version_info, '10s');
  await api(cp, 'PUT', '/meshes/default/dataplanes/new-one', dataplane('new-one', { service: 'new' }));
  const changed = await waiting;
  t.equal(changed.status, 200);
  const after = (await changed.json()) as MadsResponse;
  t.not(after.version_info, body.version_info);
  t.ok(after.resources.some((r) => r.targets[0]?.name === 'new-one'));
});

const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
t.test(
  'other hosts may read but not write or mint tokens',
  { skip: external ? false : 'this host has no non-loopback IPv4 address to call from' },
  async (t) => {
    if (!external) return;
    const open = await inProcessCp({ bindAddress: '0.0.0.0', auth: 'none' });
    t.teardown(() => open.cp.close());
    const base = `http://${external}:${open.cp.ports.apiHttp}`;
    t.equal((await fetch(`${base}/meshes`)).status, 200);
    const put = await fetch(`${base}/meshes/default/dataplanes/x`, { method: 'PUT', body: JSON.stringify(dataplane('x', { service: 'x' })) });
    t.equal(put.status, 403);
    t.match(((await put.json()) as { title: string }).title, /only accepted from this host.*--api-admin-from-anywhere/);
    t.equal((await fetch(`${base}/tokens/dataplane`, { method: 'POST', body: '{"name":"x"}' })).status, 403);
    t.equal((await api(open.cp, 'PUT', '/meshes/default/dataplanes/x', dataplane('x', { service: 'x' }))).status, 201, 'from this host it is accepted');
    const xds = `${base}/meshes/default/dataplanes/x/xds`;
    t.equal((await fetch(xds)).status, 403, "a proxy's configuration is not readable from another host");
    t.equal((await fetch(`${base}/meshes/default/dataplanes/x`)).status, 200, 'the resource itself is');
    const adminToken = (await readFile(join(open.cp.workDir, 'admin-token'), 'utf8')).trim();
    t.equal((await fetch(xds, { headers: { authorization: `Bearer ${adminToken}` } })).status, 200, 'with the admin token it is');
    t.equal((await fetch(xds, { headers: { authorization: `Bearer ${adminToken.slice(1)}x` } })).status, 403, 'not with a wrong one');
    t.equal((await stat(join(open.cp.workDir, 'admin-token'))).mode & 0o777, 0o600, 'the admin token file is 0600');
  },
);

t.test('--tls-cert-file/--tls-key-file: the chain is served and its root handed out as ca.crt', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mini-cp-own-cert-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa('my CA');
  const server = await issueCert(ca, { commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await writeFile(join(dir, 'tls.crt'), `${server.certPem.trim()}\n${ca.certPem.trim()}\n`);
  await writeFile(join(dir, 'tls.key'), server.keyPem);
  const own = await inProcessCp({ workDir: join(dir, 'work'), tlsCertFile: join(dir, 'tls.crt'), tlsKeyFile: join(dir, 'tls.key') });
  t.teardown(() => own.cp.close());
  t.equal((await readFile(own.cp.caCertPath, 'utf8')).trim(), ca.certPem.trim(), 'ca.crt is the chain’s root');
  const status = await new Promise<number>((resolve, reject) => {
    https.get(`https://localhost:${own.cp.ports.apiHttps}/meshes`, { ca: ca.certPem }, (res) => resolve(res.statusCode!)).on('error', reject);
  });
  t.equal(status, 200, 'a client trusting only that CA reaches the HTTPS API');
  await t.rejects(inProcessCp({ workDir: join(dir, 'half'), tlsCertFile: join(dir, 'tls.crt') }), /--tls-cert-file and --tls-key-file go together/);
});
