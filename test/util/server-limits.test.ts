// The one set of server limits: a client that never finishes its headers,
// or sits idle, loses its connection; connections beyond the cap are refused.
import { createServer } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { listenOn } from '../../src/lifecycle/http-server.js';
import { applyServerLimits } from '../../src/util/server-limits.js';
import { waitFor } from '../helpers/wait.js';

async function serve(overrides: Parameters<typeof applyServerLimits>[1]) {
  const server = applyServerLimits(
    createServer((_req, res) => res.end('ok\n')),
    overrides,
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

function open(port: number): Promise<{ socket: Socket; closed: () => boolean; received: () => string }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let received = '';
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, closed: () => closed, received: () => received }));
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', reject);
  });
}

t.test('headers that never end: the connection is answered 408 and closed', async (t) => {
  const { server, port } = await serve({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
  t.teardown(() => server.close());
  const c = await open(port);
  c.socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // and nothing more
  await waitFor('the slow client to be cut off', () => c.closed(), { timeoutMs: 10_000 });
  t.match(c.received(), /^HTTP\/1\.1 408/);
});

t.test('an idle connection is closed; connections over the cap are refused', async (t) => {
  const { server, port } = await serve({ idleTimeoutMs: 300, maxConnections: 2 });
  t.teardown(() => server.close());
  const idle = await open(port);
  await waitFor('the idle connection to be closed', () => idle.closed(), { timeoutMs: 10_000 });
  t.pass('idle connection closed');
  const a = await open(port);
  const b = await open(port);
  const c = await open(port);
  await waitFor('the third connection to be refused', () => c.closed(), { timeoutMs: 10_000 });
  t.notOk(a.closed() || b.closed(), 'the first two are served');
  a.socket.destroy();
  b.socket.destroy();
});

t.test('every listener started through the shared listenOn gets the limits', async (t) => {
  const server = createServer();
  await listenOn(server, 0, '127.0.0.1', (err) => err);
  t.teardown(() => server.close());
  t.equal(server.headersTimeout, 10_000);
  t.equal(server.requestTimeout, 30_000);
  t.equal(server.maxConnections, 1024);
});
