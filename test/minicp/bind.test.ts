// Where the mini-CP listens: loopback unless told otherwise; the API alone can
// be put on another address with Kuma's KUMA_API_SERVER_HTTP_INTERFACE.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KUMA_MINI_CP, start } from '../helpers/cli.js';
import { startMiniCp } from '../helpers/mesh.js';

const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

/** Whether a TCP connection to host:port is accepted. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

const portOf = (url: string): number => Number(new URL(url).port);

const noExternal = external ? false : 'this host has no non-loopback IPv4 address to call from';

t.test('by default every listener is on 127.0.0.1 only', { skip: noExternal }, async (t) => {
  if (!external) return;
  // No --bind-address at all (the test helpers always give one).
  const dir = mkdtempSync(join(tmpdir(), 'mini-cp-bind-'));
  const ports = ['dp-server', 'api-server-http', 'api-server-https', 'diagnostics', 'mads'].flatMap((p) => [`--${p}-port`, '0']);
  const proc = start(KUMA_MINI_CP, ['run', '--work-dir', dir, '--auth', 'none', ...ports]);
  t.teardown(async () => {
    proc.kill('SIGKILL');
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const ready = await proc.waitForLog((l) => l.msg === 'kuma-mini-cp ready', 'kuma-mini-cp ready', 30_000);
  const addresses = ready.addresses as Record<string, string>;
  t.equal(new URL(addresses.apiHttp!).hostname, '127.0.0.1');
  t.ok(await reachable('127.0.0.1', portOf(addresses.apiHttp!)), 'the API answers on loopback');
  for (const [name, url] of Object.entries(addresses).filter(([n, u]) => u && n !== 'gui')) {
    t.notOk(await reachable(external, portOf(url)), `${name} is not reachable on ${external}`);
  }
});

t.test('KUMA_API_SERVER_HTTP_INTERFACE moves the HTTP API alone', { skip: noExternal }, async (t) => {
  if (!external) return;
  const cp = await startMiniCp(['--auth', 'none'], { env: { KUMA_API_SERVER_HTTP_INTERFACE: external } });
  t.teardown(() => cp.stop());
  t.equal(new URL(cp.apiHttp).hostname, external, 'the logged API address is the interface');
  t.ok(await reachable(external, portOf(cp.apiHttp)), `the API answers on ${external}`);
  t.notOk(await reachable(external, portOf(cp.dpServer)), 'the DP server stays on loopback');
});
