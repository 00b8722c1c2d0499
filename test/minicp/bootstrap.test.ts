// POST /bootstrap on the DP server (TLS, dp-token auth): answers, status
// codes, and every generated bootstrap through the strict Envoy validator.
import { readFile } from 'node:fs/promises';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import t, { type Test } from 'tap';
import { parseYaml } from '../../src/util/yaml.js';
import { loadEnvoyTypes, TYPE_NAME } from '../../src/envoy-codec/envoy-types.js';
import { api, dataplane, inProcessCp } from './fixtures.js';

const types = await loadEnvoyTypes();
const { cp } = await inProcessCp({ auth: 'dp-token' });
t.teardown(() => cp.close());
const ca = await readFile(cp.caCertPath, 'utf8');
const dpPort = cp.ports.dpServer;

function post(body: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: 'localhost', servername: 'localhost', port: dpPort, path: '/bootstrap', method: 'POST', ca, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const token = async (name: string) => (await api(cp, 'POST', '/tokens/dataplane', { name, mesh: 'default' })).text;
const request = (name: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ mesh: 'default', name, proxyType: 'dataplane', version: { kumaDp: { version: '0.1.0' }, envoy: { version: '1.39.0' } }, ...extra });

function checkBootstrap(t: Test, bootstrap: unknown) {
  t.same(types.validate(bootstrap, TYPE_NAME.bootstrap), [], 'passes the strict validator');
}

/** A list that has a first element (what the tests index with [0]). */
type NonEmpty<T> = [T, ...T[]];

/** The parts of a generated bootstrap these tests read. */
interface Bootstrap {
  node: { id: string; cluster: string; metadata: { version: { kumaDp: unknown }; 'dataplane.resource'?: string } };
  admin: { address: { socket_address: { address: string; port_value: number } } };
  dynamic_resources: {
    ads_config: { api_type: string; grpc_services: NonEmpty<{ initial_metadata?: Array<{ key: string; value: string }> }> };
    lds_config: { ads: unknown };
  };
  static_resources: {
    clusters: NonEmpty<{
      name: string;
      type: string;
      load_assignment: { endpoints: NonEmpty<{ lb_endpoints: NonEmpty<{ endpoint: { address: { socket_address: unknown } } }> }> };
      transport_socket?: {
        typed_config: { sni: string; common_tls_context: { validation_context: { trusted_ca: { inline_bytes: string } } } };
      };
    }>;
  };
}

await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web', outbound: [{ port: 20001, service: 'backend' }] }));
const web1Token = await token('web-1');

t.test('JSON answer for a stored Dataplane: ADS over TLS with the CA and the token', async (t) => {
  const res = await post(request('web-1', { dataplaneToken: web1Token }), { accept: 'application/json', 'content-type': 'application/json' });
  t.equal(res.status, 200, res.body);
  t.match(res.type, /application\/json/);
  const answer = JSON.parse(res.body) as { kumaSidecarConfiguration: { networking: unknown }; bootstrap: string };
  t.same(answer.kumaSidecarConfiguration.networking, { address: '127.0.0.1' });
  const bootstrap = parseYaml(Buffer.from(answer.bootstrap, 'base64').toString('utf8')) as Bootstrap;
  checkBootstrap(t, bootstrap);
  t.equal(bootstrap.node.id, 'default.web-1');
  t.equal(bootstrap.node.cluster, 'web');
  t.same(bootstrap.node.metadata.version.kumaDp, { version: '0.1.0' });
  t.same(bootstrap.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  const ads = bootstrap.dynamic_resources.ads_config;
  t.equal(ads.api_type, 'GRPC');
  t.same(ads.grpc_services[0].initial_metadata, [{ key: 'authorization', value: web1Token }]);
  t.same(bootstrap.dynamic_resources.lds_config.ads, {});
  const cluster = bootstrap.static_resources.clusters[0];
  t.equal(cluster.name, 'ads_cluster');
  t.equal(cluster.type, 'STRICT_DNS', 'the host the agent used (localhost) is a name');
  t.same(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: 'localhost', port_value: dpPort });
  const tls = cluster.transport_socket!.typed_config;
  t.equal(Buffer.from(tls.common_tls_context.validation_context.trusted_ca.inline_bytes, 'base64').toString(), ca, 'trusts the CA in ca.crt');
  t.equal(tls.sni, 'localhost');
});

