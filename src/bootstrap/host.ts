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

/** Whether any non-loopback interface has an IPv6 address (Kuma turns ipv6Enabled off otherwise). */
export function hasLocalIPv6(): boolean {
  return Object.values(networkInterfaces()).some((addrs) => (addrs ?? []).some((a) => a.family === 'IPv6' && !a.internal));
}
