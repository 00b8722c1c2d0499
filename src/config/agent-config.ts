// flags + environment → the agent's configuration. Environment variables
// override flags, as in Kuma. Every invalid value is reported with the flag
// or variable that carried it.
import { parseDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { ENV_ONLY, LOG_LEVELS, RUN_FLAGS, type FlagSpec } from './flags.js';

export type ProxyType = 'dataplane' | 'ingress' | 'egress';
export type RestartMode = 'never' | 'on-failure' | 'always';

export interface RestartSettings {
  mode: RestartMode;
  maxRestarts: number;
  windowMs: number;
  backoffMs: number;
}

export interface MetricsSource {
  name: string;
  url: string;
}

export const ENVOY_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;
export const AGENT_LOG_LEVELS = LOG_LEVELS;

export interface AgentConfig {
  controlPlane: {
    url: string;
    caCertFile?: string;
    caCertPem?: string;
    skipVerify: boolean;
    retryBackoffMs: number;
    retryMaxDurationMs: number;
  };
  dataplane: {
    name?: string;
    mesh?: string;
    proxyType: ProxyType;
    inline?: string;
    file?: string;
    vars: string[];
    drainTimeMs: number;
    drainMinTimeMs: number;
  };
  token: { inline?: string; file?: string };
  envoy: {
    binaryPath: string;
    workDir?: string;
    concurrency?: number;
    logLevel: string;
    componentLogLevel?: string;
    templatesDir?: string;
    validateConfig: boolean;
    /** Unknown fields/types stop the launch too (by default they are warnings and Envoy judges). */
    strictValidation: boolean;
    restart: RestartSettings;
  };
  /** --outbound-upstream: service → where static mode sends that outbound's traffic (no ADS to say). */
  outboundUpstreams: Record<string, { host: string; port: number }>;
  metrics: { certPath: string; keyPath: string; address?: { host: string; port: number }; aggregate: MetricsSource[] };
  readinessPort: number;
  /** Kuma's feature switches (KUMA_DATAPLANE_RUNTIME_*_ENABLED): which features the bootstrap request lists. */
  features: { strictInboundPorts: boolean; reusePort: boolean };
  /** --lifecycle-port: POST /drain, /quitquitquit, /config_dump on 127.0.0.1; 0 disables. */
  lifecyclePort: number;
  /** Running as a pod (POD_NAME set): the readiness port listens on all addresses. */
  inPod: boolean;
  notifySocket?: string;
  watchdogMs?: number;
  dnsPort: number;
  /** The embedded DNS proxy; `upstream` overrides /etc/resolv.conf. */
  dns: { enabled: boolean; port: number; upstream?: string };
  /** How often the dynamic configuration (/dns, /meshmetric) is polled. */
  dynamicConfigRefreshMs: number;
  /** Host facts sent to the control plane; undefined: detect them. */
  host: { ipv6Enabled?: boolean; maxMemoryBytes?: number };
  logLevel: string;
}

type Values = Record<string, unknown>;

/** The value a flag ends up with, and where it came from, for error messages. */
function resolve(spec: FlagSpec, flags: Values, env: NodeJS.ProcessEnv): { value: unknown; from: string } {
  for (const name of spec.env ?? []) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') return { value: raw, from: name };
  }
  return { value: flags[spec.name], from: `--${spec.name}` };
}

/** A flag's value as text: what was typed; a repeated flag's values joined by commas; an object as JSON. */
function text(value: unknown): string {
  if (Array.isArray(value)) return value.map(text).join(',');
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function asNumber(value: unknown, from: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UserError(`${from}: '${text(value)}' must be a whole number from ${min} to ${max}`);
  return n;
}

function asBoolean(value: unknown, from: string): boolean {
  if (typeof value === 'boolean') return value;
  if (value === undefined) return false;
  const word = text(value).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(word)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(word)) return false;
  throw new UserError(`${from}: '${text(value)}' must be true or false`);
}

function oneOf<T extends string>(value: string, from: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UserError(`${from}: '${value}' must be one of ${allowed.join(', ')}`);
  return value as T;
}

const optionalString = (value: unknown): string | undefined => (value === undefined || value === '' ? undefined : text(value));

