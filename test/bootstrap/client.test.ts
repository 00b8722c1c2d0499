import t from 'tap';
import { createLogger, setLogSink } from '../../src/log/logger.js';
import { fetchBootstrap, type FetchBootstrapOptions } from '../../src/bootstrap/client.js';
import { buildBootstrapRequest, serializeBootstrapRequest } from '../../src/bootstrap/request.js';
import { encodeBootstrapResponse } from '../../src/bootstrap/response.js';
import { createCa, issueCert, type KeyPair } from '../../src/tls/certs.js';
import { waitFor } from '../helpers/wait.js';
import { start } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startFakeCp, type FakeCp, type Script } from '../helpers/fake-cp.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.secret-payload.signature';
const YAML = 'node:\n  id: default.web-1\nadmin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }\n';
const request = buildBootstrapRequest({
  mesh: 'default',
  name: 'web-1',
  proxyType: 'dataplane',
  dataplaneToken: TOKEN,
  dataplaneResource: { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { address: '127.0.0.1' } },
  kumaDp: { version: '0.1.0', gitTag: 'v0.1.0', gitCommit: 'abc', buildDate: '2026-01-01T00:00:00Z' },
  envoy: { version: '1.30.1', build: 'sha/1.30.1/Clean/RELEASE/BoringSSL', kumaDpCompatible: true },
  dnsPort: 15053,
  readinessPort: 9902,
  workdir: '/tmp/kuma-dp',
  ipv6Enabled: false,
});

const ok = (): ReturnType<Script> => ({
  status: 200,
  contentType: 'application/json',
  body: encodeBootstrapResponse(YAML, { networking: { address: '127.0.0.1' } }),
});

// The log lines of the current test (for hints), and of all tests (for the token check at the end).
const lines: string[] = [];
const allLines: string[] = [];
setLogSink((line) => {
  lines.push(line);
  allLines.push(line);
});
t.beforeEach(() => {
  lines.length = 0;
});

function options(cp: string, over: Partial<FetchBootstrapOptions> = {}): FetchBootstrapOptions {
  return {
    cpAddress: cp,
    skipVerify: false,
    retryBackoffMs: 50,
    retryMaxDurationMs: 5_000,
    signal: new AbortController().signal,
    log: createLogger('bootstrap'),
    ...over,
  };
}

async function cp(t: { teardown(fn: () => unknown): void }, script: Script, opts: { tls?: KeyPair } = {}): Promise<FakeCp> {
  const server = await startFakeCp(opts.tls, { script });
  t.teardown(() => server.close());
  return server;
}

t.test("POSTs Kuma's request to /bootstrap and decodes the JSON answer", async (t) => {
  const server = await cp(t, ok);
  const result = await fetchBootstrap(request, options(server.url + '/ignored/path'));
  t.equal(result.bootstrapYaml, YAML);
  t.same(result.kumaSidecarConfiguration, { networking: { address: '127.0.0.1' } });
  t.equal(server.requests.length, 1);
  const seen = server.requests[0]!;
  t.equal(seen.method, 'POST');
  t.equal(seen.path, '/bootstrap', 'the path is replaced by /bootstrap, as Kuma does');
  t.equal(seen.headers.accept, 'application/json');
  t.equal(seen.headers['content-type'], 'application/json');
  t.equal(seen.body, serializeBootstrapRequest(request), 'the body is the serialised BootstrapRequest');
  t.equal((JSON.parse(seen.body) as { dataplaneToken?: string }).dataplaneToken, TOKEN, 'the token is sent to the CP (and only there)');
});

t.test('older control planes answer with raw YAML', async (t) => {
  const server = await cp(t, () => ({ status: 200, contentType: 'text/x-yaml', body: YAML }));
  const result = await fetchBootstrap(request, options(server.url));
  t.same(result, { bootstrapYaml: YAML });
});

t.test('garbage answers give a clear error, without retrying', async (t) => {
  const html = await cp(t, () => ({ status: 200, contentType: 'text/html', body: '<html>proxy login</html>' }));
  await t.rejects(fetchBootstrap(request, options(html.url)), {
    name: 'UserError',
    message: /something other than a bootstrap: unexpected content type 'text\/html'/,
  });
  const noField = await cp(t, () => ({ status: 200, contentType: 'application/json', body: '{"kumaSidecarConfiguration":{}}' }));
  await t.rejects(fetchBootstrap(request, options(noField.url)), { message: /no "bootstrap" field/ });
  t.equal(noField.requests.length, 1);
  const endless = await cp(t, () => ({ status: 200, contentType: 'application/json', body: 'x'.repeat(17 * 1024 * 1024) }));
  await t.rejects(fetchBootstrap(request, options(endless.url)), { name: 'UserError', message: /answered \/bootstrap with more than 16 MiB/ });
  t.equal(endless.requests.length, 1, 'not retried');
});

