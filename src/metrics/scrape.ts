// Fetching expositions: Envoy's stats through the admin API, applications'
// endpoints over HTTP. Each returns families, or throws with why.
import { request } from 'node:http';
import { adminRequest } from '../envoy/admin.js';
import type { AdminAddress } from '../render/envoy-config.js';
import { isOpenMetricsContentType, parseExposition, type Family } from './exposition.js';

export async function scrapeEnvoy(admin: AdminAddress, path: string, timeoutMs: number): Promise<Family[]> {
  const res = await adminRequest(admin, 'GET', path, timeoutMs);
  if (res.status !== 200) throw new Error(`Envoy's admin answered ${path} with ${res.status}`);
  return parseExposition(res.body);
}

/** GETs an application's metrics, asking for the text format (an OpenMetrics answer is parsed as such). */
export function scrapeHttp(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1', ...headers }, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`));
        resolve(parseExposition(Buffer.concat(chunks).toString('utf8'), isOpenMetricsContentType(res.headers['content-type'])));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** host:port for a URL, IPv6 addresses in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
