// The stand-in against a scripted ADS server: subscription order (CDS, EDS,
// then LDS), /ready transitions, ACK and NACK, EDS endpoints, listener updates
// that keep connections, the delta protocol and reconnection.
import t from 'tap';
import { Agent } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createCa, issueCert } from '../../src/tls/certs.js';
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import { waitFor } from '../helpers/wait.js';
import {
  adminGet,
  adsBootstrap,
  configDump,
  httpBackend,
  httpGet,
  httpListener,
  tempDir,
  assignment,
  edsCluster,
  listenerPort,
  startStandin,
  stat,
  staticCluster,
  tcpBackend,
  tcpExchange,
  tcpListener,
} from './harness.js';
import { FakeAds } from '../helpers/fake-cp.js';

/** Protobuf wire bytes by hand, for a resource our own encoder would refuse to produce. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const field = (no: number, bytes: Buffer): Buffer => Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
const uint = (no: number, n: number): Buffer => Buffer.concat([varint(no << 3), varint(n)]);

/** A Listener whose port_value breaks its `lte: 65535` rule. */
const badListener = {
  type_url: TYPE_URL.listener,
  value: Buffer.concat([field(1, Buffer.from('bad')), field(2, field(1, Buffer.concat([field(2, Buffer.from('127.0.0.1')), uint(3, 70000)])))]),
};

/** A connection kept open across updates; `say` sends a line and waits for the reply. */
async function openConnection(port: number) {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let buffer = '';
  socket.on('data', (d) => (buffer += d.toString()));
  return {
    socket,
    async say(line: string): Promise<string> {
      buffer = '';
      socket.write(line);
      return waitFor(`reply to ${line}`, () => (buffer.length > 0 ? buffer : undefined));
    },
  };
}

