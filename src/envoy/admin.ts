// The one client for Envoy's admin API, over either of the addresses Kuma's
// bootstrap gives it: TCP (`socket_address`) or a Unix socket (`pipe`, Kuma's
// default since 2.14: <workdir>/kuma-envoy-admin.sock). Over a pipe requests
// carry `Host: localhost`, as Kuma's kuma-dp sends them. node:http rather
// than undici: these are a handful of local requests, and the agent's
// start-up stays lean.
import { request, type RequestOptions } from 'node:http';
import { formatAdmin, type AdminAddress } from './admin-address.js';
import { NO_SERVER_NAME_GUESS } from '../util/loopback.js';

export { DEFAULT_ADMIN, formatAdmin, type AdminAddress } from './admin-address.js';

export interface AdminResponse {
  status: number;
  body: string;
}

/** One request to Envoy's admin API; the supervisor takes this, so tests can answer for Envoy in-process. */
export type AdminClient = (method: 'GET' | 'POST', path: string, timeoutMs?: number) => Promise<AdminResponse>;

export function adminClient(admin: AdminAddress): AdminClient {
  return (method, path, timeoutMs) => adminRequest(admin, method, path, timeoutMs);
}

/** node:http options that reach the admin API at `admin`. */
export function adminRequestOptions(admin: AdminAddress): RequestOptions {
  return admin.kind === 'pipe'
    ? { socketPath: admin.path, headers: { host: 'localhost' }, ...NO_SERVER_NAME_GUESS }
    : { host: admin.address, port: admin.port };
}

export function adminRequest(admin: AdminAddress, method: 'GET' | 'POST', path: string, timeoutMs = 2000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ ...adminRequestOptions(admin), method, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`Envoy admin ${method} ${path} at ${formatAdmin(admin)} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Envoy's server state from GET /ready (LIVE answers 200); undefined while the admin API does not answer. */
export async function envoyServerState(admin: AdminAddress | AdminClient, timeoutMs = 1000): Promise<{ live: boolean; state: string } | undefined> {
  const request = typeof admin === 'function' ? admin : adminClient(admin);
  try {
    const res = await request('GET', '/ready', timeoutMs);
    return { live: res.status === 200, state: res.body.trim() || String(res.status) };
  } catch {
    return undefined;
  }
}
