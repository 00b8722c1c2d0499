// The GET that `kuma-dp wait`'s checks make: any response framing, delivered
// in any pieces, reads as its status and the start of its body; responses it
// cannot read fail with a message that says why; and it talks to real servers
// over TCP and Unix sockets.
import fc from 'fast-check';
import { deepStrictEqual } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { BODY_KEPT, httpGet, readResponse, type GetResult } from '../../src/wait/http-get.js';

/** Feeds the bytes in pieces as a socket delivers them: the first answer, or the error. */
function readInPieces(bytes: Buffer, cuts: number[]): GetResult | Error {
  const ends = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  try {
    for (const end of ends) {
      const result = readResponse(bytes.subarray(0, end), false);
      if (result) return result;
    }
    return readResponse(bytes, true) ?? new Error('no answer at the end');
  } catch (err) {
    return err as Error;
  }
}

const framings = ['length', 'chunked', 'close'] as const;

/** A response as a server may frame it (RFC 9112): interim responses first, then the status, then the body. */
const response = fc
  .record({
    interim: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
    status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
    reason: fc.constantFrom('', ' OK', ' Service Unavailable'),
    body: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 600 }),
    framing: fc.constantFrom(...framings),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 1, maxLength: 20 }),
    extension: fc.boolean(),
    headers: fc.array(fc.constantFrom('Server: envoy', 'content-type: text/plain', 'X-Empty:', 'date: Sun, 06 Dec 2026 15:00:00 GMT')),
  })
  .map((r) => {
    let payload = r.body;
    const head = [`HTTP/1.1 ${r.status}${r.reason}`, ...r.headers];
    if (r.framing === 'length') head.push(`Content-Length: ${r.body.length}`);
    if (r.framing === 'chunked') {
      head.push('Transfer-Encoding: chunked');
      payload = '';
      for (let at = 0, i = 0; at < r.body.length; i++) {
        const piece = r.body.slice(at, at + r.chunkSizes[i % r.chunkSizes.length]!);
        payload += `${piece.length.toString(16)}${r.extension ? ';name=value' : ''}\r\n${piece}\r\n`;
        at += piece.length;
      }
      payload += '0\r\n\r\n';
    }
    const interim = r.interim.map((s) => `HTTP/1.1 ${s} Interim\r\n\r\n`).join('');
    return { ...r, bytes: Buffer.from(`${interim}${head.join('\r\n')}\r\n\r\n${payload}`, 'latin1') };
  });

