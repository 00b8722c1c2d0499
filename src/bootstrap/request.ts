// The body of `POST /bootstrap`, shaped as Kuma's Go kuma-dp sends it
// (BootstrapRequest in pkg/xds/bootstrap/types): the same keys, in the same
// order, with Go's omitempty rules, so a control plane reads it as it reads
// Kuma's. The values are this agent's own (its version, the features it
// implements), so a control plane that looks at them can tell which agent it is.

export interface KumaDpVersion {
  version: string;
  gitTag: string;
  gitCommit: string;
  buildDate: string;
}

export interface EnvoyVersion {
  version: string;
  /** The whole build string `envoy --version` prints, e.g. `<sha>/1.30.1/Clean/RELEASE/BoringSSL`. */
  build: string;
  kumaDpCompatible: boolean;
}

export interface BootstrapRequestInput {
  mesh: string;
  name: string;
  proxyType: string;
  /** The token itself (whitespace around it is trimmed, as Kuma does). */
  dataplaneToken?: string;
  dataplaneTokenPath?: string;
  /** The Dataplane resource: an object is serialised to JSON, a string is sent as given. */
  dataplaneResource?: string | object;
  kumaDp: KumaDpVersion;
  envoy: EnvoyVersion;
  /** PEM of the CA the agent verifies the CP with, sent so the CP can configure Envoy alike. */
  caCert?: string;
  dynamicMetadata?: Record<string, string>;
  /** Kuma's OTel environment inventory; sent only when given. */
  otelEnv?: object;
  dnsPort?: number;
  readinessPort?: number;
  appProbeProxyEnabled?: boolean;
  /** Go's GOOS name; defaults to this host's (see goOperatingSystem). */
  operatingSystem?: string;
  /** The features the agent implements (features.ts decides them). */
  features?: readonly string[];
  maxHeapSizeBytes?: number;
  workdir: string;
  metricsCertPath?: string;
  metricsKeyPath?: string;
  systemCaPath?: string;
  /** Kuma's transparent-proxy DataplaneConfig; sent only when given. */
  transparentProxy?: object;
  ipv6Enabled: boolean;
  spireSocketPath?: string;
}

/** The wire shape. Optional keys are the ones Kuma marks omitempty. */
export interface BootstrapRequest {
  mesh: string;
  name: string;
  proxyType: string;
  dataplaneToken?: string;
  dataplaneTokenPath?: string;
  dataplaneResource?: string;
  version: { kumaDp: KumaDpVersion; envoy: EnvoyVersion };
  caCert: string;
  dynamicMetadata: Record<string, string> | null;
  otelEnv?: object;
  dnsPort?: number;
  readinessPort?: number;
  // Kuma's wire key says "Disabled" but carries "enabled"; kept for compatibility with Kuma CPs.
  appProbeProxyDisabled?: boolean;
  operatingSystem: string;
  features: string[];
  resources: { maxHeapSizeBytes: number };
  workdir: string;
  metricsResources: { certPath: string; keyPath: string };
  systemCaPath: string;
  dataplaneConfig?: object;
  ipv6Enabled: boolean;
  spireResources: { socketPath: string };
}

/** Go's runtime.GOOS for this host (Node says win32 where Go says windows). */
export function goOperatingSystem(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'windows' : platform;
}

/** Go's omitempty: drop the key when the value is the zero value of its type. */
function omitEmpty<T>(value: T | undefined): T | undefined {
  if (value === '' || value === 0 || value === false || value === null) return undefined;
  return value;
}

export function buildBootstrapRequest(input: BootstrapRequestInput): BootstrapRequest {
  const resource = input.dataplaneResource;
  const request: BootstrapRequest = {
    mesh: input.mesh,
    name: input.name,
    proxyType: input.proxyType,
    dataplaneToken: omitEmpty(input.dataplaneToken?.trim()),
    dataplaneTokenPath: omitEmpty(input.dataplaneTokenPath),
    dataplaneResource: omitEmpty(typeof resource === 'object' ? JSON.stringify(resource) : resource),
    version: {
      kumaDp: {
        version: input.kumaDp.version,
        gitTag: input.kumaDp.gitTag,
        gitCommit: input.kumaDp.gitCommit,
        buildDate: input.kumaDp.buildDate,
      },
      envoy: {
        version: input.envoy.version,
        build: input.envoy.build,
        kumaDpCompatible: input.envoy.kumaDpCompatible,
      },
    },
    caCert: input.caCert ?? '',
    dynamicMetadata: input.dynamicMetadata ?? null,
    otelEnv: input.otelEnv,
    dnsPort: omitEmpty(input.dnsPort),
    readinessPort: omitEmpty(input.readinessPort),
    appProbeProxyDisabled: omitEmpty(input.appProbeProxyEnabled),
    operatingSystem: input.operatingSystem ?? goOperatingSystem(),
    features: [...(input.features ?? [])],
    resources: { maxHeapSizeBytes: input.maxHeapSizeBytes ?? 0 },
    workdir: input.workdir,
    metricsResources: { certPath: input.metricsCertPath ?? '', keyPath: input.metricsKeyPath ?? '' },
    systemCaPath: input.systemCaPath ?? '',
    dataplaneConfig: input.transparentProxy,
    ipv6Enabled: input.ipv6Enabled,
    spireResources: { socketPath: input.spireSocketPath ?? '' },
  };
  return request;
}

// Go's encoding/json escapes these inside strings (they cannot occur outside one).
const GO_ESCAPED = /[<>&\u2028\u2029]/g;

/**
 * The request as the bytes Go's `json.MarshalIndent(request, "", " ")` writes:
 * one-space indent, absent keys dropped, HTML-sensitive characters escaped.
 */
export function serializeBootstrapRequest(request: BootstrapRequest): string {
  return JSON.stringify(request, null, 1).replace(GO_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