/** The admin-related part of a JSON bootstrap answer. */
interface AdminView {
  admin: { address: { pipe?: { path: string; mode?: number }; socket_address?: { address: string; port_value: number } } };
  node: { metadata: Record<string, unknown> };
}
const decodeAnswer = (body: string): AdminView =>
  parseYaml(Buffer.from((JSON.parse(body) as { bootstrap: string }).bootstrap, 'base64').toString('utf8')) as AdminView;

t.test('with a workdir, admin goes on <workdir>/kuma-envoy-admin.sock (mode 0600) as Kuma >= 2.14, and node metadata says so', async (t) => {
  const res = await post(request('web-1', { dataplaneToken: web1Token, workdir: '/tmp/kuma-dp-x/' }), { accept: 'application/json' });
  t.equal(res.status, 200, res.body);
  const bootstrap = decodeAnswer(res.body);
  checkBootstrap(t, bootstrap);
  t.same(bootstrap.admin.address, { pipe: { path: '/tmp/kuma-dp-x/kuma-envoy-admin.sock', mode: 0o600 } });
  t.match(bootstrap.node.metadata, {
    'dataplane.admin.socketPath': '/tmp/kuma-dp-x/kuma-envoy-admin.sock',
    'dataplane.admin.port': '9901',
    'dataplane.admin.address': '127.0.0.1',
    workdir: '/tmp/kuma-dp-x/',
  });

  const long = '/' + 'd'.repeat(120);
  const longRes = await post(request('web-1', { dataplaneToken: web1Token, workdir: long }), { accept: 'application/json' });
  const longBootstrap = decodeAnswer(longRes.body);
  t.equal(longBootstrap.admin.address.pipe?.path, `${long.slice(0, 98)}.sock`, "Kuma's socketName(): cut to 98 bytes, then .sock");
});

t.test('KUMA_BOOTSTRAP_SERVER_PARAMS_ENVOY_ADMIN_UNIX_SOCKET=false (envoyAdminUnixSocket: false) keeps admin on TCP', async (t) => {
  const { cp: tcpCp } = await inProcessCp({ auth: 'none', dpServerTls: false, envoyAdminUnixSocket: false });
  t.teardown(() => tcpCp.close());
  await api(tcpCp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web' }));
  const res = await fetch(`http://127.0.0.1:${tcpCp.ports.dpServer}/bootstrap`, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    body: request('web-1', { workdir: '/tmp/kuma-dp-x' }),
  });
  t.equal(res.status, 200);
  const bootstrap = decodeAnswer(await res.text());
  t.same(bootstrap.admin.address, { socket_address: { address: '127.0.0.1', port_value: 9901 } });
  t.notOk('dataplane.admin.socketPath' in bootstrap.node.metadata);
});

t.test('YAML answer, delta feature, admin port and a Dataplane in the request (stored)', async (t) => {
  const dp = { ...dataplane('web-2', { service: 'web', address: '127.0.0.2' }) };
  (dp.networking as Record<string, unknown>).admin = { port: 9902 };
  const res = await post(request('web-2', { dataplaneToken: await token('web-2'), dataplaneResource: JSON.stringify(dp), features: ['feature-delta-grpc'] }));
  t.equal(res.status, 200, res.body);
  t.equal(res.type, 'text/x-yaml');
  const bootstrap = parseYaml(res.body) as Bootstrap;
  checkBootstrap(t, bootstrap);
  t.equal(bootstrap.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  t.equal(bootstrap.admin.address.socket_address.port_value, 9902);
  t.match(JSON.parse(String(bootstrap.node.metadata['dataplane.resource'])), { name: 'web-2', mesh: 'default' });
  const stored = await api(cp, 'GET', '/meshes/default/dataplanes/web-2');
  t.equal(stored.status, 200, 'the CP registered the Dataplane');
  t.equal((stored.json as { networking: { address: string } }).networking.address, '127.0.0.2');
});

t.test('HTTP/2 (ALPN h2, as a Go client negotiates) reaches the bootstrap handler too', async (t) => {
  const session = http2.connect(`https://localhost:${dpPort}`, { ca });
  t.teardown(() => session.close());
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/bootstrap', 'content-type': 'application/json', accept: 'application/json' });
    let text = '';
    let code = 0;
    stream.on('response', (h) => (code = Number(h[':status'])));
    stream.on('data', (c: Buffer) => (text += c.toString()));
    stream.on('end', () => resolve({ status: code, body: text }));
    stream.on('error', reject);
    stream.end(request('web-1', { dataplaneToken: web1Token }));
  });
  t.equal(status, 200, body);
  checkBootstrap(t, decodeAnswer(body));
});

