// Runs `kuma-dp run` as a process against an in-test control plane, with the
// Envoy stand-in (real admin API: /ready states, /stats, /drain_listeners)
// or a scripted Envoy, each on its own ports.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { request } from 'node:http';
import type { Test } from 'tap';
import type { AdminAddress } from '../../src/envoy/admin.js';
import { adminSocketName } from '../../src/util/socket-name.js';
import { parseYaml, stringifyYaml } from '../../src/util/yaml.js';
import { DATAPLANE_YAML, scratch, type Scratch } from '../cli/agent-harness.js';

import { KUMA_DP, ROOT, start, type Running } from '../helpers/cli.js';
import { bootstrapYaml, jsonBootstrapResponse, startFakeCp, type FakeCp, type ScriptedResponse } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { STANDIN } from '../envoy-standin/harness.js';

export { STANDIN };

/** The two admin addresses a Kuma control plane gives: a Unix socket in the work dir (Kuma >= 2.14) or TCP. */
export type AdminShape = 'pipe' | 'tcp';
export const ADMIN_SHAPES: readonly AdminShape[] = ['pipe', 'tcp'];

export interface Setup {
  s: Scratch;
  admin: AdminShape;
  /** The agent's --work-dir (given only with pipe admin, where the socket lives in it). */
  workDir: string;
  /** Envoy's admin: its socket path with pipe admin, else 127.0.0.1:<s.adminPort>. */
  adminAddress: AdminAddress;
  cp: FakeCp;
  dpFile: string;
  vars: string[];
  upstream: string[];
  inboundPort: number;
  servicePort: number;
  readinessPort: number;
}

/** A TCP echo backend for the Dataplane's inbound; returns its port. */
export async function echoBackend(t: Test): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

export async function setup(t: Test, opts: { admin?: AdminShape } = {}): Promise<Setup> {
  const s = await scratch();
  // KUMA_TEST_ADMIN_SHAPE=pipe runs every lifecycle test that does not choose with Kuma >= 2.14's socket admin.
  const admin = opts.admin ?? (process.env.KUMA_TEST_ADMIN_SHAPE === 'pipe' ? 'pipe' : 'tcp');
  const workDir = join(s.dir, 'work');
  const cp = await startFakeCp();
  t.teardown(async () => {
    await cp.close();
    s.cleanup();
  });
  const servicePort = await echoBackend(t);
  const [inboundPort, outboundPort, readinessPort] = [await freePort(), await freePort(), await freePort()];
  const dpFile = s.file('dp.yaml', DATAPLANE_YAML);
  return {
    s,
    admin,
    workDir,
    adminAddress: admin === 'pipe' ? { kind: 'pipe', path: adminSocketName(workDir) } : { kind: 'tcp', address: '127.0.0.1', port: s.adminPort },
    cp,
    dpFile,
    vars: ['-v', `inboundPort=${inboundPort}`, '-v', `servicePort=${servicePort}`, '-v', `outboundPort=${outboundPort}`],
    // Where a bootstrap without ADS (static mode) sends the outbound's traffic.
    upstream: ['--outbound-upstream', `backend=127.0.0.2:${outboundPort}`],
    inboundPort,
    servicePort,
    readinessPort,
  };
}

/** Envoy's admin address as a Kuma control plane sends it for this set-up (a pipe with mode 0600, or TCP). */
export function adminBlock(x: Setup): Record<string, unknown> {
  const a = x.adminAddress;
  return { address: a.kind === 'pipe' ? { pipe: { path: a.path, mode: 0o600 } } : { socket_address: { address: a.address, port_value: a.port } } };
}

/** The bootstrap YAML with this set-up's admin address. */
export function withAdmin(x: Setup, yaml: string): string {
  return stringifyYaml({ ...(parseYaml(yaml) as Record<string, unknown>), admin: adminBlock(x) });
}

