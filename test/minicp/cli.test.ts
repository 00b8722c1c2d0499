// bin/kuma-mini-cp as a process: the ready line, TLS on the DP server with the
// logged CA, authenticated streams, --store-file across restarts, Kuma's
// variables for ports, plaintext mode, clean shutdown.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { TYPE_URL, type DiscoveryResponse } from '../../src/xds/ads-proto.js';
import { KUMA_MINI_CP, run, start, type Running } from '../helpers/cli.js';
import { AdsClient } from './ads-client.js';
import { dataplane, decodeAll, FREE_PORT_FLAGS } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'mini-cp-cli-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const storeFile = join(dir, 'store.json');
const running: Running[] = [];
const clients: AdsClient<DiscoveryResponse>[] = [];
t.teardown(() => {
  clients.forEach((c) => c.close());
  running.forEach((p) => p.kill('SIGKILL'));
});

interface Ready {
  addresses: Record<string, string>;
  ports: Record<string, number>;
  caCertPath: string;
}

async function startCp(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: Running; ready: Ready }> {
  const proc = start(KUMA_MINI_CP, ['run', ...args], { env });
  running.push(proc);
  const ready = (await proc.waitForLog((l) => l.msg === 'kuma-mini-cp ready', 'ready line', 20_000)) as unknown as Ready;
  return { proc, ready };
}

const call = async (base: string, method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, text: await res.text() };
};