t.test('a host missing from the certificate is a 400 that says how to fix it', async (t) => {
  const res = await post(request('web-1', { dataplaneToken: web1Token }), { host: `cp.example.test:${dpPort}` });
  t.equal(res.status, 400);
  t.match(res.body, /using "cp\.example\.test", but the control plane's certificate has the SANs DNS:localhost.*--hostname cp\.example\.test/);
});

t.test("Kuma's status codes", async (t) => {
  const cases: Array<[string, string, number, RegExp | '']> = [
    ['unparseable JSON', '{"mesh": ', 400, /not a BootstrapRequest: not valid JSON/],
    ['a field of the wrong type', '{"name": "web-1", "dataplaneResource": {"type": "Dataplane"}}', 400, /dataplaneResource: must be a string/],
    ['no token with auth on', request('web-1'), 422, /Dataplane Token is required/],
    ['a token not signed by this CP', request('web-1', { dataplaneToken: web1Token.slice(0, -4) + 'AAAA' }), 401, /not valid/],
    ['another dataplane’s token', request('web-3', { dataplaneToken: web1Token }), 403, /is for dataplane 'web-1'/],
    [
      'a token for other tags',
      request('web-1', {
        dataplaneToken: (await api(cp, 'POST', '/tokens/dataplane', { name: 'web-1', mesh: 'default', tags: { 'kuma.io/service': ['backend'] } })).text,
      }),
      403,
      /allows kuma.io\/service in \[backend\], but networking.inbound\[0\] has 'web'/,
    ],
    ['a Dataplane the CP does not know, none in the request', request('ghost', { dataplaneToken: await token('ghost') }), 404, ''],
    [
      'an invalid Dataplane in the request',
      request('bad', {
        dataplaneToken: await token('bad'),
        dataplaneResource: JSON.stringify({
          type: 'Dataplane',
          mesh: 'default',
          name: 'bad',
          networking: { address: '0.0.0.0', inbound: [{ port: 70000, tags: {} }] },
        }),
      }),
      422,
      /networking\.address[\s\S]*networking\.inbound\[0\]\.port[\s\S]*networking\.inbound\[0\]\.tags/,
    ],
  ];
  for (const [what, body, status, message] of cases) {
    const res = await post(body);
    t.equal(res.status, status, what);
    if (message === '') t.equal(res.body, '', `${what}: empty body`);
    else t.match(res.body, message, what);
  }
  t.equal((await api(cp, 'GET', '/meshes/default/dataplanes/bad')).status, 404, 'an invalid Dataplane is not stored');
});

t.test('plaintext, no auth: unknown mesh is 422; the bootstrap has no TLS and no token', async (t) => {
  const other = await inProcessCp({ auth: 'none', dpServerTls: false });
  t.teardown(() => other.cp.close());
  const res = await fetch(`${other.cp.addresses.dpServer}/bootstrap`, { method: 'POST', body: JSON.stringify({ mesh: 'nope', name: 'web-1' }) });
  t.equal(res.status, 422);
  t.match(await res.text(), /mesh 'nope' does not exist/);
  const plain = await fetch(`${other.cp.addresses.dpServer}/bootstrap`, {
    method: 'POST',
    headers: { accept: 'application/json' },
    body: JSON.stringify({ mesh: 'default', name: 'p', dataplaneResource: JSON.stringify(dataplane('p', { service: 'p' })) }),
  });
  t.equal(plain.status, 200);
  const bootstrap = parseYaml(Buffer.from(((await plain.json()) as { bootstrap: string }).bootstrap, 'base64').toString()) as Bootstrap;
  checkBootstrap(t, bootstrap);
  t.notOk(bootstrap.static_resources.clusters[0].transport_socket, 'no TLS with --no-dp-server-tls');
  t.notOk(bootstrap.dynamic_resources.ads_config.grpc_services[0].initial_metadata, 'no token, no metadata');
  t.equal(bootstrap.static_resources.clusters[0].type, 'STATIC', 'an IP address gives a STATIC cluster');
});