/** A bootstrap without listeners over xDS: the agent renders the Dataplane's listeners, and the stand-in goes LIVE at once. */
export function staticBootstrap(x: Setup): ScriptedResponse {
  return jsonBootstrapResponse(withAdmin(x, bootstrapYaml(x.s.adminPort)));
}

/** A bootstrap whose listeners and clusters come from an ADS server (the stand-in stays NOT LIVE until it answers). */
export function adsBootstrapResponse(x: Setup, adsPort: number): ScriptedResponse {
  const yaml = stringifyYaml({
    node: { id: 'default.web-1', cluster: 'web' },
    admin: adminBlock(x),
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' } }] },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'ads_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          http2_protocol_options: {},
          load_assignment: {
            cluster_name: 'ads_cluster',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: adsPort } } } }] }],
          },
        },
      ],
    },
  });
  return jsonBootstrapResponse(yaml);
}

/** Starts `kuma-dp run` (after `wrapper`, e.g. unshare) with the stand-in (or another Envoy), the Dataplane of `x`, and its own readiness port. */
export function startAgent(t: Test, x: Setup, args: string[], env: NodeJS.ProcessEnv = {}, envoy = STANDIN, wrapper: string[] = []): Running {
  const [bin = KUMA_DP, ...before] = wrapper.length ? [...wrapper, KUMA_DP] : [KUMA_DP];
  const agent = start(
    bin,
    [
      ...before,
      'run',
      '--binary-path',
      envoy,
      '--cp-address',
      x.cp.url,
      '-d',
      x.dpFile,
      ...x.vars,
      ...x.upstream,
      '--skip-config-validation',
      // The control plane puts the admin socket in the work dir the agent sends: the test knows it in advance.
      ...(x.admin === 'pipe' ? ['--work-dir', x.workDir] : []),
      ...args,
    ],
    {
      env: {
        KUMA_READINESS_PORT: String(x.readinessPort),
        KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms',
        ENVOY_STANDIN_VERSION: '1.39.0',
        ...env,
      },
    },
  );
  t.teardown(async () => {
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.kill('SIGKILL');
    await agent.exited;
    if (!t.passing()) t.comment(`kuma-dp's stderr:\n${agent.stderr().slice(-6000)}`);
  });
  return agent;
}

export function http(port: number, method: string, path: string, headers: Record<string, string> = {}) {
  return hostHttp('127.0.0.1', port, method, path, headers);
}

export function hostHttp(
  host: string,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The agent's readiness answer as "<status> <body>". */
export async function readiness(x: Setup): Promise<string> {
  const res = await http(x.readinessPort, 'GET', '/ready');
  return `${res.status} ${res.body}`;
}

export async function waitForReadiness(x: Setup, expected: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(`readiness ${expected}`, async () => (await readiness(x).catch(() => '')) === expected, { timeoutMs });
}

/**
 * A systemd notify socket in `dir`, served by a python3 receiver (Node has no Unix datagram sockets);
 * `messages()` lists what arrived, in order, without the BARRIER=1 that systemd-notify adds.
 */
export async function startNotifyReceiver(t: Test, dir: string): Promise<{ socket: string; messages: () => string[] }> {
  const socket = join(dir, 'notify.sock');
  const out = join(dir, 'notify.jsonl');
  const receiver = spawn('python3', [join(ROOT, 'test/lifecycle/fixtures/notify-receiver.py'), socket, out], { stdio: 'ignore' });
  t.teardown(() => receiver.kill('SIGKILL'));
  const messages = (): string[] =>
    existsSync(out)
      ? readFileSync(out, 'utf8')
          .split('\n')
          .filter(Boolean)
          .flatMap((l) => {
            const m = (JSON.parse(l) as { message?: string }).message;
            return m !== undefined && m !== 'BARRIER=1' ? [m] : [];
          })
      : [];
  await waitFor('receiver listening', () => existsSync(out));
  return { socket, messages };
}