t.test('state of the world: CDS → EDS → LDS, ACK, NACK, updates', async (t) => {
  const ads = new FakeAds();
  await ads.start(t);
  const a = await tcpBackend(t, 'a');
  const b = await tcpBackend(t, 'b');
  const s = await startStandin(t, adsBootstrap(ads.port, 'GRPC'));

  const cdsReq = await waitFor('CDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.cluster));
  t.equal(cdsReq.node?.id, 'standin-test-node');
  t.same(ads.metadata[0]!.get('x-test-token'), ['secret-1'], 'initial_metadata sent as gRPC metadata');
  t.same(await adminGet(s, '/ready'), { status: 503, body: 'PRE_INITIALIZING\n' });
  t.notOk(
    ads.requests.some((r) => r.type_url === TYPE_URL.listener),
    'no LDS before the clusters are in',
  );

  const cdsNonce = await ads.push(TYPE_URL.cluster, 'c1', [edsCluster('backend')]);
  const edsReq = await waitFor('EDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.endpoint));
  t.same(edsReq.resource_names, ['backend']);
  await waitFor('CDS ACK', () => ads.requests.find((r) => r.type_url === TYPE_URL.cluster && r.response_nonce === cdsNonce));
  const ack = ads.requests.find((r) => r.type_url === TYPE_URL.cluster && r.response_nonce === cdsNonce)!;
  t.equal(ack.version_info, 'c1');
  t.notOk(ack.error_detail, 'an ACK carries no error');
  t.same(await adminGet(s, '/ready'), { status: 503, body: 'PRE_INITIALIZING\n' }, 'still waiting for the EDS cluster');

  await ads.push(TYPE_URL.endpoint, 'e1', [
    assignment('backend', [
      ['127.0.0.1', a],
      ['127.0.0.1', b],
    ]),
  ]);
  await waitFor('LDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.listener));
  t.same(await adminGet(s, '/ready'), { status: 503, body: 'INITIALIZING\n' });
  t.equal(await stat(s, 'listener_manager.workers_started'), 0);

  const ldsNonce = await ads.push(TYPE_URL.listener, 'l1', [tcpListener('out', 'backend')]);
  await waitFor('LIVE', async () => (await adminGet(s, '/ready')).status === 200);
  t.ok(
    ads.requests.some((r) => r.type_url === TYPE_URL.listener && r.response_nonce === ldsNonce && r.version_info === 'l1'),
    'LDS ACK',
  );
  t.equal(await stat(s, 'listener_manager.workers_started'), 1);
  t.equal(await stat(s, 'cluster_manager.cds.update_success'), 1);
  t.equal(await stat(s, 'listener_manager.lds.update_success'), 1);
  t.equal(await stat(s, 'control_plane.connected_state'), 1);

  const outPort = await listenerPort(s, 'out');
  const seen = new Set([await tcpExchange(outPort, 'x'), await tcpExchange(outPort, 'x')]);
  t.same([...seen].sort(), ['a:x', 'b:x'], 'round robin over the EDS endpoints');
  const kept = await openConnection(outPort);
  t.teardown(() => kept.socket.destroy());
  t.match(await kept.say('one'), /^[ab]:one$/);

  // An invalid listener: NACK with the reason, the previous version kept.
  const badNonce = await ads.push(TYPE_URL.listener, 'l2', [tcpListener('out', 'backend')], [badListener]);
  const nack = await waitFor('NACK', () => ads.requests.find((r) => r.type_url === TYPE_URL.listener && r.response_nonce === badNonce));
  t.equal(nack.version_info, 'l1', 'NACK names the version still in use');
  t.match(nack.error_detail?.message, /port_value/);
  t.equal(await stat(s, 'listener_manager.lds.update_rejected'), 1);
  t.equal(await tcpExchange(outPort, 'y').then((r) => r.endsWith(':y')), true, 'traffic carries on with the old config');

  // A listener whose port is taken: the whole update is refused, as Envoy refuses it.
  const clashNonce = await ads.push(TYPE_URL.listener, 'l2b', [tcpListener('out', 'backend'), tcpListener('clash', 'backend', a)]);
  const clash = await waitFor('bind NACK', () => ads.requests.find((r) => r.type_url === TYPE_URL.listener && r.response_nonce === clashNonce));
  t.match(clash.error_detail?.message, `cannot bind '127.0.0.1:${a}': Address already in use`);
  t.equal(clash.version_info, 'l1');
  t.equal(await stat(s, 'listener_manager.lds.update_rejected'), 2);

  // A listener update keeps the socket and its connections; a new listener appears.
  await ads.push(TYPE_URL.listener, 'l3', [{ ...tcpListener('out', 'backend'), stat_prefix: 'out_v3' }, tcpListener('extra', 'backend')]);
  const extraPort = await listenerPort(s, 'extra');
  t.equal(await listenerPort(s, 'out'), outPort, 'same port after an update');
  t.match(await kept.say('two'), /^[ab]:two$/, 'an open connection survives a listener update');
  t.equal(await stat(s, 'listener_manager.listener_modified'), 1);

  // Moving a listener to another address: the old socket closes, the new one serves.
  const moved = { ...tcpListener('extra', 'backend'), address: { socket_address: { address: '127.0.0.2', port_value: 0 } } };
  await ads.push(TYPE_URL.listener, 'l3b', [{ ...tcpListener('out', 'backend'), stat_prefix: 'out_v3' }, moved]);
  await waitFor('extra moved', async () => /^extra::127\.0\.0\.2:/m.test((await adminGet(s, '/listeners')).body));
  await t.rejects(tcpExchange(extraPort, 'old address'), { code: 'ECONNREFUSED' });
  const movedPort = await listenerPort(s, 'extra');
  t.match(await tcpExchange(movedPort, 'moved', '127.0.0.2'), /^[ab]:moved$/);
  t.match(await kept.say('three'), /^[ab]:three$/, 'the unchanged listener kept its connection');

  // EDS update: only b is left.
  await ads.push(TYPE_URL.endpoint, 'e2', [assignment('backend', [['127.0.0.1', b]])]);
  await waitFor('EDS applied', async () => (await stat(s, 'cluster.backend.membership_total')) === 1);
  t.same([await tcpExchange(outPort, 'z'), await tcpExchange(outPort, 'z')], ['b:z', 'b:z']);

  // Removing a listener closes its socket.
  await ads.push(TYPE_URL.listener, 'l4', [{ ...tcpListener('out', 'backend'), stat_prefix: 'out_v3' }]);
  await waitFor('extra removed', async () => !(await adminGet(s, '/listeners')).body.includes('extra::'));
  await t.rejects(tcpExchange(movedPort, 'gone', '127.0.0.2'), { code: 'ECONNREFUSED' });

  // The stream drops: the stand-in comes back asking for what it holds, without the old stream's nonces.
  const before = ads.requests.length;
  ads.dropStreams();
  const again = await waitFor('resubscription', () => ads.requests.slice(before).find((r) => r.type_url === TYPE_URL.cluster));
  t.same([again.version_info, again.response_nonce], ['c1', ''], 'last accepted version, no nonce');
  const edsAgain = await waitFor('EDS resubscription', () => ads.requests.slice(before).find((r) => r.type_url === TYPE_URL.endpoint));
  t.same(edsAgain.resource_names, ['backend']);
  t.equal((await tcpExchange(outPort, 'w')).endsWith(':w'), true, 'traffic carries on while reconnecting');

  const dump = await configDump(s);
  const clusters = dump.find((c) => c['@type'].endsWith('ClustersConfigDump'));
  t.equal(clusters?.version_info, 'c1');
  t.same(
    clusters?.dynamic_active_clusters?.map((c) => c.cluster.name),
    ['backend'],
  );
  const listeners = dump.find((c) => c['@type'].endsWith('ListenersConfigDump'));
  t.equal(listeners?.version_info, 'l4');
  t.same(
    listeners?.dynamic_listeners?.map((l) => l.name),
    ['out'],
  );
  const endpoints = dump.find((c) => c['@type'].endsWith('EndpointsConfigDump'));
  t.equal(endpoints?.dynamic_endpoint_configs?.[0]?.endpoint_config.cluster_name, 'backend');
});

t.test('delta xDS: subscribe, ACK, removal, and resubscription after the stream drops', async (t) => {
  const ads = new FakeAds();
  await ads.start(t);
  const a = await tcpBackend(t, 'a');
  const s = await startStandin(t, adsBootstrap(ads.port, 'DELTA_GRPC'));

  const cdsReq = await waitFor('delta CDS request', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.cluster));
  t.equal(cdsReq.node?.id, 'standin-test-node');
  t.same(cdsReq.resource_names_subscribe, [], 'wildcard subscription');
  const cdsNonce = await ads.pushDelta(TYPE_URL.cluster, 'c1', [{ name: 'svc', json: staticCluster('svc', [['127.0.0.1', a]]) }]);
  await waitFor('delta CDS ACK', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.cluster && r.response_nonce === cdsNonce && !r.error_detail));
  await waitFor('delta LDS request', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.listener));
  await ads.pushDelta(TYPE_URL.listener, 'l1', [{ name: 'in', json: tcpListener('in', 'svc') }]);
  await waitFor('LIVE', async () => (await adminGet(s, '/ready')).status === 200);
  const port = await listenerPort(s, 'in');
  t.equal(await tcpExchange(port, 'hi'), 'a:hi');

  // An EDS cluster added by a delta update: its endpoints are subscribed by name.
  const secondNonce = await ads.pushDelta(TYPE_URL.cluster, 'c2', [{ name: 'eds-svc', json: edsCluster('eds-svc') }]);
  await waitFor('second ACK', () => ads.deltaRequests.find((r) => r.response_nonce === secondNonce));
  const edsSub = await waitFor('delta EDS subscription', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.endpoint));
  t.same(edsSub.resource_names_subscribe, ['eds-svc']);
  await ads.pushDelta(TYPE_URL.endpoint, 'e1', [{ name: 'eds-svc', json: assignment('eds-svc', [['127.0.0.1', a]]) }]);
  await ads.pushDelta(TYPE_URL.listener, 'l1b', [{ name: 'eds-in', json: tcpListener('eds-in', 'eds-svc') }]);
  t.equal(await tcpExchange(await listenerPort(s, 'eds-in'), 'via-eds'), 'a:via-eds', 'delta EDS endpoints carry traffic');
  t.equal(await tcpExchange(port, 'again'), 'a:again', 'a delta update leaves the resources it does not name alone');

  // The control plane goes away: the stand-in reconnects and says what it has.
  const before = ads.deltaRequests.length;
  ads.dropStreams();
  const again = await waitFor('resubscription', () => ads.deltaRequests.slice(before).find((r) => r.type_url === TYPE_URL.cluster), { timeoutMs: 10_000 });
  t.same(again.initial_resource_versions, { svc: 'c1', 'eds-svc': 'c2' }, 'initial_resource_versions after reconnecting');
  t.equal(await tcpExchange(port, 'still'), 'a:still', 'listeners keep working while disconnected');

  await waitFor('LDS resubscribed', () => ads.deltaRequests.slice(before).find((r) => r.type_url === TYPE_URL.listener));
  await ads.pushDelta(TYPE_URL.listener, 'l2', [], ['in']);
  await waitFor('listener removed', async () => !/^in::/m.test((await adminGet(s, '/listeners')).body));
  await t.rejects(tcpExchange(port, 'gone'), { code: 'ECONNREFUSED' });
});

