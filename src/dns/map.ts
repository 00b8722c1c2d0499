// The `/dns` dynamic configuration (Kuma's dpapi.DNSProxyConfig) turned into
// the lookup table the proxy answers from: for every name both an A and an
// AAAA entry (possibly empty: NODATA for the other family), TTL from the body.
import { isIP } from 'node:net';
import { CONTROL_PLANE_LIMITS, DocumentError, readJsonDocument } from '../util/document.js';

export interface DnsRecordSet {
  a: string[];
  aaaa: string[];
}

export interface DnsMap {
  /** Keyed by the exact name (no trailing dot), case-sensitive as Kuma's. */
  names: Map<string, DnsRecordSet>;
  ttl: number;
  extraLabels: Record<string, string>;
  /** IPs that did not parse (warned about, skipped). */
  skipped: string[];
}

export const EMPTY_DNS_MAP: DnsMap = { names: new Map(), ttl: 0, extraLabels: {}, skipped: [] };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseDnsMap(body: string): DnsMap {
  let json: unknown;
  try {
    json = readJsonDocument(body, CONTROL_PLANE_LIMITS);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new Error(`/dns: ${err.message}`);
  }
  if (!isObj(json)) throw new Error('/dns: the body must be an object with records, ttl and extraLabels');
  const records = json.records ?? [];
  if (!Array.isArray(records)) throw new Error('/dns: records must be a list');
  const ttl = json.ttl === undefined ? 30 : json.ttl;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0) throw new Error('/dns: ttl must be a whole number of seconds');
  const names = new Map<string, DnsRecordSet>();
  const skipped: string[] = [];
  records.forEach((r: unknown, i) => {
    if (!isObj(r) || typeof r.name !== 'string' || !r.name) throw new Error(`/dns: records[${i}].name must be a non-empty string`);
    const ips = r.ips ?? [];
    if (!Array.isArray(ips)) throw new Error(`/dns: records[${i}].ips must be a list`);
    const name = r.name.endsWith('.') ? r.name.slice(0, -1) : r.name;
    const set: DnsRecordSet = names.get(name) ?? { a: [], aaaa: [] };
    for (const ip of ips) {
      const family = typeof ip === 'string' ? isIP(ip) : 0;
      if (family === 4) set.a.push(ip as string);
      else if (family === 6) set.aaaa.push(ip as string);
      else skipped.push(String(ip));
    }
    names.set(name, set);
  });
  const extraLabels: Record<string, string> = {};
  if (isObj(json.extraLabels)) for (const [k, v] of Object.entries(json.extraLabels)) if (typeof v === 'string') extraLabels[k] = v;
  return { names, ttl, extraLabels, skipped };
}