t.test('TLS, auth and the store across a restart', async (t) => {
  const workDir = join(dir, 'work');
  const { proc, ready } = await startCp([...FREE_PORT_FLAGS, '--work-dir', workDir, '--store-file', storeFile]);
  t.equal(ready.caCertPath, join(workDir, 'ca.crt'));
  const ca = await readFile(ready.caCertPath, 'utf8');
  t.match(ca, /BEGIN CERTIFICATE/);
  for (const key of ['dpServer', 'apiHttp', 'apiHttps', 'diagnostics', 'mads']) t.ok(ready.ports[key]! > 0, `${key} port logged`);
  t.match(ready.addresses.dpServer, /^https:/);

  const apiBase = ready.addresses.apiHttp!;
  t.equal(
    (await call(apiBase, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web', outbound: [{ port: 20001, service: 'backend' }] })))
      .status,
    201,
  );
  const token = (await call(apiBase, 'POST', '/tokens/dataplane', { name: 'web-1', mesh: 'default' })).text;
  const otherToken = (await call(apiBase, 'POST', '/tokens/dataplane', { name: 'web-2', mesh: 'default' })).text;
  const target = `localhost:${ready.ports.dpServer}`;

  const good = await AdsClient.open<DiscoveryResponse>({ target, caPem: ca, token, nodeId: 'default.web-1' });
  clients.push(good);
  good.request({ type_url: TYPE_URL.cluster, resource_names: [] });
  const cds = await good.next('CDS over TLS', (r) => r.type_url === TYPE_URL.cluster);
  t.same((await decodeAll(cds.resources)).map((c) => c.name).sort(), ['backend', 'localhost:8080']);

  for (const [what, tokenGiven, code] of [
    ['no token', undefined, 16 /* UNAUTHENTICATED */],
    ['a forged token', token.slice(0, -6) + 'AAAAAA', 16],
    ["another dataplane's token", otherToken, 7 /* PERMISSION_DENIED */],
  ] as const) {
    const refused = await AdsClient.open<DiscoveryResponse>({ target, caPem: ca, nodeId: 'default.web-1', ...(tokenGiven ? { token: tokenGiven } : {}) });
    clients.push(refused);
    refused.request({ type_url: TYPE_URL.cluster, resource_names: [] });
    const status = await refused.ended();
    t.equal(status.code, code, `${what}: stream refused`);
    t.same(refused.responses, [], `${what}: nothing was sent`);
  }
  await proc.waitForLog((l) => l.msg === 'xDS stream refused', 'refusal logged');

  proc.kill('SIGTERM');
  t.equal((await proc.exited).code, 0, 'SIGTERM: exit 0');
  t.ok(proc.logs().some((l) => l.msg === 'stopped'));

  const again = await startCp([...FREE_PORT_FLAGS, '--work-dir', workDir, '--store-file', storeFile, '--log-level', 'warn']);
  t.equal(await readFile(again.ready.caCertPath, 'utf8'), ca, 'the CA is kept in the work dir');
  const stored = await call(again.ready.addresses.apiHttp!, 'GET', '/meshes/default/dataplanes/web-1');
  t.equal(stored.status, 200, 'the dataplane survived the restart');
  const resumed = await AdsClient.open<DiscoveryResponse>({ target: `localhost:${again.ready.ports.dpServer}`, caPem: ca, token, nodeId: 'default.web-1' });
  clients.push(resumed);
  resumed.request({ type_url: TYPE_URL.listener, resource_names: [] });
  await resumed.next('LDS after restart with the old token', (r) => r.type_url === TYPE_URL.listener);
  t.notOk(
    again.proc.logs().some((l) => l.level === 'info' && l.msg !== 'kuma-mini-cp ready'),
    '--log-level warn: only the ready line is below warn',
  );
  again.proc.kill('SIGINT');
  t.equal((await again.proc.exited).code, 0, 'SIGINT: exit 0');
});

t.test("plaintext with Kuma's variables for every port", async (t) => {
  const env = {
    KUMA_DP_SERVER_PORT: '0',
    KUMA_API_SERVER_HTTP_PORT: '0',
    KUMA_API_SERVER_HTTPS_PORT: '0',
    KUMA_DIAGNOSTICS_SERVER_PORT: '0',
    KUMA_MONITORING_ASSIGNMENT_SERVER_PORT: '0',
  };
  const { proc, ready } = await startCp(['--bind-address', '127.0.0.1', '--work-dir', join(dir, 'plain'), '--no-dp-server-tls', '--auth', 'none'], env);
  t.match(ready.addresses.dpServer, /^http:/);
  const bootstrap = await fetch(`${ready.addresses.dpServer}/bootstrap`, {
    method: 'POST',
    body: JSON.stringify({ mesh: 'default', name: 'db-1', dataplaneResource: JSON.stringify(dataplane('db-1', { service: 'db' })) }),
  });
  t.equal(bootstrap.status, 200, 'HTTP/1.1 bootstrap on the plaintext port');
  const client = await AdsClient.open<DiscoveryResponse>({ target: `127.0.0.1:${ready.ports.dpServer}`, nodeId: 'default.db-1' });
  clients.push(client);
  client.request({ type_url: TYPE_URL.listener, resource_names: [] });
  const lds = await client.next('LDS over h2c', (r) => r.type_url === TYPE_URL.listener);
  t.same(
    (await decodeAll(lds.resources)).map((l) => l.name),
    ['inbound:127.0.0.1:10001'],
  );
  // The proxy registered its own Dataplane; when it goes away, so does the Dataplane (as with Kuma universal).
  client.close();
  await proc.waitForLog((l) => l.msg === 'proxy disconnected; removing the Dataplane it registered', 'deregistration');
  t.equal((await call(ready.addresses.apiHttp!, 'GET', '/meshes/default/dataplanes/db-1')).status, 404);
  proc.kill('SIGTERM');
  t.equal((await proc.exited).code, 0);
});

t.test('bad flags and busy ports are clear errors', async (t) => {
  const badAuth = await run(KUMA_MINI_CP, ['run', ...FREE_PORT_FLAGS, '--auth', 'maybe']);
  t.equal(badAuth.code, 1);
  t.match(badAuth.stderr, /--auth: 'maybe' is not an auth mode; use dp-token or none/);
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const clash = await run(KUMA_MINI_CP, ['run', ...FREE_PORT_FLAGS, '--api-server-http-port', String(port), '--work-dir', join(dir, 'clash')]);
  t.equal(clash.code, 1);
  t.match(clash.stderr, new RegExp(`API server \\(--api-server-http-port, KUMA_API_SERVER_HTTP_PORT\\): cannot listen on 127.0.0.1:${port} \\(EADDRINUSE\\)`));
  const notAPort = await run(KUMA_MINI_CP, ['run', ...FREE_PORT_FLAGS.filter((f, i, all) => f !== '--mads-port' && all[i - 1] !== '--mads-port')], {
    env: { KUMA_MONITORING_ASSIGNMENT_SERVER_PORT: 'abc' },
  });
  t.equal(notAPort.code, 1);
  t.match(notAPort.stderr, /KUMA_MONITORING_ASSIGNMENT_SERVER_PORT: 'abc' is not a port/);
  t.notOk(existsSync(join(dir, 'clash', 'store.json')));
});