t.test('refused connections, 404s and 5xx are retried until the CP answers', async (t) => {
  const port = await freePort();
  const statuses = [{ status: 404 }, { status: 404, body: '404: Page Not Found' }, { status: 503, body: 'starting' }];
  const pending = fetchBootstrap(request, options(`http://127.0.0.1:${port}`));
  // The CP comes up only after the agent has been refused at least once.
  await waitFor('a refused attempt', () => lines.some((l) => /ECONNREFUSED/.test(l)));
  const server = await startFakeCp(undefined, { script: (n) => statuses[n - 1] ?? ok(), port });
  t.teardown(() => server.close());
  const result = await pending;
  t.equal(result.bootstrapYaml, YAML);
  t.equal(server.requests.length, 4);
  const logs = lines.map((l) => JSON.parse(l) as { level: string; msg: string; error?: string });
  t.ok(
    logs.some((l) => /Dataplane is not in the control plane yet/.test(l.msg)),
    'empty 404: Dataplane not found yet',
  );
  t.ok(
    logs.some((l) => l.level === 'warn' && /HTTP API port \(5681 by default\).*DP server port \(5678 by default\)/.test(l.msg)),
    'other 404: wrong port',
  );
  t.ok(
    logs.some((l) => /unexpected status code 503/.test(l.error ?? '')),
    '5xx logged',
  );
});

t.test("a 4xx other than 404 fails at once and shows the CP's body", async (t) => {
  const server = await cp(t, () => ({ status: 422, body: 'Invalid request: name: must be a valid DNS name' }));
  await t.rejects(fetchBootstrap(request, options(server.url)), {
    name: 'UserError',
    message: 'the control plane rejected the bootstrap request (HTTP 422): Invalid request: name: must be a valid DNS name',
  });
  t.equal(server.requests.length, 1, 'no retry');

  const echo = await cp(t, (_n, req) => ({ status: 400, body: `bad request: ${req.body}` }));
  const err = await fetchBootstrap(request, options(echo.url)).then(
    () => new Error('the bootstrap request was expected to fail'),
    (e: Error) => e,
  );
  t.match(err, { name: 'UserError', message: /HTTP 400\): bad request: [\s\S]*"dataplaneToken": "\[redacted\]"/ }, 'a token echoed by the CP is redacted');
  t.notMatch(String(err), /secret-payload/);
});

t.test('when the time budget runs out the error says how long it tried and the last error', async (t) => {
  const server = await cp(t, () => ({ status: 500, body: 'db down' }));
  const started = Date.now();
  await t.rejects(fetchBootstrap(request, options(server.url, { retryMaxDurationMs: 300 })), {
    name: 'UserError',
    message:
      /^could not fetch the bootstrap configuration from http:\/\/127\.0\.0\.1:\d+: tried for \d+ms \(\d+ attempts, KUMA_CONTROL_PLANE_RETRY_MAX_DURATION is 300ms\); last error: unexpected status code 500 from the control plane: db down$/,
  });
  t.ok(Date.now() - started < 3_000, 'stops near the budget (10x its 300 ms)');
  t.ok(server.requests.length >= 3, `retried (${server.requests.length} requests)`);
});

t.test('a request with no answer times out and is retried', async (t) => {
  const server = await cp(t, (n) => (n === 1 ? 'hang' : ok()));
  const result = await fetchBootstrap(request, options(server.url, { requestTimeoutMs: 200 }));
  t.equal(result.bootstrapYaml, YAML);
  t.ok(
    lines.some((l) => /no answer from http:\/\/127\.0\.0\.1:\d+ within 200ms/.test(l)),
    'the timeout is logged',
  );
});

t.test('abort stops the wait between retries and a request in flight within a second', async (t) => {
  const waiting = await cp(t, () => ({ status: 503 }));
  const controller = new AbortController();
  const pending = fetchBootstrap(request, options(waiting.url, { retryBackoffMs: 60_000, signal: controller.signal }));
  await waitFor('the first attempt', () => waiting.requests.length === 1);
  await waitFor('the retry wait', () => lines.some((l) => /retrying/.test(l)));
  let started = Date.now();
  controller.abort();
  await t.rejects(pending, { name: 'AbortError' });
  t.ok(Date.now() - started < 1_000, 'during the backoff');

  const hanging = await cp(t, () => 'hang');
  const inFlight = new AbortController();
  const pending2 = fetchBootstrap(request, options(hanging.url, { signal: inFlight.signal }));
  await waitFor('the request to arrive', () => hanging.requests.length === 1);
  started = Date.now();
  inFlight.abort();
  await t.rejects(pending2, { name: 'AbortError' });
  t.ok(Date.now() - started < 1_000, 'during a request');

  const before = new AbortController();
  before.abort();
  await t.rejects(fetchBootstrap(request, options(hanging.url, { signal: before.signal })), { name: 'AbortError' }, 'already aborted');
});

