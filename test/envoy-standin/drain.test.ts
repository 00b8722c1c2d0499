// Draining as kuma-dp asks for it (/drain_listeners?inboundonly&graceful&skip_exit)
// and a graceful drain that stops the listeners after --drain-time-s.
import t from 'tap';
import { Agent } from 'node:http';
import { waitFor } from '../helpers/wait.js';
import { adminBlock, adminGet, camelKeys, httpBackend, httpGet, httpListener, listenerPort, serverInfo, startStandin, staticCluster } from './harness.js';

t.test('graceful drain of inbound listeners', async (t) => {
  const app = await httpBackend(t, 'app');
  const inbound = { ...httpListener('inbound', [{ match: { prefix: '/' }, route: { cluster: 'app' } }]), traffic_direction: 'INBOUND' };
  const outbound = { ...httpListener('outbound', [{ match: { prefix: '/' }, route: { cluster: 'app' } }]), traffic_direction: 'OUTBOUND' };
  const s = await startStandin(
    t,
    // Written in camelCase: the stand-in reads either spelling.
    camelKeys({ admin: adminBlock, static_resources: { listeners: [inbound, outbound], clusters: [staticCluster('app', [['127.0.0.1', app]])] } }),
    ['--drain-time-s', '1', '--drain-strategy', 'immediate', '--config-yaml', 'node: {id: from-config-yaml}'],
  );
  t.equal((await serverInfo(s)).node.id, 'from-config-yaml', '--config-yaml merged over the file');
  const inPort = await listenerPort(s, 'inbound');
  const outPort = await listenerPort(s, 'outbound');
  const agent = new Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  t.equal((await httpGet(inPort, '/', {}, agent)).headers.connection, 'keep-alive');

  // What kuma-dp sends on shutdown: drain inbound, keep the listeners open.
  t.equal((await adminGet(s, '/drain_listeners?inboundonly&graceful&skip_exit', 'POST')).body, 'OK\n');
  const drained = await httpGet(inPort, '/', {}, agent);
  t.equal(drained.status, 200, 'inbound still serves while draining');
  t.equal(drained.headers.connection, 'close', 'and asks the client to close (immediate strategy)');
  t.equal((await httpGet(outPort, '/', {}, agent)).headers.connection, 'keep-alive', 'outbound is not drained');
  t.equal((await adminGet(s, '/ready')).body, 'LIVE\n');

  // A graceful drain of everything without skip_exit stops the listeners after the drain time.
  const started = Date.now();
  await adminGet(s, '/drain_listeners?graceful', 'POST');
  t.equal((await httpGet(outPort, '/', {}, false)).status, 200, 'still accepting during the drain time');
  await waitFor(
    'listeners stopped',
    () =>
      httpGet(outPort, '/', {}, false).then(
        () => false,
        (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
      ),
    { timeoutMs: 5000 },
  );
  t.ok(Date.now() - started >= 900, 'not before --drain-time-s');
  await t.rejects(httpGet(inPort, '/', {}, false), { code: 'ECONNREFUSED' });
});
