// Fetching expositions: Envoy's stats through the admin API, applications'
// endpoints over HTTP. Each returns families, or throws with why.
import { request } from 'node:http';
import { adminRequest } from '../envoy/admin.js';
import type { AdminAddress } from '../envoy/admin.js';
import { isOpenMetricsContentType, parseExposition, type Family, type Format } from '../exposition/exposition.js';

export async function scrapeEnvoy(admin: AdminAddress, path: string, timeoutMs: number): Promise<Family[]> {
  const res = await adminRequest(admin, 'GET', path, timeoutMs);
  if (res.status !== 200) throw new Error(`Envoy's admin answered ${path} with ${res.status}`);
  return parseExposition(res.body);
}

const ACCEPT: Record<Format, string> = {
  text: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
  openmetrics: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
};

/** GETs an application's metrics in the format the scraper asked for (either answer is parsed as what it says it is). */
export function scrapeHttp(url: string, timeoutMs: number, format: Format = 'text', headers: Record<string, string> = {}): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: ACCEPT[format], ...headers }, timeout: timeoutMs, agent: false }, (res) => {
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
