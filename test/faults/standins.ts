// Live proxies for fault injection: Envoy stand-ins (a test double, real
// processes) bootstrapped by a mini-CP, and how the mini-CP sees them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml, stringifyYaml } from '../../src/util/yaml.js';
import { start, type Running } from '../helpers/cli.js';
import type { MiniCp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { STANDIN } from '../envoy-standin/harness.js';
import { validDataplane } from './inputs.js';

const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';

export interface Proxy {
  name: string;
  proc: Running;
}

/** Registers `count` Dataplanes, fetches each one's bootstrap and starts a stand-in with it (all at once). */
export async function startProxies(cp: MiniCp, count: number, dir: string): Promise<Proxy[]> {
  const ports = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  return Promise.all(
    ports.map(async (port, i) => {
      const name = `proxy-${i}`;
      const put = await cp.api('PUT', `/meshes/default/dataplanes/${name}`, {
        ...validDataplane(name),
        networking: { address: '127.0.0.1', inbound: [{ port, servicePort: 8080, tags: { 'kuma.io/service': `svc-${i % 5}` } }] },
      });
      if (put.status >= 300) throw new Error(`PUT ${name}: ${put.status} ${put.text}`);
      const res = await fetch(`${cp.dpServer}/bootstrap`, { method: 'POST', body: JSON.stringify({ mesh: 'default', name }) });
      if (res.status !== 200) throw new Error(`bootstrap ${name}: ${res.status} ${await res.text()}`);
      const bootstrap = parseYaml(await res.text()) as { admin: { address: { socket_address: { port_value: number } } } };
      bootstrap.admin.address.socket_address.port_value = 0; // many stand-ins on one host: each its own admin port
      const config = join(dir, `${name}.yaml`);
      writeFileSync(config, stringifyYaml(bootstrap));
      const proc = start(STANDIN, ['-c', config, '--admin-address-path', join(dir, `${name}.admin`), '--disable-hot-restart', '-l', 'warn']);
      return { name, proc };
    }),
  );
}

/** The proxies whose stream is connected with their listeners ACKed, as the control plane reports them. */
export async function configured(cp: MiniCp, proxies: readonly Proxy[]): Promise<string[]> {
  const done: string[] = [];
  for (const { name } of proxies) {
    const status = await cp.api('GET', `/meshes/default/dataplanes/${name}/xds`);
    const body = status.json as { connected?: boolean; streams?: Array<{ types: Record<string, { acked?: unknown }> }> };
    if (body.connected && (body.streams ?? []).some((s) => s.types[LDS]?.acked)) done.push(name);
  }
  return done;
}

/** Stops every stand-in (SIGKILL) and waits for them to be gone. */
export async function stopProxies(proxies: readonly Proxy[]): Promise<void> {
  for (const p of proxies) p.proc.kill('SIGKILL');
  await Promise.all(proxies.map((p) => p.proc.exited));
}
