// Fault injection with real processes: the control plane killed while it
// writes, and restarted under live proxies (Envoy stand-ins, a test double).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseYaml, stringifyYaml } from '../../src/util/yaml.js';
import { start, type Running } from '../helpers/cli.js';
import { startMiniCp, type MiniCp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { STANDIN } from '../envoy-standin/harness.js';
import { validDataplane } from './inputs.js';

const PROXIES = Number(process.env.FAULTS_PROXIES ?? 50);
const RECONFIGURED_WITHIN_MS = 10_000;
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

const dir = mkdtempSync(join(tmpdir(), 'faults-inject-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const portOf = (url: string): string => new URL(url).port;

t.test('killed (SIGKILL) in the middle of a burst of writes: the store file opens again and holds every acknowledged write', async (t) => {
  const storeFile = join(dir, 'killed-store.json');
  const cp = await startMiniCp(['--store-file', storeFile, '--auth', 'none']);
  t.teardown(() => cp.stop());
  const acknowledged: string[] = [];
  let sent = 0;
  let killed = false;
  // Four writers, each writing until the process is gone, so the kill lands in the middle of writes.
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; !killed; i++) {
      const name = `dp-${w}-${i}`;
      sent++;
      const r = await cp
        .api('PUT', `/meshes/default/dataplanes/${name}`, {
          ...validDataplane(name),
          networking: { address: '127.0.0.1', inbound: [{ port: 10000 + (i % 50000), servicePort: 8080, tags: { 'kuma.io/service': 'svc' } }] },
        })
        .catch(() => undefined); // the connection died with the process
      if (r && r.status < 300) acknowledged.push(name);
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  await waitFor('50 writes acknowledged', () => acknowledged.length >= 50, { timeoutMs: 30_000, intervalMs: 1 });
  cp.proc.kill('SIGKILL');
  await cp.proc.exited;
  killed = true;
  await Promise.all(writers);
  t.ok(acknowledged.length < sent, `killed with ${acknowledged.length} of ${sent} writes acknowledged`);

  const again = await startMiniCp(['--store-file', storeFile, '--auth', 'none']);
  t.teardown(() => again.stop());
  const list = await again.api('GET', '/meshes/default/dataplanes');
  t.equal(list.status, 200, 'the store file opened');
  const stored = new Set((list.json as { items: Array<{ name: string }> }).items.map((i) => i.name));
  t.same(
    acknowledged.filter((name) => !stored.has(name)),
    [],
    `every acknowledged write survived (${stored.size} stored)`,
  );
});

interface Proxy {
  name: string;
  proc: Running;
}

async function startProxies(cp: MiniCp, count: number): Promise<Proxy[]> {
  const proxies: Proxy[] = [];
  for (let i = 0; i < count; i++) {
    const name = `proxy-${i}`;
    const port = await freePort();
    const put = await cp.api('PUT', `/meshes/default/dataplanes/${name}`, {
      ...validDataplane(name),
      networking: { address: '127.0.0.1', inbound: [{ port, servicePort: 8080, tags: { 'kuma.io/service': `svc-${i % 5}` } }] },
    });
    if (put.status >= 300) throw new Error(`PUT ${name}: ${put.status} ${put.text}`);
    const res = await fetch(`${cp.dpServer}/bootstrap`, { method: 'POST', body: JSON.stringify({ mesh: 'default', name }) });
    if (res.status !== 200) throw new Error(`bootstrap ${name}: ${res.status} ${await res.text()}`);
    const bootstrap = parseYaml(await res.text()) as { admin: { address: { socket_address: { port_value: number } } } };
    bootstrap.admin.address.socket_address.port_value = 0; // 50 stand-ins on one host: each its own admin port
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, stringifyYaml(bootstrap));
    const proc = start(STANDIN, ['-c', config, '--admin-address-path', join(dir, `${name}.admin`), '--disable-hot-restart', '-l', 'warn']);
    proxies.push({ name, proc });
  }
  return proxies;
}

/** The proxies whose stream is connected with their listeners ACKed, as the control plane reports them. */
async function configured(cp: MiniCp, proxies: Proxy[]): Promise<string[]> {
  const done: string[] = [];
  for (const { name } of proxies) {
    const status = await cp.api('GET', `/meshes/default/dataplanes/${name}/xds`);
    const streams = (status.json as { connected?: boolean; streams?: Array<{ types: Record<string, { acked?: unknown }> }> }).streams ?? [];
    if ((status.json as { connected?: boolean }).connected && streams.some((s) => s.types[LDS]?.acked)) done.push(name);
  }
  return done;
}

t.test(`restarted under ${PROXIES} live proxies (stand-ins): all reconnect and are configured again within 10 s; the store keeps them`, async (t) => {
  const storeFile = join(dir, 'restart-store.json');
  const common = ['--store-file', storeFile, '--auth', 'none', '--no-dp-server-tls'];
  const first = await startMiniCp(common);
  let stopFirst: (() => Promise<void>) | undefined = () => first.stop();
  t.teardown(() => stopFirst?.());
  const proxies = await startProxies(first, PROXIES);
  t.teardown(async () => {
    for (const p of proxies) p.proc.kill('SIGKILL');
    await Promise.all(proxies.map((p) => p.proc.exited));
  });
  await waitFor(`all ${PROXIES} stand-ins configured`, async () => (await configured(first, proxies)).length === PROXIES || undefined, {
    timeoutMs: 60_000,
    intervalMs: 200,
  });
  t.pass(`all ${PROXIES} stand-ins connected and ACKed their listeners`);

  first.proc.kill('SIGKILL');
  await first.proc.exited;
  stopFirst = undefined;
  const restartedAt = Date.now();
  const second = await startMiniCp([...common, '--dp-server-port', portOf(first.dpServer), '--api-server-http-port', portOf(first.apiHttp)]);
  t.teardown(() => second.stop());
  t.comment(`the restarted control plane was ready after ${Date.now() - restartedAt} ms`);
  const list = await second.api('GET', '/meshes/default/dataplanes');
  t.equal((list.json as { total: number }).total, PROXIES, 'every Dataplane is still in the store');
  await waitFor(`all ${PROXIES} stand-ins configured again`, async () => (await configured(second, proxies)).length === PROXIES || undefined, {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  const tookMs = Date.now() - restartedAt;
  t.ok(tookMs < RECONFIGURED_WITHIN_MS, `all ${PROXIES} configured again ${tookMs} ms after the restart began (< ${RECONFIGURED_WITHIN_MS})`);
  t.same(
    proxies.filter((p) => p.proc.child.exitCode !== null),
    [],
    'no stand-in exited',
  );
  t.ok(readFileSync(storeFile, 'utf8').includes('proxy-0'), 'the store file still has them');
});
