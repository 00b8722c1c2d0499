// Each mode of bin/kuma-mini-cp listens on exactly the ports of Kuma's
// networking page. Every listener's port is set through Kuma's environment
// variable to a distinct free port, in every mode; the process's listening
// sockets (from /proc) must be exactly the mode's subset of them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KUMA_MINI_CP, run } from '../helpers/cli.js';
import { listeningPorts } from '../helpers/listening.js';
import { apiCall, startMiniCp, type MiniCp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const ENV = {
  mads: 'KUMA_MONITORING_ASSIGNMENT_SERVER_PORT',
  dpServer: 'KUMA_DP_SERVER_PORT',
  diagnostics: 'KUMA_DIAGNOSTICS_SERVER_PORT',
  apiHttp: 'KUMA_API_SERVER_HTTP_PORT',
  apiHttps: 'KUMA_API_SERVER_HTTPS_PORT',
  kds: 'KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT',
} as const;
type Listener = keyof typeof ENV;

// The page: standalone 5676, 5678, 5680, 5681, 5682; global 5680, 5681, 5682, 5685; zone as standalone (and a client of 5685).
const EXPECTED: Record<string, Listener[]> = {
  standalone: ['mads', 'dpServer', 'diagnostics', 'apiHttp', 'apiHttps'],
  global: ['diagnostics', 'apiHttp', 'apiHttps', 'kds'],
  zone: ['mads', 'dpServer', 'diagnostics', 'apiHttp', 'apiHttps'],
};

const skip = process.platform === 'linux' ? false : 'listening sockets are read from /proc: Linux only';
{
  const dir = mkdtempSync(join(tmpdir(), 'mini-cp-ports-'));
  const running: MiniCp[] = [];
  t.teardown(async () => {
    for (const cp of running.reverse()) await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a mode with every listener's variable set (flags would win over them, so none is passed). */
  const startMode = async (mode: string, extraEnv: NodeJS.ProcessEnv = {}) => {
    const ports = {} as Record<Listener, number>;
    for (const key of Object.keys(ENV) as Listener[]) ports[key] = await freePort();
    const env: NodeJS.ProcessEnv = { KUMA_MODE: mode, ...extraEnv };
    for (const key of Object.keys(ENV) as Listener[]) env[ENV[key]] = String(ports[key]);
    const workDir = join(dir, mode);
    const cp = await startMiniCp([], { workDir, env, freePortFlags: false });
    running.push(cp);
    return { cp, ports };
  };

  const check = (t: Test, mode: string, cp: MiniCp, ports: Record<Listener, number>) => {
    const expected = new Set(EXPECTED[mode]!.map((key) => ports[key]));
    const actual = listeningPorts(cp.proc.child.pid!);
    t.same([...actual].sort(), [...expected].sort(), `${mode} listens on exactly ${EXPECTED[mode]!.join(', ')}`);
    t.equal(cp.ready.mode, mode, 'the ready line names the mode');
    t.same(Object.keys(cp.ready.ports as object).sort(), [...EXPECTED[mode]!].sort(), 'the ready line lists the same listeners');
  };

  t.test('standalone, global and zone', { skip }, async (t) => {
    const standalone = await startMode('standalone');
    check(t, 'standalone', standalone.cp, standalone.ports);

    const global = await startMode('global');
    check(t, 'global', global.cp, global.ports);

    const zone = await startMode('zone', {
      KUMA_MULTIZONE_ZONE_NAME: 'zone-a',
      KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: `grpcs://127.0.0.1:${global.ports.kds}`,
      KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE: global.cp.caCertPath,
    });
    check(t, 'zone', zone.cp, zone.ports);
    // The zone's one outgoing connection: the global sees it online.
    await waitFor('zone-a online on the global', async () => {
      const zones = (await apiCall(global.cp.apiHttp, 'GET', '/zones/_overview')).json as {
        items: Array<{ name: string; zoneInsight: { subscriptions: Array<{ disconnectTime?: string }> } }>;
      };
      const sub = zones.items.find((z) => z.name === 'zone-a')?.zoneInsight.subscriptions[0];
      return sub && !sub.disconnectTime;
    });

    // KUMA_MODE=zone without a global address is the page's standalone.
    const plain = await startMode('zone');
    check(t, 'standalone', plain.cp, plain.ports);
  });
}

t.test('bad mode settings are refused with the variable or flag that holds them', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [[], { KUMA_MODE: 'bogus' }, /KUMA_MODE: 'bogus' is not a mode; use standalone, zone or global/],
    [
      ['--mode', 'zone', '--global-address', 'http://global:5685'],
      {},
      /KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS \(--global-address\): 'http:\/\/global:5685' is not grpcs:\/\/<host>:<port>/,
    ],
    [
      ['--mode', 'zone', '--global-address', 'grpcs://global:5685'],
      { KUMA_MULTIZONE_ZONE_NAME: 'Zone_1' },
      /KUMA_MULTIZONE_ZONE_NAME: 'Zone_1' is not a zone name/,
    ],
    [['--mode', 'global'], { KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS: 'grpcs://g:5685' }, /a global has no global address/],
  ];
  for (const [args, env, message] of cases) {
    const result = await run(KUMA_MINI_CP, ['run', ...args], { env });
    t.equal(result.code, 1, `${JSON.stringify(args)} ${JSON.stringify(env)}: exit 1`);
    t.match(result.stderr, message);
  }
});
