import t from 'tap';
import { parseDataplane } from '../../src/dataplane/parse.js';
import { inboundResources, outboundResources, serviceEndpoints } from '../../src/render/resources.js';
import { Templates } from '../../src/render/templates.js';

const templates = Templates.load();
const dp = parseDataplane(
  `type: Dataplane
mesh: default
name: web-1
networking:
  address: 10.0.0.5
  inbound:
    - { port: 10000, servicePort: 8080, tags: { kuma.io/service: web, kuma.io/protocol: http } }
    - { port: 10001, servicePort: 8081, tags: { kuma.io/service: web-admin }, state: NotReady }
  outbound:
    - { port: 20000, tags: { kuma.io/service: backend } }
    - { port: 20001, tags: { kuma.io/service: db, kuma.io/protocol: tcp } }
`,
  'dp.yaml',
);
const filterOf = (listener: Record<string, any>) => listener.filter_chains[0].filters[0].name;

t.test('inbounds: a listener on address:port to a local cluster; HTTP gets the connection manager', async (t) => {
  const { listeners, clusters } = inboundResources(templates, dp);
  t.same(
    listeners.map((l) => l.name),
    ['inbound:10.0.0.5:10000', 'inbound:10.0.0.5:10001'],
  );
  t.same(listeners.map(filterOf), ['envoy.filters.network.http_connection_manager', 'envoy.filters.network.tcp_proxy']);
  t.same(
    clusters.map((c) => c.name),
    ['localhost:8080', 'localhost:8081'],
  );
});

t.test("outbounds take the service's protocol unless they name their own", async (t) => {
  const { listeners, clusters } = outboundResources(templates, dp, { eds: true }, (service) =>
    service === 'backend' || service === 'db' ? { 'kuma.io/protocol': 'http' } : undefined,
  );
  t.same(
    listeners.map((l) => l.name),
    ['outbound:127.0.0.1:20000', 'outbound:127.0.0.1:20001'],
  );
  t.same(
    listeners.map(filterOf),
    ['envoy.filters.network.http_connection_manager', 'envoy.filters.network.tcp_proxy'],
    'backend is HTTP by its inbounds; db says tcp itself',
  );
  t.same(
    clusters.map((c) => `${c.name}:${c.type}`),
    ['backend:EDS', 'db:EDS'],
  );
});

t.test('service endpoints are the ready inbounds tagged with the service', async (t) => {
  t.same(serviceEndpoints([dp], 'web'), [{ address: '10.0.0.5', port: 10000 }]);
  t.same(serviceEndpoints([dp], 'web-admin'), [], 'a NotReady inbound is left out');
});
