// Draining through the real CLI, real signals and the Envoy stand-in's real
// listener stats: the wait after /healthcheck/fail ends once an inbound
// connection closes; SIGUSR2 and POST /drain drain inbound listeners and leave
// the agent running. --drain-min-time, --drain-time and the second and third
// signals are covered in-process, in milliseconds, by supervisor.test.ts.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_SHAPES, http, readiness, setup, startAgent, staticBootstrap, waitForReadiness } from './harness.js';

function openEcho(port: number): Promise<{ socket: Socket; roundTrip(line: string): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      resolve({
        socket,
        roundTrip: (line) =>
          new Promise((done) => {
            socket.once('data', (chunk) => done(chunk.toString()));
            socket.write(line);
          }),
      });
    });
    socket.once('error', reject);
  });
}

const drainFinished = (agent: ReturnType<typeof startAgent>) => agent.logs().find((l) => l.msg === 'drain finished');

for (const admin of ADMIN_SHAPES)
  t.test(`the drain waits while an inbound connection is open and ends once it closes (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, ['--drain-time', '30s', '--drain-min-time', '500ms']);
    await waitForReadiness(x, '200 READY');
    const conn = await waitFor('a connection through the inbound listener', () => openEcho(x.inboundPort));
    t.teardown(() => conn.socket.destroy());
    t.equal(await conn.roundTrip('hello'), 'hello', 'traffic flows through the inbound listener');

    agent.kill('SIGTERM');
    const draining = await agent.waitForLog((l) => l.msg === 'draining', 'draining');
    t.match(draining, { drainTimeMs: 30_000, drainMinTimeMs: 500 });
    // Keep the connection open well past --drain-min-time, then close it.
    const openFor = 2000;
    setTimeout(() => conn.socket.end(), openFor);
    t.equal((await agent.exited).code, 0);
    const finished = drainFinished(agent)!;
    t.equal(finished.reason, 'no active connections');
    t.ok((finished.elapsedMs as number) >= openFor - 100, `the drain lasted while the connection was open (${String(finished.elapsedMs)} ms)`);
    t.ok((finished.elapsedMs as number) < 30_000, 'and ended before --drain-time');
  });

for (const admin of ADMIN_SHAPES)
  t.test(`SIGUSR2 and POST /drain drain inbound listeners and leave the agent running (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    x.cp.respond(staticBootstrap(x));
    const lifecyclePort = await freePort();
    const agent = startAgent(t, x, ['--drain-time', '5s', '--drain-min-time', '0s', '--lifecycle-port', String(lifecyclePort)]);
    await waitForReadiness(x, '200 READY');
    agent.kill('SIGUSR2');
    await agent.waitForLog((l) => l.msg === 'draining inbound listeners; kuma-dp keeps running' && l.reason === 'SIGUSR2', 'SIGUSR2 drain');
    await waitFor('Envoy drains inbound listeners', () => /draining inbound listeners over 5s/.test(agent.stderr()));
    t.equal(agent.child.exitCode, null, 'the agent is still running');
    t.equal(await readiness(x), '200 READY', 'and still reports Envoy ready');
    t.notOk(agent.logs().some((l) => l.msg === 'could not drain inbound listeners'));

    const drain = await http(lifecyclePort, 'POST', '/drain');
    t.equal(drain.status, 200, 'POST /drain: Envoy accepted /drain_listeners');
    t.ok(agent.logs().some((l) => l.msg === 'draining inbound listeners; kuma-dp keeps running' && l.reason === 'POST /drain'));
    t.equal(agent.child.exitCode, null, 'still running');

    agent.kill('SIGTERM');
    t.equal((await agent.exited).code, 0);
  });

t.test('SIGUSR2 before Envoy runs does not kill the agent', async (t) => {
  const x = await setup(t);
  x.cp.respond({ status: 503, body: 'not yet' });
  const agent = startAgent(t, x, [], { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '30s' });
  await waitFor('first bootstrap attempt', () => x.cp.requests.length >= 1);
  agent.kill('SIGUSR2');
  await agent.waitForLog((l) => l.msg === 'SIGUSR2 received before Envoy runs: nothing to drain', 'SIGUSR2 noted');
  t.equal(agent.child.exitCode, null, 'still running');
  agent.kill('SIGTERM');
  t.equal((await agent.exited).code, 0);
});