t.test('TLS to the ADS cluster: trusted_ca is checked, names only when SAN matchers are configured', async (t) => {
  const ca = await createCa('standin test CA');
  const serverCert = await issueCert(ca, { commonName: 'ads', dnsNames: ['ads.example'] });
  const ads = new FakeAds();
  await ads.start(t, serverCert);
  const withTls = (trustedCa: string | { filename: string }, matchers?: unknown[], viaSecret = false): Record<string, unknown> => {
    const b = adsBootstrap(ads.port, 'GRPC') as { static_resources: Record<string, unknown> & { clusters: Array<Record<string, unknown>> } };
    const source = typeof trustedCa === 'string' ? { inline_string: trustedCa } : trustedCa;
    const validation = { trusted_ca: source, ...(matchers ? { match_typed_subject_alt_names: matchers } : {}) };
    if (viaSecret) b.static_resources.secrets = [{ name: 'cp_validation_ctx', validation_context: validation }];
    b.static_resources.clusters[0]!.transport_socket = {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'ads.example',
        common_tls_context: viaSecret ? { validation_context_sds_secret_config: { name: 'cp_validation_ctx' } } : { validation_context: validation },
      },
    };
    return b;
  };

  // As Kuma's bootstrap does it: the CA in a static secret named by validation_context_sds_secret_config.
  const good = await startStandin(t, withTls(ca.certPem, [{ san_type: 'DNS', matcher: { exact: 'ads.example' } }], true));
  await waitFor('CDS request over TLS', () => ads.requests.find((r) => r.type_url === TYPE_URL.cluster));
  await good.stop();
  const caFile = join(tempDir(t), 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  const fromFile = await startStandin(t, withTls({ filename: caFile }));
  await waitFor('CDS request with trusted_ca from a file', () => ads.requests.filter((r) => r.type_url === TYPE_URL.cluster).length >= 2);
  await fromFile.stop();

  const before = ads.requests.length;
  const otherCa = await createCa('some other CA');
  const untrusted = await startStandin(t, withTls(otherCa.certPem));
  const wrongName = await startStandin(t, withTls(ca.certPem, [{ san_type: 'DNS', matcher: { exact: 'cp.example' } }]));
  for (const s of [untrusted, wrongName]) {
    await waitFor('connection attempt logged', () => s.proc.stderr().includes('config stream to ads cluster closed'));
    t.equal(await stat(s, 'control_plane.connected_state'), 0);
  }
  t.equal(ads.requests.length, before, 'no request reaches the server without a verified connection');
});

