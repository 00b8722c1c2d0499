// The GUI in a real browser (Debian's chromium driven by playwright-core): the
// global's /gui shows a Dataplane of a zone appearing live after its proxy
// registers, and a zone's /gui shows the Envoy configuration it serves. Screenshots
// go to .artifacts/ (ignored by git; CI keeps them). Skips, with the reason, where
// no browser can start.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../helpers/cli.js';
import { apiCall, chooseEnvoy, startHelloApp, startMiniCp, startProxy, type MiniCp, type Proxy } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = process.env.CHROMIUM_BINARY ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, '.artifacts');
// Flags that let chromium run headless in a container without network access or a sandbox.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

type BrowserContext = Awaited<ReturnType<(typeof import('playwright-core'))['chromium']['launchPersistentContext']>>;

async function launch(profile: string): Promise<{ context?: BrowserContext; why?: string }> {
  if (!existsSync(CHROMIUM)) return { why: `no browser: ${CHROMIUM} does not exist (.ci/run installs Debian's chromium with apt-get)` };
  try {
    const { chromium } = await import('playwright-core');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1400, height: 900 },
    });
    return { context };
  } catch (err) {
    return { why: `the browser did not start: ${(err as Error).message.split('\n')[0]}` };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'gui-browser-'));
const stoppers: Array<() => Promise<unknown>> = [];
t.teardown(async () => {
  for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const { context, why } = await launch(join(dir, 'profile'));
t.test('the GUI shows a Dataplane appear after it registers', { skip: why ?? false }, async (t) => {
  stoppers.push(() => context!.close());
  mkdirSync(ARTIFACTS, { recursive: true });
  const envoy = chooseEnvoy();
  const kdsPort = await freePort();
  const global = await startMiniCp(['--mode', 'global', '--kds-port', String(kdsPort)], { workDir: join(dir, 'global') });
  stoppers.push(() => global.stop());
  const zone: MiniCp = await startMiniCp([], {
    workDir: join(dir, 'zone-1'),
    env: {
      KUMA_MODE: 'zone',
      KUMA_MULTIZONE_ZONE_NAME: 'zone-1',
      KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${kdsPort}`,
      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: global.caCertPath,
    },
  });
  stoppers.push(() => zone.stop());
  await waitFor('mesh default in zone-1', async () => (await apiCall(zone.apiHttp, 'GET', '/meshes/default')).status === 200);
  t.equal(
    (
      await apiCall(global.apiHttp, 'PUT', '/meshes/default/meshtimeouts/backend-timeouts', {
        type: 'MeshTimeout',
        mesh: 'default',
        name: 'backend-timeouts',
        spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { idleTimeout: '20s' } }] },
      })
    ).status,
    201,
  );

  const page = await context!.newPage();
  const failures: string[] = [];
  page.on('pageerror', (err) => failures.push(err.message));
  page.on('requestfailed', (req) => failures.push(`${req.url()}: ${req.failure()?.errorText}`));
  await page.goto(`${global.apiHttp}/gui/`);
  await page.waitForSelector('tr[data-zone="zone-1"][data-status="online"]', { timeout: 30_000 });
  t.equal(await page.locator('tr[data-dataplane]').count(), 0, 'no Dataplane before any proxy registers');

  const proxies: Proxy[] = [];
  stoppers.push(async () => {
    for (const p of proxies) await p.stop('SIGKILL');
  });
  const backendApp = await startHelloApp('backend');
  stoppers.push(() => backendApp.close());
  proxies.push(await startProxy(zone, envoy, { name: 'backend-1', service: 'backend', appPort: backendApp.port }));
  proxies.push(
    await startProxy(zone, envoy, { name: 'web-1', service: 'web', appPort: await freePort(), outbounds: [{ port: await freePort(), service: 'backend' }] }),
  );

  // No reload: the page learns of the change by itself.
  await page.waitForSelector('tr[data-dataplane="web-1"][data-status="online"]', { timeout: 30_000 });
  await page.waitForSelector('tr[data-dataplane="backend-1"][data-status="online"]', { timeout: 30_000 });
  const row = page.locator('tr[data-dataplane="web-1"]');
  t.match(
    await row.innerText(),
    /zone-1\.web-1[\s\S]*default[\s\S]*zone-1[\s\S]*127\.0\.0\.1[\s\S]*→ web[\s\S]*→ backend/,
    'its mesh, zone, address, inbound and outbound',
  );
  t.ok(await page.locator('tr[data-policy="MeshTimeout/backend-timeouts"]').count(), 'the policy is listed');
  // A click shows the configuration the proxy's zone serves it, fetched over KDS.
  await row.click();
  await page.waitForSelector('#details pre', { timeout: 30_000 });
  t.match(
    await page.locator('#details').innerText(),
    /Envoy configuration served to this proxy \(by zone 'zone-1', fetched over KDS\)[\s\S]*Listener/,
    "the zone's Envoy configuration, on the global",
  );
  const globalShot = join(ARTIFACTS, 'gui-global.png');
  await page.screenshot({ path: globalShot, fullPage: true });
  t.ok(existsSync(globalShot), `screenshot ${globalShot}`);

  // The zone's GUI: a click shows the Envoy configuration the zone serves the proxy.
  const zonePage = await context!.newPage();
  zonePage.on('pageerror', (err) => failures.push(err.message));
  await zonePage.goto(`${zone.apiHttp}/gui/`);
  await zonePage.locator('tr[data-dataplane="web-1"]').click();
  await zonePage.waitForSelector('#details pre', { timeout: 30_000 });
  t.match(await zonePage.locator('#details').innerText(), /Envoy configuration served to this proxy[\s\S]*Listener/, 'the served Envoy configuration');
  const zoneShot = join(ARTIFACTS, 'gui-zone-dataplane.png');
  await zonePage.screenshot({ path: zoneShot, fullPage: true });
  t.ok(existsSync(zoneShot), `screenshot ${zoneShot}`);
  t.same(failures, [], 'no script error or failed request in the pages');
});

t.test(
  "the GUI follows the API's access rule for a proxy's configuration",
  { skip: (why ?? externalAddress()) ? false : 'this host has no non-loopback IPv4 address to browse from' },
  async (t) => {
    const external = externalAddress()!;
    const workDir = join(dir, 'standalone');
    const cp = await startMiniCp(['--api-server-http-interface', '0.0.0.0'], { workDir });
    stoppers.push(() => cp.stop());
    t.equal((await apiCall(cp.apiHttp, 'PUT', '/meshes/default/dataplanes/web-1', dataplaneOf('web-1'))).status, 201);
    const page = await context!.newPage();
    await page.goto(`http://${external}:${String((cp.ready.ports as Record<string, number>).apiHttp)}/gui/`);
    await page.locator('tr[data-dataplane="web-1"]').click();
    await page.waitForSelector('#details .token input', { timeout: 30_000 });
    t.match(
      await page.locator('#details').innerText(),
      /only readable from this host or with the admin token/,
      'from another host: refused, as the API refuses it',
    );
    await page.locator('#details .token input').fill(readFileSync(join(workDir, 'admin-token'), 'utf8').trim());
    await page.locator('#details .token button').click();
    await page.waitForSelector('#details pre', { timeout: 30_000 });
    t.match(await page.locator('#details').innerText(), /Envoy configuration served to this proxy/, 'shown with the admin token');
    await page.screenshot({ path: join(ARTIFACTS, 'gui-admin-token.png'), fullPage: true });
  },
);

function externalAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
}

function dataplaneOf(name: string) {
  return {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: { address: '127.0.0.1', inbound: [{ port: 10001, servicePort: 8080, tags: { 'kuma.io/service': 'web' } }] },
  };
}
