import t from 'tap';
import { parseDataplane } from '../../src/dataplane/parse.js';
import { inboundResources, outboundResources, serviceEndpoints, type EnvoyResource } from '../../src/render/resources.js';
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
/** The parts of the rendered listeners and clusters these tests read. */
interface Listener {
  filter_chains?: Array<{ filters: Array<{ name: string }> }>;
}
interface Cluster {
  name?: string;
  type?: string;
}
const filterOf = (listener: EnvoyResource) => (listener as Listener).filter_chains?.[0]?.filters[0]?.name;

t.test('inbounds: a listener on address:port to a local cluster; HTTP gets the connection manager', (t) => {
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
  t.end();
});

t.test("outbounds take the service's protocol unless they name their own", (t) => {
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
    clusters.map((c) => `${(c as Cluster).name}:${(c as Cluster).type}`),
    ['backend:EDS', 'db:EDS'],
  );
  t.end();
});

t.test('service endpoints are the ready inbounds tagged with the service', (t) => {
  t.same(serviceEndpoints([dp], 'web'), [{ address: '10.0.0.5', port: 10000 }]);
  t.same(serviceEndpoints([dp], 'web-admin'), [], 'a NotReady inbound is left out');
  t.end();
});

t.test("outbound address has Kuma's meaning: the IP the outbound listener binds (127.0.0.1 by default)", (t) => {
  const withAddress = parseDataplane(
    `type: Dataplane
mesh: default
name: web-2
networking:
  address: 10.0.0.6
  inbound:
    - { port: 10000, servicePort: 8080, tags: { kuma.io/service: web } }
  outbound:
    - { port: 20000, address: 127.0.0.5, tags: { kuma.io/service: backend } }
    - { port: 20001, tags: { kuma.io/service: db } }
`,
    'dp.yaml',
  );
  const { listeners } = outboundResources(templates, withAddress, { eds: true });
  t.same(
    listeners.map((l) => [l.name, (l as { address: { socket_address: { address: string } } }).address.socket_address.address]),
    [
      ['outbound:127.0.0.5:20000', '127.0.0.5'],
      ['outbound:127.0.0.1:20001', '127.0.0.1'],
    ],
  );
  t.end();
});
