// Dataplanes, requests and in-process control planes shared by the mini-CP tests.
import { setLogSink } from '../../src/log/logger.js';
import { startMiniCp, type MiniCp, type MiniCpOptions } from '../../src/minicp/index.js';
import { loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';
import { typeNameOf, type AnyMessage } from '../../src/xds/ads-proto.js';
import { apiCall, PORT_ZERO_FLAGS } from '../helpers/mesh.js';

export const FREE_PORTS = { dpServer: 0, apiHttp: 0, apiHttps: 0, diagnostics: 0, mads: 0, kds: 0 };
export const FREE_PORT_FLAGS = [...PORT_ZERO_FLAGS, '--bind-address', '127.0.0.1'];

export function dataplane(
  name: string,
  options: { address?: string; service: string; port?: number; protocol?: string; outbound?: Array<{ port: number; service: string }>; ready?: boolean },
) {
  const tags: Record<string, string> = { 'kuma.io/service': options.service };
  if (options.protocol) tags['kuma.io/protocol'] = options.protocol;
  return {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: {
      address: options.address ?? '127.0.0.1',
      inbound: [{ port: options.port ?? 10001, servicePort: 8080, tags, ...(options.ready === false ? { state: 'NotReady' } : {}) }],
      ...(options.outbound ? { outbound: options.outbound.map((o) => ({ port: o.port, tags: { 'kuma.io/service': o.service } })) } : {}),
    },
  };
}

/** Starts a mini-CP in this process, with its log lines collected instead of printed. */
export async function inProcessCp(options: MiniCpOptions = {}): Promise<{ cp: MiniCp; logs: Array<Record<string, unknown>> }> {
  const logs: Array<Record<string, unknown>> = [];
  setLogSink((line) => logs.push(JSON.parse(line) as Record<string, unknown>));
  const cp = await startMiniCp({ bindAddress: '127.0.0.1', ports: FREE_PORTS, pushDebounceMs: 10, ...options });
  return { cp, logs };
}

export function api(cp: MiniCp, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  return apiCall(cp.addresses.apiHttp, method, path, body);
}

/** Decodes every resource of a response with the strict Envoy types and checks each one validates. */
export async function decodeAll(resources: AnyMessage[]): Promise<Array<Record<string, unknown>>> {
  const types = await loadEnvoyTypes();
  return resources.map((any) => {
    const typeName = typeNameOf(any.type_url);
    const json = types.decode(any.value, typeName);
    const issues = types.validate(json, typeName);
    if (issues.length > 0) throw new Error(`${typeName} ${String(json.name ?? json.cluster_name)} does not validate: ${JSON.stringify(issues)}`);
    return json;
  });
}

export const hostPort = (url: string): string => new URL(url).host;
