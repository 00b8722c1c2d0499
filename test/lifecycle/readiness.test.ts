// The readiness reporter on KUMA_READINESS_PORT and the lifecycle endpoints,
// through the real CLI with the Envoy stand-in.
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import t from 'tap';
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import { TestAds } from '../envoy-standin/harness.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_SHAPES, adsBootstrapResponse, http, hostHttp, readiness, setup, startAgent, staticBootstrap, waitForReadiness } from './harness.js';

for (const admin of ADMIN_SHAPES)
  t.test(`readiness follows Envoy: NOT_READY (503) until Envoy is live, READY (200), TERMINATING (503) while draining (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    const ads = new TestAds();
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

t.test('lifecycle endpoints: POST /quitquitquit stops gracefully; GET is refused; unknown paths are 404', async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, ['--drain-time', '5s', '--drain-min-time', '0s']);
  await waitForReadiness(x, '200 READY');
  t.equal((await http(x.readinessPort, 'GET', '/quitquitquit')).status, 405);
  t.equal((await http(x.readinessPort, 'GET', '/nothing')).status, 404);
  const dump = await http(x.readinessPort, 'POST', '/config_dump');
  t.equal(dump.status, 200);
  t.match(dump.body, /config_dump\.json\n$/, 'POST /config_dump answers with the file it wrote');
  const quit = await http(x.readinessPort, 'POST', '/quitquitquit');
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
  'as a pod (POD_NAME set): /ready on all addresses, lifecycle endpoints for loopback clients only',
  { skip: externalIp ? false : 'this machine has no non-loopback IPv4 address' },
  async (t) => {
    const x = await setup(t);
    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, [], { POD_NAME: 'web-1-abc' });
    await waitForReadiness(x, '200 READY');
    const ready = await hostHttp(externalIp!, x.readinessPort, 'GET', '/ready');
    t.equal(`${ready.status} ${ready.body}`, '200 READY', 'the kubelet can probe from outside');
    const quit = await hostHttp(externalIp!, x.readinessPort, 'POST', '/quitquitquit');
    t.equal(quit.status, 403);
    t.equal(quit.body, 'lifecycle endpoints answer loopback clients only\n');
    t.equal(agent.child.exitCode, null, 'a remote /quitquitquit does nothing');
    t.equal((await http(x.readinessPort, 'POST', '/quitquitquit')).status, 200, 'from loopback it works');
    t.equal((await agent.exited).code, 0);
  },
);

t.test('without POD_NAME the reporter listens on loopback only', { skip: externalIp ? false : 'this machine has no non-loopback IPv4 address' }, async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  await t.rejects(hostHttp(externalIp!, x.readinessPort, 'GET', '/ready'), { code: 'ECONNREFUSED' });
});
