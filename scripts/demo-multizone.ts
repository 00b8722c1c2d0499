// `npm run demo -- --multizone`: a global kuma-mini-cp, two zones connected to
// it over KDS, and in each zone a web and a backend proxy (kuma-dp with Envoy
// or its stand-in) with traffic between them. The global's GUI shows both
// zones and all four proxies (named zone-1.web-1, zone-2.web-1, ...). Stays up
// until Ctrl-C with --keep or when run from a terminal.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCall, httpGet, startHelloApp, startMiniCp, startProxy, type EnvoyChoice, type MiniCp } from '../test/helpers/mesh.js';
import { freePort } from '../test/helpers/ports.js';
import { waitFor } from '../test/helpers/wait.js';

export interface DemoContext {
  envoy: EnvoyChoice;
  keep: boolean;
  say: (line: string) => void;
  cleanups: Array<() => Promise<unknown>>;
  outputs: Array<[string, () => string]>;
}

interface Overviews {
  items?: Array<{ name: string; dataplaneInsight?: { subscriptions?: Array<{ disconnectTime?: string }> } }>;
}

export async function multizoneDemo({ envoy, keep, say, cleanups, outputs }: DemoContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-demo-multizone-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const kdsPort = await freePort();
  const global = await startMiniCp(['--mode', 'global', '--kds-port', String(kdsPort)], { workDir: join(dir, 'global') });
  cleanups.push(() => global.stop());
  outputs.push(['global kuma-mini-cp', () => global.proc.stderr()]);
  say(`global: API ${global.apiHttp}, KDS grpcs://127.0.0.1:${kdsPort}`);

  const zones: Array<[string, MiniCp]> = [];
  for (const name of ['zone-1', 'zone-2']) {
    const zone = await startMiniCp([], {
      workDir: join(dir, name),
      env: {
        KUMA_MODE: 'zone',
        KUMA_MULTIZONE_ZONE_NAME: name,
        KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${kdsPort}`,
        KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: global.caCertPath,
      },
    });
    cleanups.push(() => zone.stop());
    outputs.push([`${name} kuma-mini-cp`, () => zone.proc.stderr()]);
    await waitFor(`mesh 'default' to reach ${name} from the global`, async () => (await apiCall(zone.apiHttp, 'GET', '/meshes/default')).status === 200);
    say(`${name}: connected to the global; DP server ${zone.dpServer}, API ${zone.apiHttp}`);
    zones.push([name, zone]);
  }

  for (const [name, zone] of zones) {
    const backendApp = await startHelloApp(`backend in ${name}`);
    const webApp = await startHelloApp(`web in ${name}`);
    cleanups.push(
      () => backendApp.close(),
      () => webApp.close(),
    );
    const outboundPort = await freePort();
    const backend = await startProxy(zone, envoy, { name: 'backend-1', service: 'backend', appPort: backendApp.port });
    cleanups.push(() => backend.stop());
    outputs.push([`kuma-dp ${name}/backend-1`, () => backend.proc.stderr()]);
    const web = await startProxy(zone, envoy, { name: 'web-1', service: 'web', appPort: webApp.port, outbounds: [{ port: outboundPort, service: 'backend' }] });
    cleanups.push(() => web.stop());
    outputs.push([`kuma-dp ${name}/web-1`, () => web.proc.stderr()]);
    const url = `http://127.0.0.1:${outboundPort}/`;
    const reply = await waitFor(
      `a reply through ${name}'s mesh`,
      async () => {
        const res = await httpGet(url);
        return res.status === 200 && res.body.includes('hello from backend') ? res.body.trim() : undefined;
      },
      { timeoutMs: 30_000 },
    );
    say(`${name}: GET ${url} (web-1's outbound to backend) → "${reply}"`);
  }

  const online = await waitFor('the global to see all four proxies online', async () => {
    const items = ((await apiCall(global.apiHttp, 'GET', '/dataplanes/_overview')).json as Overviews | undefined)?.items ?? [];
    const up = items.filter((dp) => {
      const subs = dp.dataplaneInsight?.subscriptions ?? [];
      return subs.length > 0 && !subs[subs.length - 1]!.disconnectTime;
    });
    return up.length === 4 && up.map((dp) => dp.name);
  });
  say(`the global sees: ${online.join(', ')}`);
  say(`GUI of the global: ${global.apiHttp}/gui/   (zones: ${zones.map(([name, zone]) => `${name} ${zone.apiHttp}/gui/`).join(', ')})`);

  if (keep || process.stdin.isTTY) {
    say('running; open the GUI above (Ctrl-C stops everything)');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  say('demo OK: two zones synced to the global, traffic through each zone');
}
