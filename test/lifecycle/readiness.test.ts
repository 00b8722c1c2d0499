// The readiness reporter on KUMA_READINESS_PORT (exactly /ready, as Kuma's) and the
// lifecycle endpoints on --lifecycle-port, through the real CLI with the Envoy stand-in.
import { connect, createServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import t from 'tap';
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import { FakeAds } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_SHAPES, adsBootstrapResponse, http, hostHttp, readiness, setup, startAgent, staticBootstrap, waitForReadiness } from './harness.js';

for (const admin of ADMIN_SHAPES)
  t.test(`readiness follows Envoy: NOT_READY (503) until Envoy is live, READY (200), TERMINATING (503) while draining (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    const ads = new FakeAds();
    await ads.start(t);
    x.cp.respond(adsBootstrapResponse(x, ads.port));
    const agent = startAgent(t, x, ['--drain-time', '30s', '--drain-min-time', '30s']);
    await waitForReadiness(x, '503 NOT_READY');
    await waitFor('CDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.cluster));
    t.equal(await readiness(x), '503 NOT_READY', 'still not ready while Envoy waits for its config');

    await ads.push(TYPE_URL.cluster, 'c1', []);
    await waitFor('LDS request', () => ads.requests.find((r) => r.type_url === TYPE_URL.listener));
    await ads.push(TYPE_URL.listener, 'l1', []);
    await waitForReadiness(x, '200 READY');
    const res = await http(x.readinessPort, 'GET', '/ready');
    t.match(res.headers, { 'content-type': 'text/plain', 'cache-control': 'no-cache, max-age=0' });
    await agent.waitForLog((l) => l.msg === 'Envoy is live', 'Envoy is live');

    agent.kill('SIGTERM');
    await agent.waitForLog((l) => l.msg === 'draining', 'draining');
    t.equal(await readiness(x), '503 TERMINATING', 'TERMINATING as soon as the drain starts');
    agent.kill('SIGTERM');
    t.equal((await agent.exited).code, 0);
  });

t.test('the readiness port serves exactly /ready, as Kuma: anything else is 404, the lifecycle endpoints included', async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  for (const [method, path] of [
    ['POST', '/quitquitquit'],
    ['POST', '/drain'],
    ['POST', '/config_dump'],
    ['GET', '/config_dump'],
    ['GET', '/ready/'],
    ['GET', '/ready/x'],
    ['GET', '/readyz'],
    ['GET', '/stats'],
  ] as const) {
    t.equal((await http(x.readinessPort, method, path)).status, 404, `${method} ${path}`);
  }
  t.equal(`${(await http(x.readinessPort, 'POST', '/ready')).status}`, '200', "any method on /ready, as Kuma's mux");
});

t.test('the readiness port gives a client 1 s to send its headers (Kuma: ReadHeaderTimeout 1s)', async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  const socket = connect(x.readinessPort, '127.0.0.1');
  t.teardown(() => socket.destroy());
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.on('error', () => undefined);
  const began = Date.now();
  socket.write('GET /ready HTTP/1.1\r\nHost: localhost\r\n');
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const took = Date.now() - began;
  t.ok(took >= 900, `not before the second (${took} ms)`);
  t.ok(took < 20_000, `closed by the header timeout, not Node's 60 s default (${took} ms)`);
  t.match(answer, /^HTTP\/1\.1 408/, 'with 408 Request Timeout');
});

t.test('--lifecycle-port: POST /drain, /quitquitquit, /config_dump on 127.0.0.1 only; GET is refused; unknown paths are 404', async (t) => {
  const x = await setup(t);
  const port = await freePort();
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, ['--drain-time', '5s', '--drain-min-time', '0s', '--lifecycle-port', String(port)]);
  await waitForReadiness(x, '200 READY');
  t.match(
    agent.logs().find((l) => l.msg === 'lifecycle endpoints listening'),
    { address: '127.0.0.1', port },
  );
  t.equal((await http(port, 'GET', '/quitquitquit')).status, 405);
  t.equal((await http(port, 'GET', '/ready')).status, 404, 'readiness stays on its own port');
  t.equal((await http(port, 'POST', '/nothing')).status, 404);
  const dump = await http(port, 'POST', '/config_dump');
  t.equal(dump.status, 200);
  t.match(dump.body, /config_dump\.json\n$/, 'POST /config_dump answers with the file it wrote');
  const quit = await http(port, 'POST', '/quitquitquit');
  t.equal(quit.status, 200);
  t.equal((await agent.exited).code, 0);
  const logs = agent.logs();
  t.match(
    logs.find((l) => l.msg === 'draining'),
    { signal: 'POST /quitquitquit' },
  );
  t.match(
    logs.find((l) => l.msg === 'drain finished'),
    { reason: 'no active connections' },
    'no connections: the drain ends at once with --drain-min-time 0s',
  );
});

