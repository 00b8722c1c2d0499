// The Dataplane resource in Kuma's universal (JSON/YAML) form, as far as this
// project reads it. Field names follow Kuma's protojson output (camelCase).

export interface Inbound {
  port: number;
  servicePort?: number;
  serviceAddress?: string;
  address?: string;
  name?: string;
  protocol?: string;
  state?: 'Ready' | 'NotReady' | 'Ignored';
  tags?: Record<string, string>;
  health?: { ready?: boolean };
  serviceProbe?: Record<string, unknown>;
}

export interface BackendRef {
  kind?: string;
  name?: string;
  port?: number;
  labels?: Record<string, string>;
}

export interface Outbound {
  port: number;
  address?: string;
  tags?: Record<string, string>;
  backendRef?: BackendRef;
}

export interface Dataplane {
  type: 'Dataplane';
  mesh: string;
  name: string;
  labels?: Record<string, string>;
  creationTime?: string;
  modificationTime?: string;
  networking: {
    address: string;
    advertisedAddress?: string;
    advertisedPort?: number;
    inbound?: Inbound[];
    outbound?: Outbound[];
    gateway?: { tags?: Record<string, string>; type?: 'DELEGATED' | 'BUILTIN' };
    transparentProxying?: Record<string, unknown>;
    admin?: { port?: number };
  };
  metrics?: Record<string, unknown>;
  probes?: Record<string, unknown>;
}

export const SERVICE_TAG = 'kuma.io/service';
export const PROTOCOL_TAG = 'kuma.io/protocol';

/** The service an outbound reaches: its `kuma.io/service` tag, or the backendRef's name. */
export function outboundService(outbound: Outbound): string {
  return outbound.tags?.[SERVICE_TAG] ?? outbound.backendRef?.name ?? '';
}

/** Whether an inbound should receive traffic (Kuma excludes not-ready inbounds from EDS). */
export function inboundReady(inbound: Inbound): boolean {
  if (inbound.state && inbound.state !== 'Ready') return false;
  return inbound.health?.ready !== false;
}