t.test('any framing, in any pieces, reads as the final status and the start of the body', (t) => {
  fc.assert(
    fc.property(response, fc.array(fc.nat(), { maxLength: 12 }), (r, cuts) => {
      deepStrictEqual(readInPieces(r.bytes, cuts), { status: r.status, body: r.body.slice(0, BODY_KEPT).trim() });
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 responses, framed by length, chunks or the end of the connection, cut anywhere');
  t.end();
});

t.test('204 and 304 have no body; a body of more than BODY_KEPT bytes is not waited for', (t) => {
  t.same(readResponse(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), false), { status: 204, body: '' });
  t.same(readResponse(Buffer.from('HTTP/1.0 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), false), { status: 304, body: '' });
  const long = 'x'.repeat(BODY_KEPT);
  t.same(readResponse(Buffer.from(`HTTP/1.1 503 x\r\nContent-Length: 100000\r\n\r\n${long}`), false), { status: 503, body: long });
  t.same(readResponse(Buffer.from(`HTTP/1.1 503 x\r\n\r\n${long}`), false), { status: 503, body: long }, 'close-delimited');
  t.equal(readResponse(Buffer.from('HTTP/1.1 503 x\r\n\r\nPRE'), false), undefined, 'a close-delimited body reads on to the end');
  t.end();
});

t.test('a response it cannot read fails with what was wrong', (t) => {
  const cases: [string, boolean, RegExp][] = [
    ['', true, /closed without a response/],
    ['HTTP/1.1 200 OK\r\nContent-', true, /closed in the response header/],
    ['hello\r\n\r\n', false, /not an HTTP\/1\.x response: 'hello'/],
    ['HTTP/2 200\r\n\r\n', false, /not an HTTP\/1\.x response/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nLI', true, /closed in the middle of the body/],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', false, /bad Content-Length '-1'/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', false, /bad chunk size 'zz'/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nLI', true, /closed in the middle of the body/],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(17 * 1024)}`, false, /header is over 16 KiB/],
    ['HTTP/1.1 103 Early Hints\r\n\r\n'.repeat(3000), false, /no final status and 200 bytes of body in the first 64 KiB/],
    [
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${`1;${'e'.repeat(1000)}\r\nx\r\n`.repeat(70)}`,
      false,
      /no final status and 200 bytes of body in the first 64 KiB/,
    ],
  ];
  for (const [text, ended, message] of cases) {
    t.throws(() => readResponse(Buffer.from(text, 'latin1'), ended), { name: 'Error', message }, JSON.stringify(text.slice(0, 50)));
  }
  t.end();
});

async function listening(t: Test, server: Server, where: string | number = 0): Promise<void> {
  await new Promise<void>((resolve) => (typeof where === 'string' ? server.listen(where, resolve) : server.listen(where, '127.0.0.1', resolve)));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
}
const portOf = (server: Server): number => (server.address() as AddressInfo).port;

t.test("a node:http server's answers, with the request it saw", async (t) => {
  const seen: { url?: string; host?: string; connection?: string }[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({ url: req.url, host: req.headers.host, connection: req.headers.connection });
    if (req.url === '/ready') res.end('LIVE\n');
    else {
      res.writeHead(503);
      res.write('PRE_');
      res.end('INITIALIZING\n'); // two writes: Node frames the body as chunked
    }
  });
  await listening(t, server);
  const port = portOf(server);
  t.same(await httpGet({ host: '127.0.0.1', port }, `localhost:${port}`, '/ready', 5000), { status: 200, body: 'LIVE' });
  t.same(await httpGet({ host: '127.0.0.1', port }, 'localhost', '/ready?x=1', 5000), { status: 503, body: 'PRE_INITIALIZING' });
  t.same(seen, [
    { url: '/ready', host: `localhost:${port}`, connection: 'close' },
    { url: '/ready?x=1', host: 'localhost', connection: 'close' },
  ]);
});

t.test('over a Unix socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const server = createHttpServer((req, res) => res.end(`${req.headers.host}\n`));
  await listening(t, server, join(dir, 'admin.sock'));
  t.same(await httpGet({ path: join(dir, 'admin.sock') }, 'localhost', '/ready', 5000), { status: 200, body: 'localhost' });
});

t.test('a server that keeps the connection open after a complete answer does not hold the check', async (t) => {
  const server = createServer((socket) => {
    socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nLIVE\n'));
  });
  await listening(t, server);
  t.same(await httpGet({ host: '127.0.0.1', port: portOf(server) }, 'localhost', '/ready', 60_000), { status: 200, body: 'LIVE' });
});

t.test('no answer within the timeout, a garbled answer and a refused connection reject', async (t) => {
  const mute = createServer((socket) => socket.resume()); // reads the request, never answers
  await listening(t, mute);
  await t.rejects(httpGet({ host: '127.0.0.1', port: portOf(mute) }, 'localhost', '/ready', 50), { message: 'no answer within 50ms' });

  const garbled = createServer((socket) => socket.resume().end('SSH-2.0-OpenSSH_9.6\r\n'));
  await listening(t, garbled);
  await t.rejects(httpGet({ host: '127.0.0.1', port: portOf(garbled) }, 'localhost', '/ready', 5000), {
    message: /closed in the response header/,
  });

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = portOf(closed);
  await new Promise((resolve) => closed.close(resolve));
  await t.rejects(httpGet({ host: '127.0.0.1', port }, 'localhost', '/ready', 5000), { code: 'ECONNREFUSED' });
});
