// Every kuma-dp flag once: its name, type, default, Kuma's environment
// variable and help text. The CLI parser (src/cli/args.ts), --help and the
// README table are all generated from here, so they cannot drift apart: a flag
// added to a list below is parsed, shown in --help and handed to its command.

export type FlagType = 'string' | 'boolean' | 'number' | 'duration' | 'array';

export interface FlagSpec {
  name: string;
  alias?: string;
  type: FlagType;
  /** Kuma's variables for this setting; the first one set wins and overrides the flag, as in Kuma. */
  env?: string[];
  default?: string | number | boolean;
  /** The only values accepted (checked by the parser, named in its error). */
  choices?: readonly string[];
  describe: string;
}

export const RUN_FLAGS: readonly FlagSpec[] = [
  {
    name: 'cp-address',
    type: 'string',
    env: ['KUMA_CONTROL_PLANE_URL'],
    default: 'https://localhost:5678',
    describe: "URL of the control plane's DP server (bootstrap + xDS), e.g. https://kuma-cp:5678",
  },
  {
    name: 'ca-cert-file',
    type: 'string',
    env: ['KUMA_CONTROL_PLANE_CA_CERT_FILE'],
    describe: 'CA certificate (PEM) that verifies the control plane; when given it is the only trusted root. KUMA_CONTROL_PLANE_CA_CERT takes the PEM inline',
  },
  {
    name: 'skip-verify',
    type: 'boolean',
    env: ['KUMA_CONTROL_PLANE_TLS_SKIP_VERIFY'],
    default: false,
    describe: "Do not verify the control plane's certificate (insecure; for testing only)",
  },
  { name: 'name', type: 'string', env: ['KUMA_DATAPLANE_NAME'], describe: 'Name of the Dataplane (not with a --dataplane/--dataplane-file that names itself)' },
  {
    name: 'mesh',
    type: 'string',
    env: ['KUMA_DATAPLANE_MESH'],
    describe: 'Mesh the Dataplane belongs to (not with a --dataplane/--dataplane-file that names its mesh)',
  },
  { name: 'proxy-type', type: 'string', env: ['KUMA_DATAPLANE_PROXY_TYPE'], default: 'dataplane', describe: 'Type of proxy: dataplane, ingress or egress' },
  {
    name: 'dataplane',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_RESOURCE'],
    describe: 'Dataplane resource (YAML or JSON, may be a template) given inline',
  },
  {
    name: 'dataplane-file',
    alias: 'd',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_RESOURCE_PATH'],
    describe: 'File with the Dataplane resource (YAML or JSON, may be a template); - reads standard input',
  },
  { name: 'dataplane-var', alias: 'v', type: 'array', describe: 'key=value for the Dataplane template, repeatable; dotted keys nest (a.b=c gives {{a.b}})' },
  {
    name: 'dataplane-token',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_TOKEN'],
    describe: 'Dataplane token (written to a 0600 file in the work dir, never logged)',
  },
  { name: 'dataplane-token-file', type: 'string', env: ['KUMA_DATAPLANE_RUNTIME_TOKEN_PATH'], describe: 'File with the dataplane token' },
  {
    name: 'binary-path',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_BINARY_PATH'],
    default: 'envoy',
    describe: 'Envoy executable: a path, or a name looked up in PATH, the working directory and the directory of kuma-dp',
  },
  {
    name: 'work-dir',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_WORK_DIR'],
    describe: 'Directory for the generated config (created 0711 and kept); default: a temporary directory removed on exit',
  },
  { name: 'concurrency', type: 'number', env: ['KUMA_DATAPLANE_RUNTIME_CONCURRENCY'], describe: "Number of Envoy worker threads (Envoy's --concurrency)" },
  {
    name: 'drain-time',
    type: 'duration',
    env: ['KUMA_DATAPLANE_DRAIN_TIME'],
    default: '30s',
    describe: 'How long Envoy drains connections on shutdown, at most',
  },
  {
    name: 'drain-min-time',
    type: 'duration',
    env: ['KUMA_DATAPLANE_DRAIN_MIN_TIME'],
    default: '5s',
    describe: 'Shortest drain: after this, the drain ends as soon as inbound listeners have no active connections (capped at --drain-time)',
  },
  {
    name: 'envoy-restart',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART'],
    default: 'never',
    describe: 'Restart Envoy when it exits: never (exit with it, as Kuma), on-failure (non-zero exit) or always',
  },
  {
    name: 'envoy-max-restarts',
    type: 'number',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_MAX_RESTARTS'],
    default: 5,
    describe: 'Crash-loop limit: more restarts than this within --envoy-restart-window and kuma-dp exits non-zero',
  },
  {
    name: 'envoy-restart-window',
    type: 'duration',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_WINDOW'],
    default: '5m',
    describe: 'Window in which --envoy-max-restarts is counted',
  },
  {
    name: 'envoy-restart-backoff',
    type: 'duration',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART_BACKOFF'],
    default: '1s',
    describe: 'Delay before the first restart; it doubles with each restart in the window, up to 30s',
  },
  {
    name: 'envoy-log-level',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_LOG_LEVEL'],
    describe: 'Envoy log level: trace, debug, info, warning, error, critical, off (default: follows --log-level)',
  },
  {
    name: 'envoy-component-log-level',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_ENVOY_COMPONENT_LOG_LEVEL'],
    describe: "Envoy's --component-log-level, e.g. upstream:debug,connection:trace",
  },
  { name: 'envoy-templates-dir', type: 'string', describe: 'Directory of Envoy templates to use instead of the bundled envoy-templates/' },
  {
    name: 'metrics-cert-path',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_METRICS_CERT_PATH'],
    default: '',
    describe: 'Certificate for the metrics listener (sent to the control plane)',
  },
  {
    name: 'metrics-key-path',
    type: 'string',
    env: ['KUMA_DATAPLANE_RUNTIME_METRICS_KEY_PATH'],
    default: '',
    describe: 'Key for the metrics listener (sent to the control plane)',
  },
  {
    name: 'metrics-address',
    type: 'string',
    env: ['KUMA_DATAPLANE_METRICS_ADDRESS'],
    default: '',
    describe: "host:port of the merged Prometheus endpoint (/metrics: Envoy's, the applications' and kuma-dp's own series); empty disables",
  },
  {
    name: 'lifecycle-port',
    type: 'number',
    env: ['KUMA_DATAPLANE_LIFECYCLE_PORT'],
    default: 0,
    describe:
      'Port on 127.0.0.1 (never the pod address) for POST /drain (inbound listeners, keep running), /quitquitquit (as SIGTERM) and /config_dump (into the work dir); 0 (default) disables. Not in Kuma',
  },
  {
    name: 'outbound-upstream',
    type: 'array',
    env: ['KUMA_DATAPLANE_RUNTIME_OUTBOUND_UPSTREAMS'],
    describe:
      "service=host:port: where an outbound's service is reached when the control plane's bootstrap has no ADS (static mode), repeatable; the variable takes a comma-separated list. Not in Kuma",
  },
  {
    name: 'metrics-aggregate',
    type: 'array',
    describe: "name=URL of an application metrics endpoint to merge into /metrics, repeatable (the control plane's metrics.aggregate list is merged too)",
  },
  {
    name: 'dns-enabled',
    type: 'boolean',
    env: ['KUMA_DNS_ENABLED'],
    default: true,
    describe:
      "Run the embedded DNS proxy (mesh names from the control plane's /dns map, the rest forwarded to the system's resolver) when the Dataplane uses transparent proxying",
  },
  {
    name: 'dns-proxy-port',
    type: 'number',
    env: ['KUMA_DNS_PROXY_PORT'],
    default: 15053,
    describe: "Port of the embedded DNS proxy (UDP and TCP on 127.0.0.1), sent to the control plane for transparent proxying's DNS redirect",
  },
  {
    name: 'skip-config-validation',
    type: 'boolean',
    default: false,
    describe: "Do not validate the final Envoy config against Envoy's protos before launching Envoy",
  },
  {
    name: 'strict-config-validation',
    type: 'boolean',
    default: false,
    describe:
      'Refuse to launch Envoy on anything the validator does not know (a field, enum value or type newer than its Envoy API), not only on definite violations',
  },
  { name: 'log-level', type: 'string', env: ['KUMA_LOG_LEVEL'], default: 'info', describe: 'kuma-dp log level: debug, info, warn, error' },
];