export function buildAgentConfig(flags: Values, env: NodeJS.ProcessEnv): AgentConfig {
  const get = (name: string) => {
    const spec = RUN_FLAGS.find((f) => f.name === name);
    if (!spec) throw new Error(`no flag --${name}`);
    return resolve(spec, flags, env);
  };
  const envOnly = (name: string): { value: string; from: string } => {
    const spec = ENV_ONLY.find((e) => e.env === name)!;
    const raw = env[name];
    return { value: raw === undefined || raw === '' ? spec.default : raw, from: name };
  };
  const duration = ({ value, from }: { value: unknown; from: string }): number => {
    try {
      return parseDuration(String(value), from);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
  };

  const url = String(get('cp-address').value);
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new UserError(`${get('cp-address').from}: '${url}' is not a URL; expected e.g. https://kuma-cp:5678`);
  }
  if (parsedUrl.protocol !== 'https:' && parsedUrl.protocol !== 'http:') {
    throw new UserError(`${get('cp-address').from}: unsupported URL scheme '${parsedUrl.protocol.replace(':', '')}', must be http or https`);
  }

  const proxyType = oneOf(String(get('proxy-type').value), get('proxy-type').from, ['dataplane', 'ingress', 'egress'] as const);
  const logLevel = oneOf(String(get('log-level').value), get('log-level').from, AGENT_LOG_LEVELS);
  const envoyLogLevelRaw = optionalString(get('envoy-log-level').value);
  const envoyLogLevel = envoyLogLevelRaw ? oneOf(envoyLogLevelRaw, get('envoy-log-level').from, ENVOY_LOG_LEVELS) : logLevel;

  const drain = get('drain-time');
  const drainTimeMs = duration(drain);
  const drainMinTimeMs = Math.min(duration(get('drain-min-time')), drainTimeMs);
  const restart: RestartSettings = {
    mode: oneOf(String(get('envoy-restart').value), get('envoy-restart').from, ['never', 'on-failure', 'always'] as const),
    maxRestarts: asNumber(get('envoy-max-restarts').value, get('envoy-max-restarts').from, 0, 1000) ?? 5,
    windowMs: duration(get('envoy-restart-window')),
    backoffMs: duration(get('envoy-restart-backoff')),
  };
  const metricsAddress = optionalString(get('metrics-address').value);
  const outboundUpstreams = parseOutboundUpstreams(get('outbound-upstream'));
  const aggregate = ((flags['metrics-aggregate'] as unknown[] | undefined) ?? []).map((v) => metricsSource(String(v)));
  const watchdogUsec = asNumber(optionalString(env.WATCHDOG_USEC), 'WATCHDOG_USEC', 1, Number.MAX_SAFE_INTEGER);
  // 0 is Kuma's default: no --concurrency (Linux: --cpuset-threads).
  const concurrency = asNumber(get('concurrency').value, get('concurrency').from, 0, 1024) || undefined;
  const vars = ((flags['dataplane-var'] as unknown[] | undefined) ?? []).map(String);

  const inline = optionalString(get('dataplane').value);
  const file = optionalString(get('dataplane-file').value);
  if (inline && file)
    throw new UserError('--dataplane and --dataplane-file (KUMA_DATAPLANE_RUNTIME_RESOURCE / _RESOURCE_PATH) are both set; give the Dataplane one way');
  const tokenInline = optionalString(get('dataplane-token').value);
  const tokenFile = optionalString(get('dataplane-token-file').value);
  if (tokenInline && tokenFile) throw new UserError('--dataplane-token and --dataplane-token-file are both set; give the token one way');

  const dnsEnabled = asBoolean(get('dns-enabled').value, get('dns-enabled').from);
  const dnsProxyPort = asNumber(get('dns-proxy-port').value, get('dns-proxy-port').from, 0, 65535) ?? 15053;
  if (dnsEnabled && dnsProxyPort === 0)
    throw new UserError(`${get('dns-proxy-port').from}: the DNS proxy needs a port from 1 to 65535; or set --dns-enabled=false (KUMA_DNS_ENABLED)`);

  const caCertFile = optionalString(get('ca-cert-file').value);
  const caCertPem = optionalString(env.KUMA_CONTROL_PLANE_CA_CERT);
  if (caCertFile && caCertPem)
    throw new UserError('KUMA_CONTROL_PLANE_CA_CERT and --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE) are both set; give the CA one way');

  return {
    controlPlane: {
      url: parsedUrl.toString().replace(/\/$/, ''),
      ...(caCertFile ? { caCertFile } : {}),
      ...(caCertPem ? { caCertPem } : {}),
      skipVerify: asBoolean(get('skip-verify').value, get('skip-verify').from),
      retryBackoffMs: duration(envOnly('KUMA_CONTROL_PLANE_RETRY_BACKOFF')),
      retryMaxDurationMs: duration(envOnly('KUMA_CONTROL_PLANE_RETRY_MAX_DURATION')),
    },
    dataplane: {
      ...(optionalString(get('name').value) ? { name: String(get('name').value) } : {}),
      ...(optionalString(get('mesh').value) ? { mesh: String(get('mesh').value) } : {}),
      proxyType,
      ...(inline ? { inline } : {}),
      ...(file ? { file } : {}),
      vars,
      drainTimeMs,
      drainMinTimeMs,
    },
    token: { ...(tokenInline ? { inline: tokenInline } : {}), ...(tokenFile ? { file: tokenFile } : {}) },
    envoy: {
      binaryPath: String(get('binary-path').value),
      ...(optionalString(get('work-dir').value) ? { workDir: String(get('work-dir').value) } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      logLevel: envoyLogLevel,
      ...(optionalString(get('envoy-component-log-level').value) ? { componentLogLevel: String(get('envoy-component-log-level').value) } : {}),
      ...(optionalString(get('envoy-templates-dir').value) ? { templatesDir: String(get('envoy-templates-dir').value) } : {}),
      validateConfig: !asBoolean(get('skip-config-validation').value, '--skip-config-validation'),
      strictValidation: asBoolean(get('strict-config-validation').value, '--strict-config-validation'),
      restart,
    },
    outboundUpstreams,
    metrics: {
      certPath: text(get('metrics-cert-path').value ?? ''),
      keyPath: text(get('metrics-key-path').value ?? ''),
      ...(metricsAddress ? { address: hostPort(metricsAddress, get('metrics-address').from) } : {}),
      aggregate,
    },
    readinessPort: asNumber(envOnly('KUMA_READINESS_PORT').value, 'KUMA_READINESS_PORT', 0, 65535) ?? 9902,
    features: {
      strictInboundPorts: asBoolean(
        envOnly('KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED').value,
        'KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED',
      ),
      reusePort: asBoolean(envOnly('KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED').value, 'KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED'),
    },
    lifecyclePort: asNumber(get('lifecycle-port').value, get('lifecycle-port').from, 0, 65535) ?? 0,
    inPod: optionalString(env.POD_NAME) !== undefined,
    ...(optionalString(env.NOTIFY_SOCKET) ? { notifySocket: String(env.NOTIFY_SOCKET) } : {}),
    ...(watchdogUsec !== undefined ? { watchdogMs: Math.max(1, Math.floor(watchdogUsec / 1000)) } : {}),
    dnsPort: dnsProxyPort,
    dns: {
      enabled: dnsEnabled,
      port: dnsProxyPort,
      ...(optionalString(env.KUMA_DNS_UPSTREAM_ADDRESS) ? { upstream: String(env.KUMA_DNS_UPSTREAM_ADDRESS) } : {}),
    },
    dynamicConfigRefreshMs: duration(envOnly('KUMA_DATAPLANE_RUNTIME_DYNAMIC_CONFIGURATION_REFRESH_INTERVAL')),
    host: {
      ...(optionalString(env.KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED) !== undefined
        ? { ipv6Enabled: asBoolean(env.KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED, 'KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED') }
        : {}),
      ...(optionalString(env.KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES) !== undefined
        ? { maxMemoryBytes: asNumber(env.KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES, 'KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES', 0, Number.MAX_SAFE_INTEGER)! }
        : {}),
    },
    logLevel,
  };
}

/** `host:port` (or `:port` for all addresses) → its parts. */
export function hostPort(text: string, from: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) throw new UserError(`${from}: '${text}' must be host:port, e.g. 127.0.0.1:9903 (or :9903 for all addresses)`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** `service=host:port` entries (flags, or the variable's comma-separated list) → a map; each bad one names itself. */
function parseOutboundUpstreams({ value, from }: { value: unknown; from: string }): Record<string, { host: string; port: number }> {
  const entries = Array.isArray(value) ? value.map((v) => String(v)) : typeof value === 'string' && value !== '' ? value.split(',') : [];
  const upstreams: Record<string, { host: string; port: number }> = {};
  for (const raw of entries) {
    const text = raw.trim();
    const eq = text.indexOf('=');
    const service = eq > 0 ? text.slice(0, eq) : '';
    const target = text.slice(eq + 1);
    if (!service || !/:\d+$/.test(target) || target.startsWith(':'))
      throw new UserError(`${from}: '${text}' must be service=host:port, e.g. backend=10.0.0.5:8080`);
    upstreams[service] = hostPort(target, from);
  }
  return upstreams;
}

function metricsSource(text: string): MetricsSource {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : '';
  const url = text.slice(eq + 1);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!name || !parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new UserError(`--metrics-aggregate: '${text}' must be name=URL, e.g. app=http://127.0.0.1:8080/metrics`);
  }
  return { name, url };
}
