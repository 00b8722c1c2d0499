// What each mode's API accepts and refuses (Kuma's 405 "Method not allowed"
// with its message), and the labels it puts on what it creates.
import t from 'tap';
import type { MiniCp } from '../../src/minicp/index.js';
import { api, dataplane, inProcessCp } from '../minicp/fixtures.js';

/** The parts of the API's answers these tests read. */
interface Body {
  labels?: Record<string, string>;
  total?: number;
  items?: unknown[];
  policies?: Array<{ readOnly: boolean }>;
  invalid_parameters?: Array<{ field: string }>;
}
const read = async (cp: MiniCp, path: string): Promise<Body> => (await api(cp, 'GET', path)).json as Body;

const policy = (name: string, extra: Record<string, unknown> = {}) => ({
  type: 'MeshTimeout',
  mesh: 'default',
  name,
  spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout: '5s' } }] },
  ...extra,
});

t.test('standalone: everything, no origin labels', async (t) => {
  const { cp } = await inProcessCp();
  t.teardown(() => cp.close());
  t.equal((await api(cp, 'PUT', '/meshes/default/meshtimeouts/t1', policy('t1'))).status, 201);
  t.equal((await api(cp, 'PUT', '/meshes/default/meshtimeouts/t1', policy('t1'))).status, 200, 'the same again: unchanged');
  t.same((await read(cp, '/meshes/default/meshtimeouts/t1')).labels, undefined);
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web' }))).status, 201);
  t.equal((await read(cp, '/meshtimeouts')).total, 1, 'listed across meshes');
  const bad = await api(cp, 'PUT', '/meshes/default/meshtimeouts/t2', { type: 'MeshRetry', name: 't2', spec: { targetRef: 'Mesh', bogus: 1 }, extra: 1 });
  t.equal(bad.status, 400);
  t.match(
    (bad.json as Body).invalid_parameters?.map((p) => p.field),
    ['extra', 'type', 'spec.bogus', 'spec.targetRef'],
    'every field error is named',
  );
  t.equal((await api(cp, 'GET', '/meshes/default/nosuchpolicies')).status, 404);
  t.equal((await api(cp, 'DELETE', '/meshes/default/meshtimeouts/t1')).status, 200);
  t.equal((await api(cp, 'GET', '/meshes/default/meshtimeouts/t1')).status, 404);
  t.equal((await api(cp, 'DELETE', '/meshes/default')).status, 400, 'a mesh with Dataplanes stays');
});

t.test('global: no Dataplane writes; what it creates is labelled global', async (t) => {
  const { cp } = await inProcessCp({ mode: 'global' });
  t.teardown(() => cp.close());
  t.equal(cp.addresses.dpServer, '', 'no DP server');
  for (const [method, body] of [
    ['PUT', dataplane('web-1', { service: 'web' })],
    ['DELETE', undefined],
  ] as const) {
    const res = await api(cp, method, '/meshes/default/dataplanes/web-1', body);
    t.equal(res.status, 405, `${method} a Dataplane`);
    t.match(res.json, { title: 'Method not allowed', detail: /^On global control plane you can not modify dataplane resources/ });
  }
  t.equal((await api(cp, 'PUT', '/meshes/other', { type: 'Mesh', name: 'other' })).status, 201);
  t.same((await read(cp, '/meshes/other')).labels, { 'kuma.io/origin': 'global' });
  t.equal((await api(cp, 'PUT', '/meshes/default/meshtimeouts/t1', policy('t1', { labels: { team: 'a' } }))).status, 201);
  t.same((await read(cp, '/meshes/default/meshtimeouts/t1')).labels, { team: 'a', 'kuma.io/origin': 'global' });
  t.same((await read(cp, '/zones')).items, [], 'no zone yet');
});

t.test('zone: only Dataplanes, labelled with the zone', async (t) => {
  // The global is unreachable here: the zone keeps retrying and its API still answers.
  const { cp } = await inProcessCp({ mode: 'zone', meshes: ['default'], multizone: { zoneName: 'zone-9', globalAddress: 'grpcs://127.0.0.1:1' } });
  t.teardown(() => cp.close());
  for (const [method, path, body] of [
    ['PUT', '/meshes/other', { type: 'Mesh', name: 'other' }],
    ['DELETE', '/meshes/default', undefined],
    ['PUT', '/meshes/default/meshtimeouts/t1', policy('t1')],
    ['DELETE', '/meshes/default/meshtimeouts/t1', undefined],
  ] as const) {
    const res = await api(cp, method, path, body);
    t.equal(res.status, 405, `${method} ${path}`);
    t.match(res.json, { title: 'Method not allowed', detail: /^On zone control plane you can only modify zone resources/ });
  }
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web' }))).status, 201);
  t.same((await read(cp, '/meshes/default/dataplanes/web-1')).labels, { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-9' });
  t.ok(
    (await read(cp, '/policies')).policies?.every((p) => p.readOnly),
    'policies are read-only here',
  );
});
