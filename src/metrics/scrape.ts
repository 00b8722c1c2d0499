// Fetching expositions: Envoy's stats through the admin API, applications'
// endpoints over HTTP. Each returns families (or the answer in pieces), or
// throws with why. Bodies are never held as one large string.
import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { adminRequestOptions, formatAdmin, type AdminAddress } from '../envoy/admin.js';
import { ExpositionParser, isOpenMetricsContentType, type Family, type Format } from '../exposition/exposition.js';

/** An answer as it came, in pieces (Buffers live outside V8's heap), to be parsed when it is used. */
export interface HeldExposition {
  pieces: Buffer[];
  openMetrics: boolean;
}

/** One GET whose 200 body is kept in pieces; `what` names the target in errors. */
function getPieces(target: string | URL, options: RequestOptions, what: string, timeoutMs: number): Promise<HeldExposition> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`${what} answered ${res.statusCode}`));
      }
      const pieces: Buffer[] = [];
      res.on('data', (piece: Buffer) => pieces.push(piece));
      res.on('end', () => resolve({ pieces, openMetrics: isOpenMetricsContentType(res.headers['content-type']) }));
      res.on('error', reject);
    };
    const req = target === '' ? request(options, onResponse) : request(target, options, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${what} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The families of a held answer, parsed in one synchronous go: parsing while
 * other targets are still awaited kept thousands of objects alive across V8's
 * young-generation collections, which made V8 grow that generation (tens of MB
 * of RSS) under repeated scrapes.
 */
export function parseHeld(held: HeldExposition): Family[] {
  const parser = new ExpositionParser(held.openMetrics);
  const decoder = new StringDecoder('utf8');
  for (const piece of held.pieces) parser.push(decoder.write(piece));
  parser.push(decoder.end());
  return parser.end();
}

export async function scrapeEnvoy(admin: AdminAddress, path: string, timeoutMs: number): Promise<Family[]> {
  return parseHeld(await fetchEnvoyPieces(admin, path, timeoutMs));
}

/** Envoy's answer as it came, in pieces, for a caller that reads it line by line. */
export function fetchEnvoyPieces(admin: AdminAddress, path: string, timeoutMs: number): Promise<HeldExposition> {
  return getPieces('', { ...adminRequestOptions(admin), method: 'GET', path, timeout: timeoutMs }, `Envoy's admin (${formatAdmin(admin)}) ${path}`, timeoutMs);
}

const ACCEPT: Record<Format, string> = {
  text: 'text/plain;version=0.0.4;q=1,*/*;q=0.1',
  openmetrics: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
};

/** GETs an application's metrics in the format the scraper asked for (either answer is read as what it says it is), kept unparsed. */
export function fetchHttpPieces(url: string, timeoutMs: number, format: Format = 'text', headers: Record<string, string> = {}): Promise<HeldExposition> {
  return getPieces(url, { headers: { accept: ACCEPT[format], ...headers }, timeout: timeoutMs, agent: false }, url, timeoutMs);
}

export async function scrapeHttp(url: string, timeoutMs: number, format: Format = 'text', headers: Record<string, string> = {}): Promise<Family[]> {
  return parseHeld(await fetchHttpPieces(url, timeoutMs, format, headers));
}

/** host:port for a URL, IPv6 addresses in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
