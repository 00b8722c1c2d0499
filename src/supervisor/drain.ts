// The drain wait after /healthcheck/fail: at least `minMs`, at most `maxMs`,
// and over as soon as the inbound listeners have no active connections
// (Envoy's listener.<ip>_<port>.downstream_cx_active gauges). A signal or
// Envoy's exit ends it too; the caller races those.
import type { AdminClient } from '../envoy/admin.js';
import { sleep, type Clock } from '../lifecycle/clock.js';

export const DRAIN_POLL_MS = 250;

const ACTIVE_STAT = /^listener\.(.+)_(\d+)\.downstream_cx_active: (\d+)$/;

/** Ports of the listeners Envoy calls inbound (Kuma names them inbound:<ip>:<port>). */
async function inboundListenerPorts(admin: AdminClient): Promise<number[]> {
  const res = await admin('GET', '/listeners?format=json');
  if (res.status !== 200) return [];
  const statuses =
    (JSON.parse(res.body) as { listener_statuses?: Array<{ name?: string; local_address?: { socket_address?: { port_value?: number } } }> })
      .listener_statuses ?? [];
  return statuses.flatMap((l) =>
    l.name?.startsWith('inbound:') && l.local_address?.socket_address?.port_value ? [l.local_address.socket_address.port_value] : [],
  );
}

/** Active inbound connections, or undefined when Envoy shows no inbound listener stats (then nothing can be concluded). */
export async function activeInboundConnections(admin: AdminClient, knownInboundPorts: readonly number[]): Promise<number | undefined> {
  const ports = new Set([...knownInboundPorts, ...(await inboundListenerPorts(admin).catch(() => []))]);
  const res = await admin('GET', '/stats?filter=' + encodeURIComponent('^listener\\..*\\.downstream_cx_active$'));
  if (res.status !== 200) return undefined;
  let matched = 0;
  let active = 0;
  for (const line of res.body.split('\n')) {
    const m = ACTIVE_STAT.exec(line.trim());
    if (!m || !ports.has(Number(m[2]))) continue;
    matched += 1;
    active += Number(m[3]);
  }
  return matched > 0 ? active : undefined;
}

export interface DrainOutcome {
  reason: 'no active connections' | 'drain time elapsed';
  elapsedMs: number;
}

export async function drainWait(
  admin: AdminClient,
  clock: Clock,
  opts: { minMs: number; maxMs: number; inboundPorts: readonly number[]; signal: AbortSignal },
): Promise<DrainOutcome> {
  const began = clock.now();
  for (;;) {
    const elapsed = clock.now() - began;
    if (elapsed >= opts.maxMs || opts.signal.aborted) return { reason: 'drain time elapsed', elapsedMs: elapsed };
    if (elapsed >= opts.minMs) {
      const active = await activeInboundConnections(admin, opts.inboundPorts).catch(() => undefined);
      if (active === 0) return { reason: 'no active connections', elapsedMs: clock.now() - began };
    }
    const untilMin = opts.minMs - (clock.now() - began);
    await sleep(clock, Math.max(1, Math.min(untilMin > 0 ? untilMin : DRAIN_POLL_MS, opts.maxMs - (clock.now() - began))), opts.signal);
  }
}