t.test('--lifecycle-port is off by default, and a port in use names the flag', async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  t.notOk(agent.logs().some((l) => l.msg === 'lifecycle endpoints listening'));

  const x2 = await setup(t);
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  const busy = (squatter.address() as AddressInfo).port;
  x2.cp.respond(staticBootstrap(x2));
  const failing = startAgent(t, x2, ['--lifecycle-port', String(busy)]);
  t.equal((await failing.exited).code, 1);
  t.match(failing.stderr(), new RegExp(`--lifecycle-port \\(KUMA_DATAPLANE_LIFECYCLE_PORT\\): cannot listen on 127\\.0\\.0\\.1:${busy} \\(EADDRINUSE\\)`));
});

t.test('a readiness port in use is a clear error naming KUMA_READINESS_PORT, before Envoy is spawned', async (t) => {
  const x = await setup(t);
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(x.readinessPort, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, []);
  const { code } = await agent.exited;
  t.equal(code, 1);
  t.match(
    agent.stderr(),
    new RegExp(
      `Error: KUMA_READINESS_PORT: port ${x.readinessPort} on 127.0.0.1 is already in use .*give each agent its own KUMA_READINESS_PORT, or set it to 0`,
    ),
  );
  t.notOk(
    agent.logs().find((l) => l.msg === 'starting Envoy'),
    'the components that listen start first: Envoy is never spawned',
  );
});

t.test('KUMA_READINESS_PORT=0 disables the reporter', async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, [], { KUMA_READINESS_PORT: '0' });
  await agent.waitForLog((l) => l.msg === 'Envoy is live', 'Envoy is live');
  t.notOk(agent.logs().some((l) => l.msg === 'readiness reporter listening'));
  await t.rejects(http(x.readinessPort, 'GET', '/ready'), { code: 'ECONNREFUSED' });
});

const externalIp = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

t.test(
  'as a pod (POD_NAME set) with admin on a Unix socket: /ready on all addresses; the lifecycle endpoints never leave loopback',
  { skip: externalIp ? false : 'this machine has no non-loopback IPv4 address' },
  async (t) => {
    const x = await setup(t, { admin: 'pipe' });
    const lifecyclePort = await freePort();
    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, ['--lifecycle-port', String(lifecyclePort)], { POD_NAME: 'web-1-abc' });
    await waitForReadiness(x, '200 READY');
    t.match(
      agent.logs().find((l) => l.msg === 'readiness reporter listening'),
      { address: '0.0.0.0' },
    );
    const ready = await hostHttp(externalIp!, x.readinessPort, 'GET', '/ready');
    t.equal(`${ready.status} ${ready.body}`, '200 READY', 'the kubelet can probe from outside');
    t.equal((await hostHttp(externalIp!, x.readinessPort, 'POST', '/quitquitquit')).status, 404, 'nothing but /ready on the pod address');
    await t.rejects(hostHttp(externalIp!, lifecyclePort, 'POST', '/quitquitquit'), { code: 'ECONNREFUSED' }, 'the lifecycle port is not on the pod address');
    t.equal(agent.child.exitCode, null, 'nothing from outside stopped it');
    t.equal((await http(lifecyclePort, 'POST', '/quitquitquit')).status, 200, 'from loopback it works');
    t.equal((await agent.exited).code, 0);
  },
);

t.test(
  "as a pod with admin on TCP: the reporter listens on the admin's address, as Kuma",
  { skip: externalIp ? false : 'this machine has no non-loopback IPv4 address' },
  async (t) => {
    const x = await setup(t, { admin: 'tcp' });
    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, [], { POD_NAME: 'web-1-abc' });
    await waitForReadiness(x, '200 READY');
    t.match(
      agent.logs().find((l) => l.msg === 'readiness reporter listening'),
      { address: '127.0.0.1' },
    );
    await t.rejects(hostHttp(externalIp!, x.readinessPort, 'GET', '/ready'), { code: 'ECONNREFUSED' });
  },
);

t.test('without POD_NAME the reporter listens on loopback only', { skip: externalIp ? false : 'this machine has no non-loopback IPv4 address' }, async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  await t.rejects(hostHttp(externalIp!, x.readinessPort, 'GET', '/ready'), { code: 'ECONNREFUSED' });
});
