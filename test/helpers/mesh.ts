// A small mesh on loopback — kuma-mini-cp, demo apps and `kuma-dp run` with
// an Envoy — shared by the end-to-end tests and the demo (scripts/demo.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isExecutableFile } from '../../src/envoy/binary.js';
import { adminRequest, type AdminAddress, type AdminResponse } from '../../src/envoy/admin.js';
import { adminSocketName } from '../../src/util/socket-name.js';
import { KUMA_DP, KUMA_MINI_CP, ROOT, start, type Running } from './cli.js';
import { freePort } from './ports.js';

export const ENVOY_STANDIN = join(ROOT, 'test/envoy-standin/envoy');

export interface EnvoyChoice {
  binary: string;
  /** false: the project's Envoy stand-in, a test double. */
  real: boolean;
  why: string;
}

/**
 * The Envoys each end-to-end test runs against: the stand-in (a test double)
 * always, and a real Envoy when one is installed (skipped, with the reason, otherwise).
 */
export function e2eEnvoys(env: NodeJS.ProcessEnv = process.env): Array<{ label: string; envoy: EnvoyChoice; skip: string | false }> {
  const found = chooseEnvoy(env);
  return [
    { label: 'Envoy stand-in (test double)', envoy: { binary: ENVOY_STANDIN, real: false, why: 'stand-in' }, skip: false },
    { label: 'real Envoy', envoy: found, skip: found.real ? false : `${found.why}; set ENVOY_BINARY to run the end-to-end tests against a real Envoy` },
  ];
}

/** A real Envoy when ENVOY_BINARY is set or `envoy` is on PATH; otherwise the stand-in. */
export function chooseEnvoy(env: NodeJS.ProcessEnv = process.env): EnvoyChoice {
  if (env.ENVOY_BINARY) {
    if (!isExecutableFile(env.ENVOY_BINARY)) throw new Error(`ENVOY_BINARY=${env.ENVOY_BINARY} is not an executable file`);
    return { binary: env.ENVOY_BINARY, real: true, why: 'ENVOY_BINARY' };
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'envoy');
    if (isExecutableFile(candidate) && !candidate.startsWith(join(ROOT, 'test'))) return { binary: candidate, real: true, why: `envoy on PATH (${candidate})` };
  }
  return { binary: ENVOY_STANDIN, real: false, why: 'no Envoy installed (ENVOY_BINARY unset, no envoy on PATH)' };
}

export interface MiniCp {
  proc: Running;
  /** '' on a global, which serves no proxies. */
  dpServer: string;
  apiHttp: string;
  /** The ready line: mode, addresses, ports. */
  ready: Record<string, unknown>;
  caCertPath: string;
  workDir: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }>;
  token(name: string, mesh?: string): Promise<string>;
  stop(): Promise<void>;
}

