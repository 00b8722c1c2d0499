// The resolver the DNS proxy forwards to: the first `nameserver` of
// /etc/resolv.conf, port 53, as Kuma's. KUMA_DNS_UPSTREAM_ADDRESS
// (host:port) overrides it; that is this agent's addition, not Kuma's.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { UserError } from '../util/errors.js';
import type { Upstream } from './proxy.js';

export function upstreamFromResolvConf(text: string, file: string): Upstream {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1]!.replace(/%.*$/, ''))) return { host: m[1]!, port: 53 };
  }
  throw new UserError(`DNS proxy: ${file} names no nameserver to forward queries to; add one, or set --dns-enabled=false`);
}

export function parseUpstreamAddress(value: string, from: string): Upstream {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIP(m[1]!) || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new UserError(`${from}: '${value}' must be IP:port, e.g. 127.0.0.1:53 or [::1]:53`);
  return { host: m[1]!, port };
}

/** KUMA_DNS_UPSTREAM_ADDRESS when given, else resolv.conf's first nameserver. */
export function resolveUpstream(override: string | undefined, resolvConf = '/etc/resolv.conf'): Upstream {
  if (override) return parseUpstreamAddress(override, 'KUMA_DNS_UPSTREAM_ADDRESS');
  let text: string;
  try {
    text = readFileSync(resolvConf, 'utf8');
  } catch (err) {
    throw new UserError(
      `DNS proxy: cannot read ${resolvConf} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set --dns-enabled=false or KUMA_DNS_UPSTREAM_ADDRESS`,
    );
  }
  return upstreamFromResolvConf(text, resolvConf);
}
