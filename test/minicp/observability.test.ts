import t from 'tap';
import type { Dataplane } from '../../src/dataplane/types.js';
import { dnsDocument, meshMetricConf, observabilityResources, validateMeshMetric, VipAllocator } from '../../src/minicp/observability.js';
import { etagOf } from '../../src/render/observability.js';
import { Store } from '../../src/minicp/store.js';

const dataplane = (name: string, service: string, extra: Partial<Dataplane['networking']> = {}): Dataplane => ({
  type: 'Dataplane',
  mesh: 'default',
  name,
  networking: { address: '10.0.0.5', inbound: [{ port: 8080, tags: { 'kuma.io/service': service, version: 'v2' } }], ...extra },
});

async function storeWith(policies: Array<{ name: string; spec: Record<string, unknown> }>, dps: Dataplane[] = []): Promise<Store> {
  const store = await Store.open(undefined);
  for (const p of policies) await store.putPolicy({ type: 'MeshMetric', mesh: 'default', name: p.name, spec: p.spec });
  for (const dp of dps) await store.put(dp, 'api');
  return store;
}

t.test('MeshMetric spec checks name the field', (t) => {
  t.same(validateMeshMetric({ targetRef: { kind: 'Mesh' }, default: { backends: [{ type: 'Prometheus', prometheus: { port: 5670 } }] } }), []);
  t.match(validateMeshMetric({ targetRef: { kind: 'MeshGateway' } }), [{ field: 'spec.targetRef.kind' }]);
  t.match(validateMeshMetric({ default: { applications: [{ port: 70000 }] } }), [{ field: 'spec.default.applications[0].port' }]);
  t.match(validateMeshMetric({ default: { backends: [{ type: 'Zipkin' }] } }), [{ field: 'spec.default.backends[0].type' }]);
  t.match(validateMeshMetric({ default: { sidecar: { profiles: { appendProfiles: [{ name: 'Most' }] } } } }), [
    { field: 'spec.default.sidecar.profiles.appendProfiles[0].name' },
  ]);
  t.match(validateMeshMetric({ from: [] }), [{ field: 'spec.from' }]);
  t.end();
});

t.test('policies merge from the broadest target to the most specific; appendProfiles add up', async (t) => {
  const web = dataplane('web-1', 'web');
  const store = await storeWith([
    {
      name: 'z-mesh',
      spec: { targetRef: { kind: 'Mesh' }, default: { sidecar: { profiles: { appendProfiles: [{ name: 'Basic' }] } }, applications: [{ port: 1 }] } },
    },
    { name: 'a-dp', spec: { targetRef: { kind: 'Dataplane', name: 'web-1' }, default: { applications: [{ port: 3 }] } } },
    {
      name: 'b-svc',
      spec: {
        targetRef: { kind: 'MeshService', name: 'web' },
        default: { sidecar: { profiles: { appendProfiles: [{ name: 'All' }] } }, applications: [{ port: 2 }] },
      },
    },
    { name: 'other', spec: { targetRef: { kind: 'MeshSubset', tags: { version: 'v1' } }, default: { applications: [{ port: 9 }] } } },
  ]);
  t.same(meshMetricConf(store, web), {
    sidecar: { profiles: { appendProfiles: [{ name: 'Basic' }, { name: 'All' }] } },
    applications: [{ port: 3 }],
  });
  t.same(meshMetricConf(store, dataplane('db-1', 'db'))?.applications, [{ port: 1 }], 'only the Mesh policy selects db');
  t.equal(meshMetricConf(await storeWith([]), web), undefined);
});

t.test("a Prometheus backend becomes kuma-cp's listener, cluster and /meshmetric route; none before the work dir is known", async (t) => {
  const web = dataplane('web-1', 'web');
  const store = await storeWith([
    {
      name: 'm',
      spec: {
        targetRef: { kind: 'Mesh' },
        default: { applications: [{ port: 8081, path: '/stats' }], backends: [{ type: 'Prometheus', prometheus: { port: 5671, path: '/m' } }] },
      },
    },
  ]);
  t.same(observabilityResources(store, new VipAllocator(), web, ''), { listeners: [], clusters: [] });
  const { listeners, clusters } = observabilityResources(store, new VipAllocator(), web, '/work');
  const json = JSON.stringify({ listeners, clusters });
  t.same(
    listeners.map((l) => l.name),
    ['system_meshmetric_prometheus_default-backend', 'system_dynamicconfig'],
  );
  t.match(json, /"socket_address":\{"address":"10\.0\.0\.5","port_value":5671\}/);
  t.match(json, /"match":\{"prefix":"\/m"\},"route":\{"cluster":"system_meshmetric_prometheus_default-backend","prefix_rewrite":"\/meshmetric"\}/);
  t.match(json, /"pipe":\{"path":"\/work\/kuma-mh-web-1-default\.sock"\}/);
  t.match(json, /"pipe":\{"path":"\/work\/kuma-mesh-metric-config\.sock"\}/);
  type Route = { match: { headers?: unknown }; direct_response?: { body?: { inline_string?: string } }; response_headers_to_add?: unknown };
  type Hcm = { typed_config: { route_config: { virtual_hosts: Array<{ routes: Route[] }> } } };
  const routes = (listeners[1] as { filter_chains: Array<{ filters: Hcm[] }> }).filter_chains[0]!.filters[0]!.typed_config.route_config.virtual_hosts[0]!
    .routes;
  const body = routes[1]!.direct_response?.body?.inline_string ?? '';
  t.same(JSON.parse(body), {
    observability: {
      metrics: {
        applications: [{ path: '/stats', port: 8081, address: '' }],
        backends: [{ type: 'Prometheus', name: null }],
        sidecar: {},
        extraLabels: { 'kuma.proxy_role': 'sidecar', mesh: 'default' },
      },
    },
  });
  t.same(routes[0]!.match.headers, [{ name: 'If-None-Match', string_match: { exact: etagOf(body) } }], '304 when the agent has this ETag');
  t.same(routes[1]!.response_headers_to_add, [{ header: { key: 'Etag', value: etagOf(body) } }]);
  t.match(etagOf(body), /^[0-9a-f]{64}$/);
});

t.test('the /dns map: every service of the mesh as <service>.mesh, VIPs that stay put', async (t) => {
  const tp = dataplane('web-1', 'web', { transparentProxying: { redirectPortInbound: 15006, redirectPortOutbound: 15001 } });
  const store = await storeWith([], [tp, dataplane('db-1', 'db')]);
  const vips = new VipAllocator();
  const first = JSON.parse(dnsDocument(store, vips, tp)) as { records: Array<{ name: string; ips: string[] }>; ttl: number };
  t.same(first, {
    records: [
      { name: 'db.mesh', ips: ['240.0.0.0'] },
      { name: 'web.mesh', ips: ['240.0.0.1'] },
    ],
    ttl: 30,
    extraLabels: { mesh: 'default' },
  });
  await store.delete('default', 'db-1');
  await store.put(dataplane('api-1', 'api'), 'api');
  const second = JSON.parse(dnsDocument(store, vips, tp)) as typeof first;
  t.same(second.records, [
    { name: 'api.mesh', ips: ['240.0.0.2'] },
    { name: 'web.mesh', ips: ['240.0.0.1'] },
  ]);
  t.notOk(JSON.stringify(observabilityResources(store, vips, dataplane('db-2', 'db'), '/w')).includes('/dns'), 'no map without transparent proxying');
  t.ok(JSON.stringify(observabilityResources(store, vips, tp, '/w')).includes('"path":"/dns"'));
});