/** kuma-dp's own log levels. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** `kuma-dp wait`: the container HEALTHCHECK, run every few seconds. */
export const WAIT_FLAGS: readonly FlagSpec[] = [
  {
    name: 'url',
    type: 'string',
    default: 'http://localhost:9901/ready',
    describe: "Readiness URL on this host: Envoy's admin /ready, or kuma-dp's http://localhost:9902/ready",
  },
  {
    name: 'unix-socket',
    type: 'string',
    describe: "Envoy's admin Unix socket (<work-dir>/kuma-envoy-admin.sock with Kuma >= 2.14): polls http://localhost/ready over it instead of --url",
  },
  { name: 'timeout', type: 'duration', default: '180s', describe: 'Give up (exit 1) after this long' },
  { name: 'check-frequency', type: 'duration', default: '1s', describe: 'Time between checks' },
  { name: 'request-timeout', type: 'duration', default: '500ms', describe: 'Timeout of each check' },
  { name: 'log-level', type: 'string', default: 'info', choices: LOG_LEVELS, describe: 'kuma-dp log level' },
];

/** `kuma-dp validate <file>`. */
export const VALIDATE_FLAGS: readonly FlagSpec[] = [
  {
    name: 'type',
    type: 'string',
    default: 'bootstrap',
    choices: ['bootstrap', 'listener', 'cluster', 'endpoint', 'route', 'secret'],
    describe: 'What the file holds',
  },
];

