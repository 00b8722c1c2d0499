// The control plane's mode, as on Kuma's networking page: standalone (Kuma 2.x+
// names it a zone with no global), a federated zone (connected to a global),
// or global. The mode decides which ports open and what the API may change.

export type CpMode = 'standalone' | 'zone' | 'global';

/** The listeners a control plane can open; each mode opens a fixed subset. */
export type PortName = 'dpServer' | 'apiHttp' | 'apiHttps' | 'diagnostics' | 'mads' | 'kds';

/** The page's table: 5443 (the admission webhook) exists only on Kubernetes and is never opened here. */
export const MODE_PORTS: Record<CpMode, readonly PortName[]> = {
  standalone: ['mads', 'dpServer', 'diagnostics', 'apiHttp', 'apiHttps'],
  zone: ['mads', 'dpServer', 'diagnostics', 'apiHttp', 'apiHttps'],
  global: ['diagnostics', 'apiHttp', 'apiHttps', 'kds'],
};

export interface MultizoneSettings {
  /** This zone's name (KUMA_MULTIZONE_ZONE_NAME); Kuma's default is 'default'. */
  zoneName: string;
  /** grpcs://host:port of the global's KDS (KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS). */
  globalAddress?: string;
  /** PEM file the global's KDS certificate must chain to (KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE). */
  rootCaFile?: string;
  /** Skip verifying the global's certificate (KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY): for experiments only. */
  tlsSkipVerify?: boolean;
}

/**
 * Kuma's KUMA_MODE is `zone` or `global` (`standalone` was the 1.x name and is
 * still accepted here); a zone without a global address is standalone.
 */
export function effectiveMode(given: string, globalAddress: string | undefined): CpMode | undefined {
  if (given === 'global') return 'global';
  if (given === 'standalone') return 'standalone';
  if (given === 'zone') return globalAddress ? 'zone' : 'standalone';
  return undefined;
}

/** Whether resources of this kind come from the global rather than from this control plane's API. */
export const isFederatedZone = (mode: CpMode): boolean => mode === 'zone';

// Kuma's messages for the API's read-only resources in each mode (pkg/api-server/resource_endpoints.go),
// answered with 405 "Method not allowed".
export const GLOBAL_READ_ONLY_MESSAGE =
  "On global control plane you can not modify dataplane resources with 'kumactl apply' or via the HTTP API." +
  " You can still use 'kumactl' or the HTTP API to modify them on the zone control plane.\n";
export const ZONE_READ_ONLY_MESSAGE =
  "On zone control plane you can only modify zone resources with 'kumactl apply' or via the HTTP API." +
  " You can still use 'kumactl' or the HTTP API to modify the rest of the resource on the global control plane.\n";

// Kuma's labels on synced resources (api/mesh/v1alpha1 ResourceOriginLabel, ZoneTag, DisplayName).
export const ORIGIN_LABEL = 'kuma.io/origin';
export const ZONE_LABEL = 'kuma.io/zone';
export const DISPLAY_NAME_LABEL = 'kuma.io/display-name';
export const ORIGIN_GLOBAL = 'global';
export const ORIGIN_ZONE = 'zone';

/** The name a zone's resource has on the global: prefixed with its zone, so two zones' `web-1` never collide. */
export const globalNameOf = (zone: string, name: string): string => `${zone}.${name}`;
