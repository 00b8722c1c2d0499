// envoy.config.core.v3.Address (canonical proto3 JSON) → where to listen or connect.
import type { Address } from './envoy-config.js';
import { statSafe } from './stats.js';

export type Where = { kind: 'tcp'; host: string; port: number } | { kind: 'pipe'; path: string };

export function whereOf(address: Address | undefined): Where | undefined {
  if (!address) return undefined;
  const sock = address.socket_address;
  if (sock) return { kind: 'tcp', host: String(sock.address ?? ''), port: Number(sock.port_value ?? 0) };
  if (address.pipe) return { kind: 'pipe', path: String(address.pipe.path) };
  return undefined;
}

/** "127.0.0.1:8080", "[::1]:8080" or the pipe path, as Envoy prints an address. */
export function formatWhere(w: Where): string {
  if (w.kind === 'pipe') return w.path;
  return w.host.includes(':') ? `[${w.host}]:${w.port}` : `${w.host}:${w.port}`;
}

/** Envoy's stat-name form of an address: ':' becomes '_' ("0.0.0.0_8080"). */
export function statNameOf(w: Where): string {
  return statSafe(formatWhere(w));
}

export function addressJson(w: Where): Address {
  return w.kind === 'pipe' ? { pipe: { path: w.path } } : { socket_address: { address: w.host, port_value: w.port } };
}
