// Kuma's DataplaneInsight for the proxies of this control plane: one
// subscription per ADS connection (connect and disconnect times, what was
// sent and ACKed per type), read from the ADS server's status.
import type { Dataplane } from '../dataplane/types.js';

interface TypeStatus {
  lastSent?: { version?: string; at?: string };
  acked?: { version?: string; at?: string };
  nacked?: { version?: string; at?: string; error?: string };
}

interface AdsStatus {
  connected?: boolean;
  lastDisconnectAt?: string;
  streams?: Array<{ id?: number; kind?: string; openedAt?: string; types?: Record<string, TypeStatus> }>;
}

const SHORT_TYPE: Record<string, string> = {
  'type.googleapis.com/envoy.config.cluster.v3.Cluster': 'cds',
  'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment': 'eds',
  'type.googleapis.com/envoy.config.listener.v3.Listener': 'lds',
  'type.googleapis.com/envoy.config.route.v3.RouteConfiguration': 'rds',
};

export class InsightTracker {
  /** proxy id → when its last connection opened and closed (bounded by the Dataplanes in the store: forget() on delete). */
  private readonly connections = new Map<string, { connectTime: string; disconnectTime?: string }>();

  constructor(
    private readonly instanceId: string,
    private readonly adsStatus: (proxyId: string) => unknown,
  ) {}

  connected(proxyId: string, at = new Date().toISOString()): void {
    this.connections.set(proxyId, { connectTime: at });
  }

  disconnected(proxyId: string, at = new Date().toISOString()): void {
    const known = this.connections.get(proxyId);
    if (known) known.disconnectTime = at;
  }

  forget(proxyId: string): void {
    this.connections.delete(proxyId);
  }

  /** The insight of one Dataplane; no subscriptions when its proxy never connected to this process. */
  insight(dp: Dataplane): Record<string, unknown> {
    const proxyId = `${dp.mesh}.${dp.name}`;
    const known = this.connections.get(proxyId);
    if (!known) return { subscriptions: [] };
    const status = this.adsStatus(proxyId) as AdsStatus | undefined;
    const stream = status?.connected ? status.streams?.[status.streams.length - 1] : undefined;
    const perType: Record<string, unknown> = {};
    let lastUpdateTime: string | undefined;
    for (const [typeUrl, st] of Object.entries(stream?.types ?? {})) {
      if (st.acked?.at && (!lastUpdateTime || st.acked.at > lastUpdateTime)) lastUpdateTime = st.acked.at;
      perType[SHORT_TYPE[typeUrl] ?? typeUrl] = {
        ...(st.lastSent ? { lastSentVersion: st.lastSent.version } : {}),
        ...(st.acked ? { lastAckedVersion: st.acked.version, lastAckTime: st.acked.at } : {}),
        ...(st.nacked ? { lastNack: st.nacked.error, lastNackTime: st.nacked.at } : {}),
      };
    }
    return {
      subscriptions: [
        {
          id: `${proxyId}-${known.connectTime}`,
          controlPlaneInstanceId: this.instanceId,
          connectTime: known.connectTime,
          ...(known.disconnectTime ? { disconnectTime: known.disconnectTime } : {}),
          status: {
            ...(lastUpdateTime ? { lastUpdateTime } : {}),
            ...perType,
          },
          ...(stream?.kind ? { xdsKind: stream.kind } : {}),
        },
      ],
    };
  }
}

/** Whether an insight says its proxy is connected now: a last subscription without a disconnect time. */
export function isOnline(insight: unknown): boolean {
  const subscriptions = (insight as { subscriptions?: Array<{ disconnectTime?: string }> } | undefined)?.subscriptions ?? [];
  const last = subscriptions[subscriptions.length - 1];
  return !!last && !last.disconnectTime;
}