/** `kuma-dp version`. */
export const VERSION_FLAGS: readonly FlagSpec[] = [{ name: 'detailed', type: 'boolean', default: false, describe: 'Print commit and build date too' }];

/** Settings that Kuma reads from the environment only. */
export const ENV_ONLY: ReadonlyArray<{ env: string; default: string; describe: string }> = [
  { env: 'KUMA_CONTROL_PLANE_CA_CERT', default: '', describe: 'CA certificate PEM inline (instead of --ca-cert-file)' },
  { env: 'KUMA_CONTROL_PLANE_RETRY_BACKOFF', default: '3s', describe: 'Wait between attempts to fetch the bootstrap' },
  { env: 'KUMA_CONTROL_PLANE_RETRY_MAX_DURATION', default: '5m', describe: 'Give up fetching the bootstrap after this long' },
  {
    env: 'KUMA_READINESS_PORT',
    default: '9902',
    describe: 'Readiness reporter port: GET /ready only, as Kuma; 0 disables. Sent to the control plane',
  },
  {
    env: 'KUMA_DATAPLANE_RUNTIME_DYNAMIC_CONFIGURATION_REFRESH_INTERVAL',
    default: '1s',
    describe: "How often kuma-dp polls the control plane's dynamic configuration (/dns, /meshmetric) through Envoy",
  },
  {
    env: 'KUMA_DNS_UPSTREAM_ADDRESS',
    default: '',
    describe: 'IP:port the DNS proxy forwards other names to (default: the first nameserver of /etc/resolv.conf, port 53); not in Kuma',
  },
  {
    env: 'KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED',
    default: '',
    describe: 'Whether the host has IPv6, sent to the control plane (default: detected from the non-loopback interfaces)',
  },
  {
    env: 'KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES',
    default: '',
    describe: 'Memory Envoy may use, sent to the control plane for its overload manager (default: the cgroup memory limit, 0 when none)',
  },
  {
    env: 'KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED',
    default: 'true',
    describe: 'Ask the control plane for inbound listeners that reject undeclared ports (feature-strict-inbound-ports), as Kuma',
  },
  {
    env: 'KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED',
    default: 'true',
    describe: 'Ask the control plane for listeners with SO_REUSEPORT (feature-reuse-port), as Kuma',
  },
  {
    env: 'POD_NAME',
    default: '',
    describe: "When set (running as a pod) and Envoy's admin is on a Unix socket, the readiness port listens on all addresses instead of loopback, as Kuma",
  },
  {
    env: 'NOTIFY_SOCKET',
    default: '',
    describe: 'Set by systemd (Type=notify): kuma-dp sends READY=1 once Envoy is live, STATUS= on each transition, STOPPING=1 on drain',
  },
  { env: 'WATCHDOG_USEC', default: '', describe: 'Set by systemd (WatchdogSec=): kuma-dp sends WATCHDOG=1 every half period' },
];