t.test('a process stopped while retrying exits promptly (the HTTP client leaves no work that delays exit)', async (t) => {
  const server = await cp(t, () => ({ status: 503 }));
  const child = start(process.execPath, [new URL('./fetch-child.js', import.meta.url).pathname, server.url]);
  t.teardown(() => child.kill('SIGKILL'));
  await child.waitForLog((l) => /retrying/.test(String(l.msg)), 'the first retry', 20_000);
  const began = Date.now();
  child.kill('SIGTERM');
  const { code } = await child.exited;
  const took = Date.now() - began;
  t.equal(code, 0, 'stopped by the abort');
  t.ok(took < 10_000, `gone ${took} ms after SIGTERM (the retry backoff is 60 s)`);
});

t.test('TLS', async (t) => {
  const ca = await createCa('kuma-ca');
  const otherCa = await createCa('someone-else');
  const serverCert = await issueCert(ca, { commonName: 'kuma-control-plane', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const server = await cp(t, ok, { tls: serverCert });

  t.test('a certificate signed by the given CA is trusted', async (t) => {
    const result = await fetchBootstrap(request, options(server.url, { caCertPem: ca.certPem }));
    t.equal(result.bootstrapYaml, YAML);
  });

  t.test('the given CA is the only root: another CA fails at once, naming the flags', async (t) => {
    const before = server.requests.length;
    await t.rejects(fetchBootstrap(request, options(server.url, { caCertPem: otherCa.certPem })), {
      name: 'UserError',
      message:
        /certificate at https:\/\/127\.0\.0\.1:\d+ is not signed by the CA given in --ca-cert-file \/ KUMA_CONTROL_PLANE_CA_CERT_FILE .*\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\).*--skip-verify/,
    });
    t.equal(server.requests.length, before, 'no request got through');
  });

  t.test('no CA given: an unknown authority, with what to pass', async (t) => {
    await t.rejects(fetchBootstrap(request, options(server.url)), {
      message:
        /is signed by an unknown authority \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); pass the CA that signed it with --ca-cert-file \/ KUMA_CONTROL_PLANE_CA_CERT_FILE, or --skip-verify/,
    });
  });

  t.test('a self-signed server certificate is an unknown authority too', async (t) => {
    const selfSigned = await cp(t, ok, { tls: otherCa });
    await t.rejects(fetchBootstrap(request, options(selfSigned.url, { caCertPem: ca.certPem })), { message: /DEPTH_ZERO_SELF_SIGNED_CERT/ });
  });

  t.test('a name mismatch says which names the certificate has', async (t) => {
    const elsewhere = await issueCert(ca, { commonName: 'cp', dnsNames: ['cp.example.com'] });
    const mismatched = await cp(t, ok, { tls: elsewhere });
    await t.rejects(fetchBootstrap(request, options(mismatched.url, { caCertPem: ca.certPem })), {
      name: 'UserError',
      message:
        /not valid for '127\.0\.0\.1' \(ERR_TLS_CERT_ALTNAME_INVALID: it names DNS:cp\.example\.com\); use an address the certificate names in --cp-address, or --skip-verify/,
    });
    const byName = await fetchBootstrap(request, options(`https://localhost:${server.port}`, { caCertPem: ca.certPem }));
    t.equal(byName.bootstrapYaml, YAML, 'a DNS SAN matches when the address uses it');
  });

  t.test('--skip-verify accepts any certificate and warns', async (t) => {
    const result = await fetchBootstrap(request, options(server.url, { skipVerify: true, caCertPem: otherCa.certPem }));
    t.equal(result.bootstrapYaml, YAML);
    t.ok(lines.some((l) => /"level":"warn".*--skip-verify is set/.test(l)));
  });

  t.test('https against a plain HTTP port hints at http://', async (t) => {
    const plain = await cp(t, ok);
    await t.rejects(fetchBootstrap(request, options(plain.url.replace('http:', 'https:'), { retryMaxDurationMs: 100 })), {
      message: /TLS handshake .* failed .*use http:\/\/ in --cp-address/,
    });
  });
});

t.test('bad options are user errors naming what to fix', async (t) => {
  await t.rejects(fetchBootstrap(request, options('grpcs://localhost:5678')), {
    name: 'UserError',
    message: /--cp-address: unsupported scheme 'grpcs'.*use http:\/\/ or https:\/\//,
  });
  await t.rejects(fetchBootstrap(request, options('localhost 5678')), { name: 'UserError', message: /--cp-address: 'localhost 5678' is not a URL/ });
  await t.rejects(fetchBootstrap(request, options('https://localhost:5678', { caCertPem: 'not a pem' })), { message: /holds no PEM certificate/ });
  await t.rejects(fetchBootstrap(request, options('https://localhost:5678', { retryBackoffMs: 0 })), {
    message: /KUMA_CONTROL_PLANE_RETRY_BACKOFF must be a positive duration/,
  });
});

t.test('the token never reaches a log line', (t) => {
  t.ok(allLines.length > 20, `${allLines.length} lines logged by the tests above`);
  t.same(
    allLines.filter((l) => l.includes('secret-payload')),
    [],
  );
  t.end();
});
