// A global and two zones, each a real bin/kuma-mini-cp process, with proxies
// (kuma-dp and the Envoy stand-in, a test double) in the zones: Dataplanes
// flow zone → global, policies global → zones, a dead zone is marked offline,
// and a restarted global (or zone) resyncs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { adminGet, apiCall, chooseEnvoy, startMiniCp, startProxy, type MiniCp, type Proxy } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const SYNC_DEADLINE_MS = 2_000;
const envoy = chooseEnvoy();
const dir = mkdtempSync(join(tmpdir(), 'multizone-'));
const stoppers: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

interface Overview {
  name: string;
  mesh: string;
  labels?: Record<string, string>;
  dataplaneInsight?: { subscriptions?: Array<{ connectTime?: string; disconnectTime?: string }> };
}
const online = (insight: { subscriptions?: Array<{ disconnectTime?: string }> } | undefined): boolean => {
  const subs = insight?.subscriptions ?? [];
  return subs.length > 0 && !subs[subs.length - 1]!.disconnectTime;
};
interface ZoneOverview {
  name: string;
  zoneInsight: { subscriptions: Array<{ disconnectTime?: string }> };
}
interface Policy {
  spec: unknown;
  labels: Record<string, string>;
}
/** The API's JSON body, typed as the test reads it. */
const body = async <T>(base: string, path: string): Promise<{ status: number; json: T }> => {
  const res = await apiCall(base, 'GET', path);
  return { status: res.status, json: res.json as T };
};
const overviews = async (cp: MiniCp): Promise<Overview[]> => (await body<{ items?: Overview[] }>(cp.apiHttp, '/dataplanes/_overview')).json?.items ?? [];
const zoneOverview = async (global: MiniCp, zone: string): Promise<ZoneOverview | undefined> =>
  ((await body<{ items?: ZoneOverview[] }>(global.apiHttp, '/zones/_overview')).json?.items ?? []).find((z) => z.name === zone);

/** Resolves with how long `probe` took to hold, failing the test beyond `deadlineMs`. */
async function within<T>(t: Test, what: string, deadlineMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const started = Date.now();
  const value = await waitFor(what, probe, { timeoutMs: 10 * deadlineMs });
  const took = Date.now() - started;
  t.ok(took <= deadlineMs, `${what} within ${deadlineMs} ms (took ${took} ms)`);
  return value;
}

const globalDir = join(dir, 'global');
const kdsPort = await freePort();
const startGlobal = () =>
  startMiniCp(['--mode', 'global', '--kds-port', String(kdsPort), '--store-file', join(globalDir, 'store.json')], { workDir: globalDir });
let global = await startGlobal();
stoppers.push(() => global.stop());

