// Facts about this host that kuma-dp reports in the bootstrap request.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

const CGROUP_MEMORY_LIMITS = [
  '/sys/fs/cgroup/memory.max', // cgroup v2
  '/sys/fs/cgroup/memory/memory.limit_in_bytes', // cgroup v1
];

/**
 * The memory limit of this process's cgroup in bytes, or 0 when there is none
 * ("max") or it cannot be read. Envoy's overload manager is sized from it.
 */
export function detectMaxMemory(paths: readonly string[] = CGROUP_MEMORY_LIMITS): number {
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8').trim();
    } catch {
      continue;
    }
    // cgroup v1 says "unlimited" with a number near 2^63, beyond what a JS number holds exactly.
    const bytes = /^\d+$/.test(text) ? Number(text) : 0;
    return Number.isSafeInteger(bytes) ? bytes : 0;
  }
  return 0;
}

const IF_INET6 = '/proc/net/if_inet6';
const LOOPBACK_HEX = '00000000000000000000000000000001';
const V4_MAPPED_HEX = '00000000000000000000ffff';

/**
 * Whether this host has an IPv6 address other than loopback, as Kuma's
 * HasLocalIPv6 asks (net.InterfaceAddrs: any address that is not ::1 and not
 * IPv4); Kuma turns ipv6Enabled off otherwise. On Linux the kernel lists every
 * IPv6 address in /proc/net/if_inet6 (absent when IPv6 is off), which costs a
 * file read where os.networkInterfaces() holds ~0.3 MB more for the process's life.
 */
export function hasLocalIPv6(ifInet6: string = IF_INET6): boolean {
  let text: string;
  try {
    text = readFileSync(ifInet6, 'utf8');
  } catch {
    if (process.platform === 'linux') return false;
    return Object.values(networkInterfaces()).some((addrs) =>
      (addrs ?? []).some((a) => a.family === 'IPv6' && a.address !== '::1' && !a.address.startsWith('::ffff:')),
    );
  }
  // Each line: the address as 32 hex digits, then the interface's index, prefix, scope, flags and name.
  return text.split('\n').some((line) => {
    const hex = line.slice(0, 32);
    return /^[0-9a-f]{32}$/.test(hex) && hex !== LOOPBACK_HEX && !hex.startsWith(V4_MAPPED_HEX);
  });
}
