// `kuma-dp wait` as a user runs it: polls a readiness URL until 200.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KUMA_DP, run } from '../helpers/cli.js';

async function readyAfter(t: Test, notReadyAnswers: number): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits += 1;
    if (req.url !== '/ready' || hits <= notReadyAnswers) res.writeHead(503).end('PRE_INITIALIZING\n');
    else res.writeHead(200).end('LIVE\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ready`, hits: () => hits };
}

t.test('waits until the URL answers 200', async (t) => {
  const target = await readyAfter(t, 3);
  const began = Date.now();
  const res = await run(KUMA_DP, ['wait', '--url', target.url, '--check-frequency', '100ms', '--timeout', '10s']);
  t.equal(res.code, 0, 'exit 0');
  t.equal(target.hits(), 4, 'three 503s, then 200');
  t.ok(Date.now() - began >= 300, 'checks are --check-frequency apart');
  t.ok(res.logs.some((l) => l.msg === 'the data plane proxy is ready'));
  t.ok(
    res.logs.some((l) => l.msg === 'the data plane proxy is not ready' && l.last === '503 PRE_INITIALIZING'),
    'each failed check says what it got',
  );
});

t.test('gives up at --timeout with exit 1 and says what it last saw', async (t) => {
  const target = await readyAfter(t, Infinity);
  const began = Date.now();
  const res = await run(KUMA_DP, ['wait', '--url', target.url, '--check-frequency', '100ms', '--timeout', '600ms']);
  const took = Date.now() - began;
  t.equal(res.code, 1);
  t.ok(took >= 600 && took < 6000, `gave up after ${took} ms`);
  t.match(
    res.stderr,
    /Error: timed out after 600ms waiting for http:\/\/127\.0\.0\.1:\d+\/ready to answer 200 \(last: 503 PRE_INITIALIZING\); raise --timeout/,
  );
});

t.test('nothing listening counts as not ready; a slow answer is cut at --request-timeout', async (t) => {
  const slow = createServer(() => undefined);
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const res = await run(KUMA_DP, [
    'wait',
    '--url',
    `http://127.0.0.1:${(slow.address() as AddressInfo).port}/ready`,
    '--request-timeout',
    '100ms',
    '--check-frequency',
    '100ms',
    '--timeout',
    '500ms',
  ]);
  t.equal(res.code, 1);
  t.match(res.stderr, /last: no answer within 100ms/);
  const refused = await run(KUMA_DP, ['wait', '--url', 'http://127.0.0.1:1/ready', '--check-frequency', '100ms', '--timeout', '300ms']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /last: ECONNREFUSED/);
});

t.test('the URL must be plain HTTP on loopback; durations are checked', async (t) => {
  const remote = await run(KUMA_DP, ['wait', '--url', 'http://10.1.2.3:9901/ready']);
  t.equal(remote.code, 1);
  t.match(remote.stderr, /--url: 'http:\/\/10\.1\.2\.3:9901\/ready' is not a loopback address/);
  const tls = await run(KUMA_DP, ['wait', '--url', 'https://localhost:9901/ready']);
  t.equal(tls.code, 1);
  t.match(tls.stderr, /--url: .* must be http:\/\//);
  const bad = await run(KUMA_DP, ['wait', '--timeout', 'forever']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /--timeout: 'forever' is not a duration/);
  const help = await run(KUMA_DP, ['wait', '--help']);
  t.match(help.stdout, /--check-frequency/);
  t.match(help.stdout, /--request-timeout/);
  t.match(help.stdout, /http:\/\/localhost:9901\/ready/);
});

t.test("--unix-socket polls Envoy's admin /ready over the socket (Host: localhost), as with Kuma >= 2.14's admin", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-wait-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = `${dir}/kuma-envoy-admin.sock`;
  const seen: Array<{ url: string | undefined; host: string | undefined }> = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url, host: req.headers.host });
    if (seen.length <= 2) res.writeHead(503).end('INITIALIZING\n');
    else res.writeHead(200).end('LIVE\n');
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  const res = await run(KUMA_DP, ['wait', '--unix-socket', socket, '--check-frequency', '100ms', '--timeout', '10s']);
  t.equal(res.code, 0, res.stderr);
  t.equal(seen.length, 3, 'two 503s, then 200');
  t.same(seen[0], { url: '/ready', host: 'localhost' });
  t.ok(res.logs.some((l) => l.msg === 'the data plane proxy is not ready' && l.last === '503 INITIALIZING'));
});

t.test('localhost means the loopback addresses, 127.0.0.1 and then ::1 (RFC 6761), as the default URL uses it', async (t) => {
  const v4 = await readyAfter(t, 0);
  const viaName = await run(KUMA_DP, ['wait', '--url', v4.url.replace('127.0.0.1', 'localhost'), '--timeout', '10s']);
  t.equal(viaName.code, 0, viaName.stderr);
  t.equal(v4.hits(), 1, 'reached on 127.0.0.1');

  const refused = await run(KUMA_DP, ['wait', '--url', 'http://localhost:1/ready', '--check-frequency', '100ms', '--timeout', '300ms']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /last: ECONNREFUSED/, 'refused on both addresses');

  // A proxy listening on ::1 only (an IPv6-only host's admin) is found once 127.0.0.1 refuses.
  let hits = 0;
  const v6 = createServer((req, res) => {
    hits += 1;
    res.end('LIVE\n');
  });
  const bound = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(0, '::1', () => resolve(true));
  });
  if (bound) t.teardown(() => v6.close());
  const port = bound ? (v6.address() as AddressInfo).port : 0;
  const v4Taken =
    bound &&
    (await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1', () => {
        probe.destroy();
        resolve(true);
      }).on('error', () => resolve(false));
    }));
  const skip = !bound ? 'this host has no IPv6 loopback address' : v4Taken ? `another process listens on 127.0.0.1:${port}` : false;
  await t.test('a proxy on ::1 only is reached once 127.0.0.1 refuses', { skip }, async (t) => {
    const viaV6 = await run(KUMA_DP, ['wait', '--url', `http://localhost:${port}/ready`, '--timeout', '10s']);
    t.equal(viaV6.code, 0, viaV6.stderr);
    t.equal(hits, 1, 'reached on ::1');
  });
});