const startZone = async (zone: string, extra: string[] = []) => {
  const cp = await startMiniCp(['--store-file', join(dir, `${zone}.json`), ...extra], {
    workDir: join(dir, zone),
    env: {
      KUMA_MODE: 'zone',
      KUMA_MULTIZONE_ZONE_NAME: zone,
      KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${kdsPort}`,
      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: global.caCertPath,
    },
  });
  stoppers.push(() => cp.stop());
  // Meshes come from the global: proxies can register once 'default' has arrived.
  await waitFor(`mesh default synced to ${zone}`, async () => (await apiCall(cp.apiHttp, 'GET', '/meshes/default')).status === 200);
  return cp;
};
let zone1 = await startZone('zone-1');
const zone2 = await startZone('zone-2');
const proxies: Proxy[] = [];
stoppers.push(async () => {
  for (const p of proxies) await p.stop('SIGKILL').catch(() => undefined);
});

t.test('a Dataplane registered in zone-1 appears on the global and in the GUI API', async (t) => {
  const proxy = await startProxy(zone1, envoy, { name: 'web-1', service: 'web', appPort: await freePort() });
  proxies.push(proxy);
  await waitFor('web-1 registered in zone-1', async () => (await overviews(zone1)).some((dp) => dp.name === 'web-1' && online(dp.dataplaneInsight)), {
    timeoutMs: 30_000,
  });
  const seen = await within(t, 'zone-1.web-1 online on the global', SYNC_DEADLINE_MS, async () =>
    (await overviews(global)).find((dp) => dp.name === 'zone-1.web-1' && online(dp.dataplaneInsight)),
  );
  t.match(seen.labels, { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1', 'kuma.io/display-name': 'web-1' }, "Kuma's labels on the synced Dataplane");
  const gui = await body<Overview>(global.apiHttp, '/meshes/default/dataplanes/zone-1.web-1/_overview');
  t.equal(gui.status, 200, 'the GUI reads it from the global');
  t.ok(online(gui.json.dataplaneInsight), 'online, with its ADS subscription');
  t.equal((await apiCall(global.apiHttp, 'PUT', '/meshes/default/dataplanes/x', {})).status, 405, 'the global refuses Dataplane writes');
  const config = await body<{ name: string; resources: Record<string, Array<{ name: string }>> }>(
    global.apiHttp,
    '/meshes/default/dataplanes/zone-1.web-1/_config',
  );
  t.equal(config.status, 200, "the global fetches the proxy's Envoy configuration from its zone");
  t.equal(config.json.name, 'web-1');
  t.ok(
    config.json.resources.Listener?.some((l) => l.name.startsWith('inbound:')),
    'its inbound listener',
  );
});

t.test("a policy created on the global reaches zone-2's proxies", async (t) => {
  const proxy = await startProxy(zone2, envoy, { name: 'backend-1', service: 'backend', appPort: await freePort() });
  proxies.push(proxy);
  await waitFor('backend-1 registered in zone-2', async () => (await overviews(zone2)).some((dp) => dp.name === 'backend-1'), { timeoutMs: 30_000 });
  // The stand-in (an Envoy test double) serves its current configuration on its admin API, as Envoy does.
  const configDump = async (): Promise<string> => (await adminGet(proxy, '/config_dump')).body;
  await waitFor("backend-1's inbound listener in its Envoy", async () => (await configDump()).includes('inbound:'), { timeoutMs: 30_000 });
  t.notMatch(await configDump(), /access_log/, 'no access log before the policy');
  const collector = `127.0.0.1:${await freePort()}`;
  const policy = {
    type: 'MeshAccessLog',
    mesh: 'default',
    name: 'to-collector',
    spec: { targetRef: { kind: 'Mesh' }, from: [{ targetRef: { kind: 'Mesh' }, default: { backends: [{ type: 'Tcp', tcp: { address: collector } }] } }] },
  };
  t.equal((await apiCall(global.apiHttp, 'PUT', '/meshes/default/meshaccesslogs/to-collector', policy)).status, 201);
  await within(t, "the policy in the Envoy of zone-2's backend-1", SYNC_DEADLINE_MS, async () => {
    const dump = await configDump();
    return dump.includes('access_log') && dump.includes(collector);
  });
  const synced = (await body<Policy>(zone2.apiHttp, '/meshes/default/meshaccesslogs/to-collector')).json;
  t.same(synced.spec, policy.spec, "zone-2's API has it, with its spec");
  t.equal(synced.labels['kuma.io/origin'], 'global', 'labelled as coming from the global');
  const refused = await apiCall(zone2.apiHttp, 'PUT', '/meshes/default/meshaccesslogs/to-collector', policy);
  t.equal(refused.status, 405, 'a zone refuses policy writes');
  t.match(refused.json, { title: 'Method not allowed', detail: /On zone control plane you can only modify zone resources/ });
});

t.test("a mesh's metrics reach the zones as the global stores them", async (t) => {
  const metrics = { enabledBackend: 'prom-1', backends: [{ name: 'prom-1', type: 'prometheus', conf: { port: 1234, path: '/stats' } }] };
  t.equal((await apiCall(global.apiHttp, 'PUT', '/meshes/observed', { type: 'Mesh', name: 'observed', metrics })).status, 201);
  const synced = await within(t, 'mesh observed with its metrics in zone-2', SYNC_DEADLINE_MS, async () => {
    const got = await body<{ metrics?: unknown; labels?: Record<string, string> }>(zone2.apiHttp, '/meshes/observed');
    return got.status === 200 && got.json.metrics !== undefined && got.json;
  });
  t.same(synced.metrics, metrics, "zone-2's API has the mesh's metrics as given");
  t.equal(synced.labels?.['kuma.io/origin'], 'global');
  t.equal((await apiCall(global.apiHttp, 'DELETE', '/meshes/observed')).status, 200);
});

t.test('killing zone-1 marks it offline on the global', async (t) => {
  zone1.proc.kill('SIGKILL');
  await zone1.proc.exited;
  await waitFor('zone-1 offline on the global', async () => {
    const subs = (await zoneOverview(global, 'zone-1'))?.zoneInsight.subscriptions ?? [];
    return subs.length > 0 && subs[subs.length - 1]!.disconnectTime;
  });
  const dp = (await overviews(global)).find((d) => d.name === 'zone-1.web-1');
  t.ok(dp && !online(dp.dataplaneInsight), "its proxies' last known subscriptions end with it");
  t.ok(online((await zoneOverview(global, 'zone-2'))?.zoneInsight), 'zone-2 stays online');
  const config = await apiCall(global.apiHttp, 'GET', '/meshes/default/dataplanes/zone-1.web-1/_config');
  t.equal(config.status, 503, "an offline zone's proxy configuration cannot be fetched");
  t.match(config.text, /zone 'zone-1' is not connected/);
});

t.test('a restarted zone resyncs', async (t) => {
  // The Dataplane API-registered in zone-1's store file survives; web-1 (registered by its proxy) is gone with the process.
  zone1 = await startZone('zone-1');
  t.equal((await apiCall(zone1.apiHttp, 'PUT', '/meshes/default/dataplanes/db-1', dp('db-1', 'db'))).status, 201);
  await within(t, 'zone-1 online again with db-1', 10_000, async () => {
    const zone = await zoneOverview(global, 'zone-1');
    return online(zone?.zoneInsight) && (await overviews(global)).some((d) => d.name === 'zone-1.db-1');
  });
});

t.test('restarting the global resyncs everything', async (t) => {
  await global.stop();
  // While the global is down: zone-2 gets a Dataplane, zone-1 loses one.
  t.equal((await apiCall(zone2.apiHttp, 'PUT', '/meshes/default/dataplanes/cache-1', dp('cache-1', 'cache'))).status, 201);
  t.equal((await apiCall(zone1.apiHttp, 'DELETE', '/meshes/default/dataplanes/db-1')).status, 200);
  global = await startGlobal();
  await waitFor(
    'both zones back online',
    async () => online((await zoneOverview(global, 'zone-1'))?.zoneInsight) && online((await zoneOverview(global, 'zone-2'))?.zoneInsight),
    {
      timeoutMs: 20_000,
    },
  );
  let names: string[] = [];
  await waitFor('the zones resynced', async () => {
    names = (await overviews(global)).map((d) => d.name);
    return names.includes('zone-2.cache-1') && names.includes('zone-2.backend-1') && !names.includes('zone-1.db-1');
  }).catch((err: Error) => {
    throw new Error(
      `${err.message}; the global has ${names.join(', ')}\n--- global ---\n${global.proc.stderr().slice(-3000)}\n--- zone-2 ---\n${zone2.proc.stderr().slice(-4000)}`,
    );
  });
  const backend = (await overviews(global)).find((d) => d.name === 'zone-2.backend-1');
  t.ok(online(backend?.dataplaneInsight), "zone-2's proxy is online on the new global");
  t.equal(
    (await apiCall(zone2.apiHttp, 'GET', '/meshes/default/meshaccesslogs/to-collector')).status,
    200,
    'the policy (in the store file) stays on the zones',
  );
  t.equal((await apiCall(global.apiHttp, 'DELETE', '/meshes/default/meshaccesslogs/to-collector')).status, 200);
  const backendProxy = proxies.find((p) => p.workDir.includes('backend-1'))!;
  await within(t, "the deletion reaches zone-2's Envoy", SYNC_DEADLINE_MS, async () => {
    const gone = (await apiCall(zone2.apiHttp, 'GET', '/meshes/default/meshaccesslogs/to-collector')).status === 404;
    return gone && !(await adminGet(backendProxy, '/config_dump')).body.includes('access_log');
  });
});

function dp(name: string, service: string) {
  return {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: { address: '127.0.0.1', inbound: [{ port: 10001, servicePort: 8080, tags: { 'kuma.io/service': service } }] },
  };
}
