// Fault injection with real processes: the control plane killed while it
// writes, and restarted under live proxies (Envoy stand-ins, a test double).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startMiniCp } from '../helpers/mesh.js';
import { waitFor } from '../helpers/wait.js';
import { validDataplane } from './inputs.js';
import { configured, startProxies, stopProxies } from './standins.js';

const PROXIES = Number(process.env.FAULTS_PROXIES ?? 50);
// On a quiet machine they are back in a few seconds (bench:faults measures it; the issue asks for
// under 10 s); the deadline here is generous so a loaded CI host fails only when they never return.
const RECONFIGURED_DEADLINE_MS = 90_000;

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

t.test(`restarted under ${PROXIES} live proxies (stand-ins): all reconnect and are configured again; the store keeps them`, async (t) => {
  const storeFile = join(dir, 'restart-store.json');
  const common = ['--store-file', storeFile, '--auth', 'none', '--no-dp-server-tls'];
  const first = await startMiniCp(common);
  let stopFirst: (() => Promise<void>) | undefined = () => first.stop();
  t.teardown(() => stopFirst?.());
  const began = Date.now();
  const proxies = await startProxies(first, PROXIES, dir);
  t.comment(`${PROXIES} stand-ins started in ${Date.now() - began} ms`);
  t.teardown(() => stopProxies(proxies));
  await waitFor(`all ${PROXIES} stand-ins configured`, async () => (await configured(first, proxies)).length === PROXIES || undefined, {
    timeoutMs: RECONFIGURED_DEADLINE_MS,
    intervalMs: 200,
  });
  t.pass(`all ${PROXIES} stand-ins connected and ACKed their listeners (${Date.now() - began} ms after the first started)`);

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
    timeoutMs: RECONFIGURED_DEADLINE_MS,
    intervalMs: 100,
  });
  t.pass(`all ${PROXIES} configured again ${Date.now() - restartedAt} ms after the restart began`);
  t.same(
    proxies.filter((p) => p.proc.child.exitCode !== null),
    [],
    'no stand-in exited',
  );
  t.ok(readFileSync(storeFile, 'utf8').includes('proxy-0'), 'the store file still has them');
});
