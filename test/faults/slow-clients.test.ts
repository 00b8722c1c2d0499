// Slow clients (slowloris): a client that never finishes its request headers
// is answered 408 and disconnected by every mini-CP listener that speaks
// HTTP/1.1, the DP server's bootstrap path included (its HTTP server is handed
// connections rather than listening, so the timeout sweep is started by hand).
import { connect } from 'node:net';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { inProcessCp } from '../minicp/fixtures.js';

/** Opens a connection, sends half a request, and reports what came back and when it closed. */
function halfRequest(url: string) {
  const { hostname, port } = new URL(url);
  let closedAt: number | undefined;
  let received = '';
  const socket = connect(Number(port), hostname, () => socket.write('POST /bootstrap HTTP/1.1\r\nHost: x\r\n'));
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('close', () => (closedAt = Date.now()));
  socket.on('error', () => undefined);
  return { closedAt: () => closedAt, received: () => received, destroy: () => socket.destroy() };
}

t.test('a request whose headers never end is answered 408 and closed, on the DP server and the API', async (t) => {
  const { cp } = await inProcessCp({ auth: 'none', dpServerTls: false });
  t.teardown(() => cp.close());
  const started = Date.now();
  const clients = { dpServer: halfRequest(cp.addresses.dpServer), apiHttp: halfRequest(cp.addresses.apiHttp) };
  t.teardown(() => Object.values(clients).forEach((c) => c.destroy()));
  for (const [name, client] of Object.entries(clients)) {
    // The limit is 10 s (SERVER_LIMITS.headersTimeoutMs), swept every 2.5 s; the deadline is generous.
    await waitFor(`${name} to cut the slow client off`, () => client.closedAt(), { timeoutMs: 60_000, intervalMs: 100 });
    t.match(client.received(), /^HTTP\/1\.1 408/, `${name}: 408`);
    t.ok(client.closedAt()! - started >= 9_000, `${name}: not before the 10 s limit`);
  }
});
