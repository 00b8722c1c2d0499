// Fetching expositions: Envoy's stats through the admin API, applications'
// endpoints over HTTP. Each returns families, or throws with why. Bodies are
// parsed as they arrive, never held as one large string.
import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import { adminRequestOptions, formatAdmin, type AdminAddress } from '../envoy/admin.js';
import { ExpositionParser, isOpenMetricsContentType, type Family, type Format } from '../exposition/exposition.js';

/** One GET whose 200 body is parsed chunk by chunk; `what` names the target in errors. */
function getExposition(target: string | URL, options: RequestOptions, what: string, timeoutMs: number): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`${what} answered ${res.statusCode}`));
      }
      const parser = new ExpositionParser(isOpenMetricsContentType(res.headers['content-type']));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.push(chunk));
      res.on('end', () => resolve(parser.end()));
      res.on('error', reject);
    };
    const req = target === '' ? request(options, onResponse) : request(target, options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${what} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export function scrapeEnvoy(admin: AdminAddress, path: string, timeoutMs: number): Promise<Family[]> {
  return getExposition(
    '',
    { ...adminRequestOptions(admin), method: 'GET', path, timeout: timeoutMs },
    `Envoy's admin (${formatAdmin(admin)}) ${path}`,
    timeoutMs,
  );
}

/** Envoy's answer as it came, in pieces (Buffers live outside V8's heap), for a caller that reads it line by line. */
export function fetchEnvoyPieces(admin: AdminAddress, path: string, timeoutMs: number): Promise<Buffer[]> {
  const what = `Envoy's admin (${formatAdmin(admin)}) ${path}`;
  return new Promise((resolve, reject) => {
    const req = request({ ...adminRequestOptions(admin), method: 'GET', path, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`${what} answered ${res.statusCode}`));
      }
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve(pieces));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${what} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const ACCEPT: Record<Format, string> = {
  text: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
  openmetrics: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
};

/** GETs an application's metrics in the format the scraper asked for (either answer is parsed as what it says it is). */
export function scrapeHttp(url: string, timeoutMs: number, format: Format = 'text', headers: Record<string, string> = {}): Promise<Family[]> {
  return getExposition(url, { headers: { accept: ACCEPT[format], ...headers }, timeout: timeoutMs, agent: false }, url, timeoutMs);
}

/** host:port for a URL, IPv6 addresses in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