t.test('an updated HTTP listener keeps its socket and asks connections made under the old config to close', async (t) => {
  const ads = new FakeAds();
  await ads.start(t);
  const app = await httpBackend(t, 'app');
  const s = await startStandin(t, adsBootstrap(ads.port, 'GRPC'));
  await waitFor('CDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.cluster));
  await ads.push(TYPE_URL.cluster, 'c1', [staticCluster('app', [['127.0.0.1', app]])]);
  await waitFor('LDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.listener));
  await ads.push(TYPE_URL.listener, 'l1', [httpListener('web', [{ match: { prefix: '/' }, route: { cluster: 'app' } }])]);
  const port = await listenerPort(s, 'web');
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await httpGet(port, '/x', {}, agent);
  t.same([first.body, first.headers.connection], ['app GET /x', 'keep-alive']);

  await ads.push(TYPE_URL.listener, 'l2', [
    httpListener('web', [
      { match: { prefix: '/x' }, direct_response: { status: 200, body: { inline_string: 'v2' } } },
      { match: { prefix: '/' }, route: { cluster: 'app' } },
    ]),
  ]);
  await waitFor('l2 applied', async () => (await stat(s, 'listener_manager.listener_modified')) === 1);
  const onOld = await httpGet(port, '/x', {}, agent);
  t.same([onOld.body, onOld.headers.connection], ['app GET /x', 'close'], 'the old connection is served by the old config, then closed');
  t.equal((await httpGet(port, '/x', {}, agent)).body, 'v2', 'the next connection gets the new config');
  t.equal(await listenerPort(s, 'web'), port);
});
