// Test harness for the stand-in: runs the executable in a temp dir, finds its
// admin port via --admin-address-path, and provides backends to test it
// against (the scripted ADS server is the fake control plane's, in
// test/helpers/fake-cp.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringifyYaml } from '../../src/util/yaml.js';
import { start, type Running } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

export const STANDIN = fileURLToPath(new URL('../../../test/envoy-standin/envoy', import.meta.url));

export interface Standin {
  proc: Running;
  dir: string;
  admin: string;
  stop(): Promise<void>;
}

export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'envoy-standin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts the stand-in with a bootstrap (written as YAML) and waits for its admin address. */
export async function startStandin(t: { teardown(fn: () => void | Promise<void>): void }, bootstrap: unknown, extraArgs: string[] = []): Promise<Standin> {
  const dir = tempDir(t);
  const config = join(dir, 'bootstrap.yaml');
  writeFileSync(config, stringifyYaml(bootstrap));
  const adminFile = join(dir, 'admin.txt');
  const proc = start(STANDIN, ['-c', config, '--admin-address-path', adminFile, '--disable-hot-restart', ...extraArgs]);
  const stop = async (): Promise<void> => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.kill('SIGKILL');
    await proc.exited;
  };
  t.teardown(stop);
  const address = await waitFor(`admin address file\n${proc.stderr()}`, () => {
    try {
      return readFileSync(adminFile, 'utf8') || undefined;
    } catch {
      return undefined;
    }
  });
  return { proc, dir, admin: `http://${address}`, stop };
}

export async function adminGet(s: Standin, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const res = await fetch(s.admin + path, { method });
  return { status: res.status, body: await res.text() };
}

/** /server_info, the fields the tests read. */
export interface ServerInfo {
  state: string;
  version: string;
  command_line_options: Record<string, unknown>;
  node: { id?: string };
}

export async function serverInfo(s: Standin): Promise<ServerInfo> {
  return JSON.parse((await adminGet(s, '/server_info')).body) as ServerInfo;
}

/** One of /config_dump's `configs`; which of the lists it has depends on its @type. */
export interface ConfigDumpEntry {
  '@type': string;
  version_info?: string;
  static_clusters?: Array<{ cluster: { '@type': string; name: string } }>;
  dynamic_active_clusters?: Array<{ cluster: { name: string } }>;
  static_listeners?: unknown[];
  dynamic_listeners?: Array<{ name: string }>;
  static_endpoint_configs?: unknown[];
  dynamic_endpoint_configs?: Array<{ endpoint_config: { cluster_name: string } }>;
}

/** /config_dump?include_eds: its `configs`. */
export async function configDump(s: Standin): Promise<ConfigDumpEntry[]> {
  return (JSON.parse((await adminGet(s, '/config_dump?include_eds')).body) as { configs: ConfigDumpEntry[] }).configs;
}

export async function stat(s: Standin, name: string): Promise<number | undefined> {
  const { body } = await adminGet(s, `/stats?format=json&filter=${encodeURIComponent(`^${name.replace(/\./g, '\\.')}$`)}`);
  const found = (JSON.parse(body) as { stats: Array<{ name: string; value: number }> }).stats.find((x) => x.name === name);
  return found?.value;
}

export async function listenerPort(s: Standin, name: string): Promise<number> {
  return waitFor(`listener ${name}`, async () => {
    const { body } = await adminGet(s, '/listeners?format=json');
    const l = (
      JSON.parse(body) as { listener_statuses: Array<{ name: string; local_address?: { socket_address: { port_value: number } } }> }
    ).listener_statuses.find((x) => x.name === name);
    return l?.local_address?.socket_address.port_value;
  });
}

async function listen(
  t: { teardown(fn: () => Promise<void> | void): void },
  server: Server | ReturnType<typeof createHttpServer>,
  host = '127.0.0.1',
): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** A TCP backend that answers each line with "<name>:<line>". */
export async function tcpBackend(t: { teardown(fn: () => Promise<void> | void): void }, name: string): Promise<number> {
  const server = createServer((socket) => {
    socket.on('data', (d) => socket.write(`${name}:${d.toString()}`));
    socket.on('error', () => socket.destroy());
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  return listen(t, server);
}

/** An HTTP backend that answers "<name> <method> <path>" and echoes a few request headers back. */
export async function httpBackend(t: { teardown(fn: () => Promise<void> | void): void }, name: string): Promise<number> {
  const server = createHttpServer((req, res) => {
    req.resume();
    res.setHeader('x-backend', name);
    res.setHeader('x-seen-request-id', String(req.headers['x-request-id'] ?? ''));
    res.setHeader('x-seen-headers', JSON.stringify(req.headers));
    res.end(`${name} ${req.method} ${req.url}`);
  });
  server.keepAliveTimeout = 500;
  t.teardown(() => server.closeAllConnections());
  return listen(t, server);
}

/** One line over a TCP connection; resolves with the reply. */
export function tcpExchange(port: number, line: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    let data = '';
    socket.on('data', (d) => {
      data += d.toString();
      socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(line);
  });
}

export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  agent: Agent | false = false,
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

export const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export function tcpListener(name: string, cluster: string, port = 0, direction?: string): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    ...(direction ? { traffic_direction: direction } : {}),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: name, cluster } }] }],
  };
}

export function httpListener(name: string, routes: unknown[], port = 0): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              route_config: { name, virtual_hosts: [{ name, domains: ['*'], routes }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

export function staticCluster(name: string, endpoints: Array<[string, number]>, type = 'STATIC'): Record<string, unknown> {
  return {
    name,
    type,
    connect_timeout: '1s',
    ...(type === 'STRICT_DNS' ? { dns_lookup_family: 'V4_ONLY' } : {}),
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: endpoints.map(([address, port]) => ({ endpoint: { address: { socket_address: { address, port_value: port } } } })) }],
    },
  };
}

export function edsCluster(name: string): Record<string, unknown> {
  return { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
}

export function assignment(name: string, endpoints: Array<[string, number]>): Record<string, unknown> {
  return staticCluster(name, endpoints).load_assignment as Record<string, unknown>;
}

/** The same document with every field name in lowerCamelCase (values untouched). */
export function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()), camelKeys(x)]));
}

export const adminBlock = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };

export function adsBootstrap(adsPort: number, apiType: 'GRPC' | 'DELTA_GRPC', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    node: { id: 'standin-test-node', cluster: 'test', metadata: { 'dataplane.token': 'abc', version: { envoy: { version: '1.34.1' } } } },
    admin: adminBlock,
    dynamic_resources: {
      ads_config: {
        api_type: apiType,
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' }, initial_metadata: [{ key: 'x-test-token', value: 'secret-1' }] }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [{ ...staticCluster('ads_cluster', [['127.0.0.1', adsPort]]), http2_protocol_options: {} }],
    },
    ...extra,
  };
}