/** A call to a Kuma-shaped HTTP API; a string body is sent as given (for malformed-JSON cases). */
export async function apiCall(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const send = (): Promise<Response> =>
    fetch(base + path, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  // An idempotent call is sent once more when its kept-alive connection was closed under it (the
  // server's keep-alive timeout racing the client's reuse on a loaded host), as HTTP clients do.
  const res = await send().catch((err: unknown) => {
    if (method === 'POST' || !isClosedConnection(err)) throw err;
    return send();
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

function isClosedConnection(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  return cause?.code === 'UND_ERR_SOCKET' || cause?.code === 'ECONNRESET';
}

/** kuma-mini-cp's port flags, each 0 so that the kernel picks a free port (the ready log line says which). */
export const PORT_ZERO_FLAGS = [
  '--dp-server-port',
  '0',
  '--api-server-http-port',
  '0',
  '--api-server-https-port',
  '0',
  '--diagnostics-port',
  '0',
  '--mads-port',
  '0',
  '--kds-port',
  '0',
];

/**
 * bin/kuma-mini-cp on free ports. With `workDir` the caller owns that
 * directory (a restart on it keeps the CA and keys) and stop() leaves it.
 */
export async function startMiniCp(args: string[] = [], options: { workDir?: string; env?: NodeJS.ProcessEnv; freePortFlags?: boolean } = {}): Promise<MiniCp> {
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'kuma-mini-cp-'));
  const proc = start(
    KUMA_MINI_CP,
    [
      'run',
      '--bind-address',
      '127.0.0.1',
      '--work-dir',
      workDir,
      // Port 0 everywhere unless the caller sets ports (flags would win over its KUMA_* variables).
      ...(options.freePortFlags === false ? [] : PORT_ZERO_FLAGS),
      '--push-debounce',
      '20ms',
      ...args,
    ],
    { env: options.env },
  );
  const ready = await proc.waitForLog((l) => l.msg === 'kuma-mini-cp ready', 'kuma-mini-cp ready', 30_000);
  const addresses = ready.addresses as Record<string, string>;
  const api = (method: string, path: string, body?: unknown) => apiCall(addresses.apiHttp!, method, path, body);
  return {
    proc,
    dpServer: addresses.dpServer ?? '',
    apiHttp: addresses.apiHttp!,
    ready,
    caCertPath: String(ready.caCertPath),
    workDir,
    api,
    async token(name, mesh = 'default') {
      const res = await api('POST', '/tokens/dataplane', { name, mesh });
      if (res.status !== 200) throw new Error(`token for ${name}: HTTP ${res.status} ${res.text}`);
      return res.text.trim();
    },
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
      if (!options.workDir) rmSync(workDir, { recursive: true, force: true });
    },
  };
}

export interface App {
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** An HTTP app that answers every request with `hello from <name>`, standing for a service behind a proxy. */
export async function startHelloApp(name: string): Promise<App> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface DataplaneSpec {
  name: string;
  service: string;
  /** The app this proxy fronts. */
  appPort: number;
  protocol?: 'http' | 'tcp';
  outbounds?: Array<{ port: number; service: string }>;
  /** Called with the agent's --work-dir (already created) before kuma-dp starts, to leave files an earlier run would have left. */
  prepareWorkDir?: (dir: string) => void;
  /** Declares networking.transparentProxying (no iptables here: it only makes the control plane send a /dns map). */
  transparentProxying?: boolean;
}

export interface Proxy {
  proc: Running;
  /** The Dataplane's networking.admin.port (Envoy's admin is there only if the mini-CP's admin Unix socket is off). */
  adminPort: number;
  /** Envoy's admin API: the mini-CP, as Kuma >= 2.14, puts it on <work dir>/kuma-envoy-admin.sock. */
  admin: AdminAddress;
  inboundPort: number;
  workDir: string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** `kuma-dp run` for one Dataplane against the mini-CP, with its own admin port and work dir. */
export async function startProxy(cp: MiniCp, envoy: EnvoyChoice, spec: DataplaneSpec, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Proxy> {
  const adminPort = await freePort();
  const inboundPort = await freePort();
  const workDir = mkdtempSync(join(tmpdir(), `kuma-dp-${spec.name}-`));
  const protocol = spec.protocol ?? 'http';
  const outbound = (spec.outbounds ?? []).map((o) => `    - port: ${o.port}\n      tags:\n        kuma.io/service: ${o.service}\n`).join('');
  const dataplane =
    `type: Dataplane\nmesh: default\nname: ${spec.name}\nnetworking:\n  address: 127.0.0.1\n  admin:\n    port: ${adminPort}\n` +
    `  inbound:\n    - port: ${inboundPort}\n      servicePort: ${spec.appPort}\n      tags:\n        kuma.io/service: ${spec.service}\n        kuma.io/protocol: ${protocol}\n` +
    (outbound ? `  outbound:\n${outbound}` : '') +
    (spec.transparentProxying ? '  transparentProxying:\n    redirectPortInbound: 15006\n    redirectPortOutbound: 15001\n' : '');
  const dpFile = join(workDir, 'dataplane.yaml');
  writeFileSync(dpFile, dataplane);
  const tokenFile = join(workDir, 'token');
  writeFileSync(tokenFile, await cp.token(spec.name), { mode: 0o600 });
  if (spec.prepareWorkDir) {
    mkdirSync(join(workDir, 'run'), { recursive: true });
    spec.prepareWorkDir(join(workDir, 'run'));
  }
  const proc = start(
    KUMA_DP,
    [
      'run',
      '--cp-address',
      cp.dpServer,
      '--ca-cert-file',
      cp.caCertPath,
      '--dataplane-file',
      dpFile,
      '--dataplane-token-file',
      tokenFile,
      '--binary-path',
      envoy.binary,
      '--work-dir',
      join(workDir, 'run'),
      '--drain-time',
      '1s',
      ...extraArgs,
    ],
    { env: { KUMA_READINESS_PORT: '0', ...env } },
  );
  return {
    proc,
    adminPort,
    admin: { kind: 'pipe', path: adminSocketName(join(workDir, 'run')) },
    inboundPort,
    workDir,
    async stop(signal = 'SIGTERM') {
      proc.kill(signal);
      const { code } = await proc.exited;
      rmSync(workDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** GET on a proxy's Envoy admin API, wherever it listens. */
export function adminGet(proxy: Proxy, path: string, timeoutMs = 2000): Promise<AdminResponse> {
  return adminRequest(proxy.admin, 'GET', path, timeoutMs);
}

/** GET through a proxy's outbound (or any URL); resolves with the status and body, or throws. */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

export function envoyVersionLine(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
}
