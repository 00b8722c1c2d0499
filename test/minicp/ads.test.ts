// The ADS server as Envoy sees it: SotW and delta streams against a mini-CP
// in this process (plaintext, no auth: the process and TLS paths are in cli.test).
import t from 'tap';
import { loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';
import { TYPE_URL, typeNameOf, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../src/xds/ads-proto.js';
import { waitFor } from '../helpers/wait.js';
import { AdsClient } from './ads-client.js';
import { api, dataplane, decodeAll, hostPort, inProcessCp } from './fixtures.js';

const types = await loadEnvoyTypes();
const { cp, logs } = await inProcessCp({ auth: 'none', dpServerTls: false });
t.teardown(() => cp.close());
const target = hostPort(cp.addresses.dpServer);
const clients: Array<Pick<AdsClient, 'close'>> = [];
t.teardown(() => clients.forEach((c) => c.close()));

const put = async (dp: ReturnType<typeof dataplane>) => {
  const res = await api(cp, 'PUT', `/meshes/default/dataplanes/${dp.name}`, dp);
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${dp.name}: ${res.status} ${res.text}`);
};
const webOutbound = [{ port: 20001, service: 'backend' }];
await put(dataplane('web-1', { service: 'web', protocol: 'http', outbound: webOutbound }));
await put(dataplane('web-2', { service: 'web', address: '127.0.0.2', protocol: 'http', outbound: webOutbound }));
await put(dataplane('backend-1', { service: 'backend', address: '127.0.0.3', port: 10002 }));

const names = (json: Array<Record<string, unknown>>) => json.map((r) => String(r.name ?? r.cluster_name)).sort();
/** The fields of a ClusterLoadAssignment (proto3 JSON) that endpointsOf reads. */
interface LoadAssignment {
  endpoints?: Array<{ lb_endpoints?: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }>;
}
const endpointsOf = (cla: Record<string, unknown>) =>
  ((cla as LoadAssignment).endpoints?.[0]?.lb_endpoints ?? [])
    .map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`)
    .sort();

/** The parts of GET /meshes/{mesh}/dataplanes/{name}/xds these tests read. */
interface XdsStatus {
  nacks: unknown[];
  streams: Array<{
    types: Record<string, { subscribed: string[]; acked?: { version: string; resources: Array<{ name?: unknown }> } }>;
  }>;
}

/** Runs Envoy's SotW start-up for one proxy: CDS, EDS for its clusters, LDS, each ACKed. */
async function sotwStart(nodeId: string) {
  const client = await AdsClient.open<DiscoveryResponse>({ target, nodeId });
  clients.push(client);
  client.request({ type_url: TYPE_URL.cluster, resource_names: [] });
  const cds = await client.next('CDS', (r) => r.type_url === TYPE_URL.cluster);
  client.ack(cds);
  client.request({ type_url: TYPE_URL.endpoint, resource_names: ['backend'] });
  const eds = await client.next('EDS', (r) => r.type_url === TYPE_URL.endpoint);
  client.ack(eds, ['backend']);
  client.request({ type_url: TYPE_URL.listener, resource_names: [] });
  const lds = await client.next('LDS', (r) => r.type_url === TYPE_URL.listener);
  client.ack(lds);
  return { client, cds, eds, lds };
}

const countOf = (client: AdsClient<DiscoveryResponse>, type: string) => client.responses.filter((r) => r.type_url === type).length;

t.test('SotW: full first response per type, ACKs, pushes of only what changed, NACK', async (t) => {
  const web1 = await sotwStart('default.web-1');
  let lastEds: DiscoveryResponse | undefined;
  const web2 = await sotwStart('default.web-2');

  t.test('first responses hold every resource, each decodes and validates', async (t) => {
    const clusters = await decodeAll(web1.cds.resources);
    t.same(names(clusters), ['backend', 'localhost:8080']);
    t.equal(clusters.find((c) => c.name === 'backend')!.type, 'EDS');
    const [cla] = await decodeAll(web1.eds.resources);
    t.same(endpointsOf(cla!), ['127.0.0.3:10002']);
    const listeners = await decodeAll(web1.lds.resources);
    t.same(names(listeners), ['inbound:127.0.0.1:10001', 'outbound:127.0.0.1:20001']);
    t.ok(JSON.stringify(listeners).includes('http_connection_manager'), 'kuma.io/protocol http gives an HTTP connection manager');
    t.not(web1.cds.nonce, web1.lds.nonce, 'a nonce per response');
    t.ok(web1.cds.version_info && web1.eds.version_info && web1.lds.version_info, 'every response has a version');
    const web2Listeners = await decodeAll(web2.lds.resources);
    t.ok(names(web2Listeners).includes('inbound:127.0.0.2:10001'), 'each proxy gets its own inbound');
  });

  t.test('a dataplane added: every consumer gets new endpoints, and nothing else', async (t) => {
    const before = [web1.client.responses.length, web2.client.responses.length];
    await put(dataplane('backend-2', { service: 'backend', address: '127.0.0.4', port: 10002 }));
    for (const [i, proxy] of [web1, web2].entries()) {
      const eds = await proxy.client.next('EDS push after add', (r) => r.type_url === TYPE_URL.endpoint, before[i]);
      const [cla] = await decodeAll(eds.resources);
      t.same(endpointsOf(cla!), ['127.0.0.3:10002', '127.0.0.4:10002']);
      t.not(eds.version_info, proxy.eds.version_info);
      proxy.client.ack(eds, ['backend']);
      t.same(
        proxy.client.responses.slice(before[i]).map((r) => r.type_url),
        [TYPE_URL.endpoint],
        'only EDS was pushed',
      );
    }
  });

  t.test('a not-ready inbound is no endpoint; a removed dataplane is pushed away', async (t) => {
    const before = web1.client.responses.length;
    await put(dataplane('backend-3', { service: 'backend', address: '127.0.0.5', port: 10002, ready: false }));
    const del = await api(cp, 'DELETE', '/meshes/default/dataplanes/backend-1');
    t.equal(del.status, 200);
    const eds = await web1.client.next('EDS push after remove', (r) => r.type_url === TYPE_URL.endpoint && endpointsOf(decodeSync(r)).length === 1, before);
    t.same(endpointsOf(decodeSync(eds)), ['127.0.0.4:10002']);
    web1.client.ack(eds, ['backend']);
    t.equal(countOf(web1.client, TYPE_URL.cluster), 1, 'CDS never resent');
    t.equal(countOf(web1.client, TYPE_URL.listener), 1, 'LDS never resent');
  });

  t.test('NACK: logged with the error, visible in the API, not resent', async (t) => {
    const before = web1.client.responses.length;
    await put(dataplane('web-1', { service: 'web', protocol: 'http', outbound: [...webOutbound, { port: 20002, service: 'db' }] }));
    const cds = await web1.client.next('CDS push after the dataplane changed', (r) => r.type_url === TYPE_URL.cluster, before);
    t.same(names(await decodeAll(cds.resources)), ['backend', 'db', 'localhost:8080']);
    web1.client.ack(cds);
    const lds = await web1.client.next('LDS push', (r) => r.type_url === TYPE_URL.listener, before);
    web1.client.nack(lds, web1.lds.version_info, 'listener outbound:127.0.0.1:20002: address already in use');
    const logged = await waitForLog(logs, (l) => l.msg === 'proxy rejected configuration (NACK)');
    t.match(logged, { proxy: 'default.web-1', error: /address already in use/, version: lds.version_info });
    const status = await api(cp, 'GET', '/meshes/default/dataplanes/web-1/xds');
    t.equal(status.status, 200);
    const xds = status.json as XdsStatus;
    t.match(xds.nacks, [{ typeUrl: TYPE_URL.listener, version: lds.version_info, error: /address already in use/ }]);
    const stream = xds.streams[0]!;
    t.equal(stream.types[TYPE_URL.listener]!.acked!.version, web1.lds.version_info, 'the last ACKed listener version stays the previous one');
    t.equal(stream.types[TYPE_URL.cluster]!.acked!.version, cds.version_info);
    t.ok(
      stream.types[TYPE_URL.cluster]!.acked!.resources.some((c) => c.name === 'db'),
      'the API shows the ACKed resources',
    );
    const metrics = await (await fetch(`${cp.addresses.diagnostics}/metrics`)).text();
    t.match(metrics, /^kuma_mini_cp_xds_nacks_total 1$/m, 'counted in /metrics');
    t.match(metrics, /^kuma_mini_cp_xds_connected_proxies 2$/m);

    // Another change, to endpoints only: the NACKed listeners are not sent again.
    const afterNack = web1.client.responses.length;
    await put(dataplane('backend-4', { service: 'backend', address: '127.0.0.6', port: 10002 }));
    lastEds = await web1.client.next('EDS push after NACK', (r) => r.type_url === TYPE_URL.endpoint, afterNack);
    t.same(
      web1.client.responses.slice(afterNack).map((r) => r.type_url),
      [TYPE_URL.endpoint],
    );
  });

  t.test('EDS: a new subscription gets every requested assignment, a push only the changed ones', async (t) => {
    const before = web1.client.responses.length;
    // As Envoy does: the ACK of the last response carries the new names.
    web1.client.ack(lastEds!, ['backend', 'db']);
    const all = await web1.client.next('EDS for the new names', (r) => r.type_url === TYPE_URL.endpoint, before);
    t.same(names(await decodeAll(all.resources)), ['backend', 'db']);
    web1.client.ack(all, ['backend', 'db']);
    const afterSubscribe = web1.client.responses.length;
    await put(dataplane('db-1', { service: 'db', address: '127.0.0.9', port: 10003 }));
    const push = await web1.client.next('EDS push for db', (r) => r.type_url === TYPE_URL.endpoint, afterSubscribe);
    const [cla] = await decodeAll(push.resources);
    t.same(names([cla!]), ['db'], 'only the assignment that changed');
    t.same(endpointsOf(cla!), ['127.0.0.9:10003']);
    t.not(push.version_info, all.version_info, 'the version covers every requested assignment');
    web1.client.ack(push, ['backend', 'db']);
  });
});

/** The first resource of a response, decoded. */
function decodeSync(r: DiscoveryResponse): Record<string, unknown> {
  const any = r.resources[0];
  return any ? types.decode(any.value, typeNameOf(any.type_url)) : {};
}

const waitForLog = (logs: Array<Record<string, unknown>>, match: (l: Record<string, unknown>) => boolean) => waitFor('log line', () => logs.find(match));

t.test('delta: subscribe, unsubscribe, removals', async (t) => {
  await put(dataplane('web-3', { service: 'web', address: '127.0.0.7', protocol: 'http', outbound: webOutbound }));
  const client = await AdsClient.open<DeltaDiscoveryResponse>({ target, nodeId: 'default.web-3', delta: true });
  clients.push(client);
  const ack = (r: DeltaDiscoveryResponse) => client.deltaRequest({ type_url: r.type_url, response_nonce: r.nonce });
  const byType = (type: string, after = 0) => client.next(type, (r) => r.type_url === type, after);

  client.deltaRequest({ type_url: TYPE_URL.cluster });
  const cds = await byType(TYPE_URL.cluster);
  t.same(cds.resources.map((r) => r.name).sort(), ['backend', 'localhost:8080']);
  t.ok(
    cds.resources.every((r) => r.version),
    'each resource has a version',
  );
  await decodeAll(cds.resources.map((r) => r.resource));
  ack(cds);

  client.deltaRequest({ type_url: TYPE_URL.endpoint, resource_names_subscribe: ['backend'] });
  const eds = await byType(TYPE_URL.endpoint);
  t.same(
    eds.resources.map((r) => r.name),
    ['backend'],
  );
  ack(eds);

  client.deltaRequest({ type_url: TYPE_URL.listener });
  const lds = await byType(TYPE_URL.listener);
  t.same(lds.resources.map((r) => r.name).sort(), ['inbound:127.0.0.7:10001', 'outbound:127.0.0.1:20001']);
  await decodeAll(lds.resources.map((r) => r.resource));
  ack(lds);

  // Unsubscribed: endpoint changes are not sent; subscribing again sends the current state.
  client.deltaRequest({ type_url: TYPE_URL.endpoint, resource_names_unsubscribe: ['backend'] });
  await waitFor('the unsubscription to reach the server', async () => {
    const xds = await api(cp, 'GET', '/meshes/default/dataplanes/web-3/xds');
    return (xds.json as XdsStatus).streams[0]?.types[TYPE_URL.endpoint]?.subscribed.length === 0;
  });
  const before = client.responses.length;
  await put(dataplane('backend-5', { service: 'backend', address: '127.0.0.8', port: 10002 }));
  // A change this proxy does see (its own listeners) proves the push above has happened by now.
  await put(dataplane('web-3', { service: 'web', address: '127.0.0.7', outbound: webOutbound }));
  const ldsAfter = await byType(TYPE_URL.listener, before);
  t.same(
    ldsAfter.resources.map((r) => r.name),
    ['inbound:127.0.0.7:10001'],
    'only the listener that changed (now tcp_proxy)',
  );
  t.same(ldsAfter.removed_resources, []);
  ack(ldsAfter);
  t.notOk(
    client.responses.slice(before).some((r) => r.type_url === TYPE_URL.endpoint),
    'no endpoints for an unsubscribed name',
  );
  client.deltaRequest({ type_url: TYPE_URL.endpoint, resource_names_subscribe: ['backend'] });
  const resub = await byType(TYPE_URL.endpoint, before);
  t.same(
    resub.resources.map((r) => r.name),
    ['backend'],
  );
  ack(resub);

  // The outbound goes away: its cluster and listener are removed by name.
  const beforeRemoval = client.responses.length;
  await put({ ...dataplane('web-3', { service: 'web', address: '127.0.0.7' }) });
  const cdsRemoval = await byType(TYPE_URL.cluster, beforeRemoval);
  t.same(cdsRemoval.removed_resources, ['backend']);
  t.same(cdsRemoval.resources, []);
  const ldsRemoval = await byType(TYPE_URL.listener, beforeRemoval);
  t.same(ldsRemoval.removed_resources, ['outbound:127.0.0.1:20001']);
});

t.test('a proxy can register its Dataplane through node metadata, and is deregistered when it leaves', async (t) => {
  const dp = dataplane('self-1', { service: 'self', address: '127.0.0.10' });
  const client = await AdsClient.open<DiscoveryResponse>({ target, nodeId: 'default.self-1', nodeMetadata: { 'dataplane.resource': JSON.stringify(dp) } });
  clients.push(client);
  client.request({ type_url: TYPE_URL.listener, resource_names: [] });
  const lds = await client.next('LDS for a self-registered proxy', (r) => r.type_url === TYPE_URL.listener);
  t.same(names(await decodeAll(lds.resources)), ['inbound:127.0.0.10:10001']);
  t.equal((await api(cp, 'GET', '/meshes/default/dataplanes/self-1')).status, 200);
  client.close();
  await waitFor('the Dataplane to be removed', async () => (await api(cp, 'GET', '/meshes/default/dataplanes/self-1')).status === 404);
  t.pass('removed after the stream closed');
});

t.test('a proxy that connects before its Dataplane exists gets its configuration once it does', async (t) => {
  const client = await AdsClient.open<DiscoveryResponse>({ target, nodeId: 'default.late-1' });
  clients.push(client);
  client.request({ type_url: TYPE_URL.listener, resource_names: [] });
  await waitForLog(logs, (l) => l.msg === 'xDS stream opened' && l.proxy === 'default.late-1');
  t.same(client.responses, [], 'nothing to send yet');
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/late-1', dataplane('late-1', { service: 'late', address: '127.0.0.11' }))).status, 201);
  const lds = await client.next('LDS once the Dataplane exists', (r) => r.type_url === TYPE_URL.listener);
  t.same(names(await decodeAll(lds.resources)), ['inbound:127.0.0.11:10001']);
});
