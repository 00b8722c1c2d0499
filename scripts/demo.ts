// The demo: kuma-mini-cp, two apps, and two `kuma-dp run` proxies on
// loopback. `web`'s proxy has an outbound to `backend`; a request to that
// outbound port crosses both Envoys and reaches the backend app.
//   npm run demo              run, show traffic through the mesh, stop
//   npm run demo -- --keep    keep everything running until Ctrl-C
//   npm run demo -- --multizone   a global, two zones with proxies each, and the GUI (scripts/demo-multizone.ts)
import { freePort } from '../test/helpers/ports.js';
import { waitFor } from '../test/helpers/wait.js';
import { formatAdmin } from '../src/envoy/admin-address.js';
import { adminGet, chooseEnvoy, envoyVersionLine, httpGet, startHelloApp, startMiniCp, startProxy, type Proxy } from '../test/helpers/mesh.js';

const keep = process.argv.includes('--keep');
const multizone = process.argv.includes('--multizone');
const say = (line: string) => process.stdout.write(`[demo] ${line}\n`);

const envoy = chooseEnvoy();
if (envoy.real) {
  say(`using Envoy: ${envoy.binary} (${envoyVersionLine(envoy.binary)})`);
} else {
  const banner = [
    '#'.repeat(78),
    "#  NO ENVOY INSTALLED: this demo runs the project's Envoy STAND-IN, a TEST DOUBLE.",
    "#  It honours Envoy's CLI, admin API, xDS and proxying contract, but it is NOT Envoy.",
    '#  Install Envoy (README, "Installing Envoy") or set ENVOY_BINARY=/path/to/envoy.',
    '#'.repeat(78),
  ];
  process.stdout.write(banner.join('\n') + '\n');
}

/** The part of the control plane's dataplane list the demo shows. */
interface DataplaneList {
  items?: Array<{ name: string }>;
}

const cleanups: Array<() => Promise<unknown>> = [];
/** Each process's output, shown only when the demo fails. */
const outputs: Array<[string, () => string]> = [];
const stopAll = async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
};

try {
  if (multizone) {
    const { multizoneDemo } = await import('./demo-multizone.js');
    await multizoneDemo({ envoy, keep, say, cleanups, outputs });
    await stopAll();
  } else {
    await standaloneDemo();
  }
} catch (err) {
  process.stderr.write(`[demo] FAILED: ${(err as Error).message}\n`);
  for (const [name, output] of outputs) process.stderr.write(`--- last output of ${name} ---\n${output().split('\n').slice(-15).join('\n')}\n`);
  await stopAll();
  process.exitCode = 1;
}

async function standaloneDemo(): Promise<void> {
  const cp = await startMiniCp();
  cleanups.push(() => cp.stop());
  outputs.push(['kuma-mini-cp', () => cp.proc.stderr()]);
  say(`kuma-mini-cp: DP server ${cp.dpServer}, API ${cp.apiHttp}, CA ${cp.caCertPath}`);

  const backendApp = await startHelloApp('backend');
  const webApp = await startHelloApp('web');
  cleanups.push(
    () => backendApp.close(),
    () => webApp.close(),
  );

  const outboundPort = await freePort();
  const proxies: Array<[string, Proxy]> = [];
  const backend = await startProxy(cp, envoy, { name: 'backend-1', service: 'backend', appPort: backendApp.port });
  cleanups.push(() => backend.stop());
  proxies.push(['backend-1', backend]);
  outputs.push(['kuma-dp backend-1', () => backend.proc.stderr() + backend.proc.stdout()]);
  const web = await startProxy(cp, envoy, { name: 'web-1', service: 'web', appPort: webApp.port, outbounds: [{ port: outboundPort, service: 'backend' }] });
  cleanups.push(() => web.stop());
  proxies.push(['web-1', web]);
  outputs.push(['kuma-dp web-1', () => web.proc.stderr() + web.proc.stdout()]);

  for (const [name, proxy] of proxies) {
    await waitFor(`${name}'s Envoy to be LIVE`, async () => (await adminGet(proxy, '/ready')).body.includes('LIVE'), {
      timeoutMs: 30_000,
    });
    say(`${name}: Envoy LIVE (admin ${formatAdmin(proxy.admin)}), inbound port ${proxy.inboundPort}`);
  }

  const url = `http://127.0.0.1:${outboundPort}/`;
  const reply = await waitFor(
    'a reply through the mesh',
    async () => {
      const res = await httpGet(url);
      return res.status === 200 && res.body.includes('hello from backend') ? res.body.trim() : undefined;
    },
    { timeoutMs: 30_000 },
  );
  say(`GET ${url} (web's outbound to backend) → "${reply}"`);
  const dataplanes = (await cp.api('GET', '/meshes/default/dataplanes')).json as DataplaneList | undefined;
  say(`the control plane knows: ${(dataplanes?.items ?? []).map((d) => d.name).join(', ')}`);

  if (keep) {
    say('running; try: curl ' + url + '   (Ctrl-C stops everything)');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  await stopAll();
  say('demo OK: traffic went web → Envoy (web-1) → Envoy (backend-1) → backend');
}
