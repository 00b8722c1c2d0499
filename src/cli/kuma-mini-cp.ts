// kuma-mini-cp: a companion control plane on Kuma's ports. `run` starts every
// server and stays up until SIGTERM/SIGINT, then closes cleanly (exit 0).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createLogger, setLogLevel } from '../log/logger.js';
import { parseDuration } from '../util/duration.js';
import { reportFailure, UserError } from '../util/errors.js';
import { ZONE_NAME } from '../kds/global-server.js';
import { kdsTarget } from '../kds/zone-client.js';
import type { MiniCpPorts } from '../minicp/index.js';
import { effectiveMode } from '../minicp/mode.js';

const log = createLogger('kuma-mini-cp');

/** Each port: its flag, Kuma's variable, and the default. A flag given on the command line wins over the variable. */
const PORTS = [
  { key: 'dpServer', flag: 'dp-server-port', env: 'KUMA_DP_SERVER_PORT', default: 5678, describe: 'DP server: POST /bootstrap and gRPC ADS' },
  { key: 'apiHttp', flag: 'api-server-http-port', env: 'KUMA_API_SERVER_HTTP_PORT', default: 5681, describe: 'HTTP API' },
  { key: 'apiHttps', flag: 'api-server-https-port', env: 'KUMA_API_SERVER_HTTPS_PORT', default: 5682, describe: 'HTTP API over TLS' },
  { key: 'diagnostics', flag: 'diagnostics-port', env: 'KUMA_DIAGNOSTICS_SERVER_PORT', default: 5680, describe: 'diagnostics: /healthy, /ready, /metrics' },
  { key: 'mads', flag: 'mads-port', env: 'KUMA_MONITORING_ASSIGNMENT_SERVER_PORT', default: 5676, describe: 'monitoring assignments for Prometheus' },
  { key: 'kds', flag: 'kds-port', env: 'KUMA_MULTIZONE_GLOBAL_KDS_GRPC_PORT', default: 5685, describe: 'KDS for zones, gRPC over TLS (global mode only)' },
] as const;

const MODES_HELP = [
  "Modes (--mode, KUMA_MODE) and their ports, as on Kuma's networking page:",
  '  standalone  5676 MADS, 5678 DP server, 5680 diagnostics,',
  '              5681 API + GUI, 5682 API + GUI over TLS',
  "  zone        the same, and connects to the global's 5685 (--global-address);",
  "              without a global address, zone is standalone (Kuma's default)",
  '  global      5680, 5681, 5682 and 5685 KDS for the zones',
  '5443 (the admission webhook) is Kubernetes-only: kuma-mini-cp never opens it.',
].join('\n');

function port(value: unknown, what: string): number {
  const text = String(value).trim();
  const n = Number(text);
  if (text === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new UserError(`${what}: '${text}' is not a port (0-65535; 0 picks a free one)`);
  return n;
}

function pick(args: Record<string, unknown>, flag: string, env: string | undefined): { value: unknown; from: string } | undefined {
  // A flag given twice: the last one wins, as with Kuma's (cobra) flags.
  const given = args[flag];
  if (given !== undefined) return { value: Array.isArray(given) ? given[given.length - 1] : given, from: `--${flag}` };
  if (env && process.env[env] !== undefined && process.env[env] !== '') return { value: process.env[env], from: env };
  return undefined;
}

/** A flag's or variable's value as text (yargs gives strings for string options; anything else is shown as JSON). */
const text = (value: unknown, fallback: string): string => (value === undefined ? fallback : typeof value === 'string' ? value : JSON.stringify(value));

/** Kuma's bootstrapServer.params.envoyAdminUnixSocket: true unless turned off. */
function adminUnixSocket(given: { value: unknown; from: string } | undefined): boolean {
  if (!given) return true;
  const value = text(given.value, '').toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UserError(`${given.from}: '${value}' must be true or false`);
}

const list = (value: unknown): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map((v) => text(v, '')) : [text(value, '')]);

async function run(args: Record<string, unknown>): Promise<number> {
  const level = pick(args, 'log-level', 'KUMA_LOG_LEVEL');
  const logLevel = text(level?.value, 'info');
  try {
    setLogLevel(logLevel);
  } catch (err) {
    throw new UserError(`${level?.from}: ${(err as Error).message}`);
  }
  // The ready line (addresses, CA path) is what scripts read: it is printed whatever the level, which applies from then on.
  if (logLevel === 'warn' || logLevel === 'error') setLogLevel('info');
  const ports: Partial<MiniCpPorts> = {};
  for (const p of PORTS) {
    const given = pick(args, p.flag, p.env);
    ports[p.key] = given ? port(given.value, given.from) : p.default;
  }
  const authGiven = pick(args, 'auth', 'KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE');
  const authText = text(authGiven?.value, 'dp-token');
  const auth = authText === 'dp-token' || authText === 'dpToken' ? 'dp-token' : authText === 'none' ? 'none' : undefined;
  if (!auth) throw new UserError(`${authGiven?.from ?? '--auth'}: '${authText}' is not an auth mode; use dp-token or none`);
  const debounce = pick(args, 'push-debounce', undefined);
  const meshes = list(args.mesh);
  const modeGiven = pick(args, 'mode', 'KUMA_MODE');
  const globalAddress = pick(args, 'global-address', 'KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS')?.value as string | undefined;
  const modeText = text(modeGiven?.value, 'zone');
  const mode = effectiveMode(modeText, globalAddress);
  if (!mode) throw new UserError(`${modeGiven?.from ?? '--mode'}: '${modeText}' is not a mode; use standalone, zone or global`);
  const zoneGiven = pick(args, 'zone', 'KUMA_MULTIZONE_ZONE_NAME');
  const zoneName = text(zoneGiven?.value, 'default');
  if (!ZONE_NAME.test(zoneName)) throw new UserError(`${zoneGiven?.from ?? '--zone'}: '${zoneName}' is not a zone name (a DNS label: a-z, 0-9, '-')`);
  if (mode === 'zone') kdsTarget(globalAddress!);
  if (mode === 'global' && globalAddress)
    throw new UserError(`${modeGiven?.from}: a global has no global address; unset KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS / --global-address`);
  const skipVerify = pick(args, 'kds-tls-skip-verify', 'KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY');

  const { startMiniCp } = await import('../minicp/index.js');
  const cp = await startMiniCp({
    workDir: args['work-dir'] as string | undefined,
    bindAddress: String(args['bind-address']),
    apiHttpInterface: pick(args, 'api-server-http-interface', 'KUMA_API_SERVER_HTTP_INTERFACE')?.value as string | undefined,
    apiHttpsInterface: pick(args, 'api-server-https-interface', 'KUMA_API_SERVER_HTTPS_INTERFACE')?.value as string | undefined,
    ports,
    dpServerTls: args['dp-server-tls'] !== false,
    tlsCertFile: pick(args, 'tls-cert-file', 'KUMA_GENERAL_TLS_CERT_FILE')?.value as string | undefined,
    tlsKeyFile: pick(args, 'tls-key-file', 'KUMA_GENERAL_TLS_KEY_FILE')?.value as string | undefined,
    auth,
    storeFile: args['store-file'] as string | undefined,
    meshes: meshes.length > 0 ? meshes : undefined,
    xdsHost: pick(args, 'xds-host', 'KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST')?.value as string | undefined,
    hostnames: list(args.hostname),
    pushDebounceMs: debounce ? parseDuration(String(debounce.value), '--push-debounce') : undefined,
    templatesDir: args['envoy-templates-dir'] as string | undefined,
    apiAdminFromAnywhere: args['api-admin-from-anywhere'] === true,
    envoyAdminUnixSocket: adminUnixSocket(pick(args, 'envoy-admin-unix-socket', 'KUMA_BOOTSTRAP_SERVER_PARAMS_ENVOY_ADMIN_UNIX_SOCKET')),
    mode,
    multizone: {
      zoneName,
      globalAddress,
      rootCaFile: pick(args, 'kds-root-ca-file', 'KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE')?.value as string | undefined,
      tlsSkipVerify: skipVerify ? ['true', '1', 'yes'].includes(text(skipVerify.value, '').toLowerCase()) : false,
    },
  });
  setLogLevel(logLevel);

  const ended = await Promise.race([
    new Promise<{ signal: NodeJS.Signals }>((resolve) => {
      process.once('SIGTERM', () => resolve({ signal: 'SIGTERM' }));
      process.once('SIGINT', () => resolve({ signal: 'SIGINT' }));
    }),
    cp.failed.then((error) => ({ error })),
  ]);
  if ('error' in ended) log.error('a server stopped working; shutting down', { error: ended.error.message });
  else log.info('shutting down', { signal: ended.signal });
  await cp.close();
  log.info('stopped');
  return 'error' in ended ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  let status = 0;
  const portOptions = Object.fromEntries(
    PORTS.map((p) => [p.flag, { type: 'string' as const, describe: `${p.describe} (default ${p.default}) [env ${p.env}]` }]),
  );
  await yargs(argv)
    .scriptName('kuma-mini-cp')
    .usage(
      '$0 <command> [flags]\n\nA small Kuma control plane: bootstrap and xDS for kuma-dp/Envoy, a Kuma-shaped API, tokens, diagnostics and monitoring assignments.',
    )
    .command(
      'run',
      'Start the control plane and serve until SIGTERM/SIGINT',
      (y) =>
        y
          .epilogue(MODES_HELP)
          .options(portOptions)
          .options({
            mode: { type: 'string', describe: 'standalone, zone or global (default zone, which is standalone without --global-address) [env KUMA_MODE]' },
            zone: { type: 'string', describe: "This zone's name (default 'default') [env KUMA_MULTIZONE_ZONE_NAME]" },
            'global-address': { type: 'string', describe: "The global's KDS, grpcs://host:5685 (zone mode) [env KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS]" },
            'kds-root-ca-file': {
              type: 'string',
              describe:
                "CA the global's KDS certificate must chain to, e.g. the global's <work-dir>/ca.crt (default: the system's CAs) [env KUMA_MULTIZONE_ZONE_KDS_ROOT_CA_FILE]",
            },
            'kds-tls-skip-verify': {
              type: 'string',
              describe: "Do not verify the global's KDS certificate (experiments only) [env KUMA_MULTIZONE_ZONE_KDS_TLS_SKIP_VERIFY]",
            },
            'bind-address': {
              type: 'string',
              default: '127.0.0.1',
              describe: "Address every server listens on (0.0.0.0 for all interfaces: see the README's Security section first)",
            },
            'api-server-http-interface': { type: 'string', describe: 'Address of the HTTP API (default: --bind-address) [env KUMA_API_SERVER_HTTP_INTERFACE]' },
            'api-server-https-interface': {
              type: 'string',
              describe: 'Address of the HTTPS API (default: --bind-address) [env KUMA_API_SERVER_HTTPS_INTERFACE]',
            },
            'work-dir': { type: 'string', describe: 'Directory for ca.crt, the CA key and the token signing key (default: a new temp dir)' },
            'dp-server-tls': { type: 'boolean', default: true, describe: 'Serve the DP server over TLS (--no-dp-server-tls: plaintext HTTP/1.1 + h2c)' },
            'tls-cert-file': {
              type: 'string',
              describe: 'Server certificate (PEM, chain allowed) instead of a generated one [env KUMA_GENERAL_TLS_CERT_FILE]',
            },
            'tls-key-file': { type: 'string', describe: 'Key of --tls-cert-file [env KUMA_GENERAL_TLS_KEY_FILE]' },
            auth: { type: 'string', describe: 'Proxy authentication: dp-token (default) or none [env KUMA_DP_SERVER_AUTHN_DP_PROXY_TYPE]' },
            'store-file': { type: 'string', describe: 'Keep meshes and dataplanes in this JSON file (atomic writes) instead of only in memory' },
            mesh: { type: 'string', array: true, describe: 'Meshes that exist from the start (default: default); repeatable' },
            'xds-host': {
              type: 'string',
              describe: 'Host proxies are told to reach ADS on (default: the host they used for the bootstrap) [env KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST]',
            },
            hostname: { type: 'string', array: true, describe: 'Extra DNS name or IP for the generated server certificate; repeatable' },
            'push-debounce': { type: 'string', describe: 'How long changes are gathered before a push (default 50ms)' },
            'envoy-templates-dir': { type: 'string', describe: 'Envoy resource templates (default: the bundled envoy-templates/)' },
            'api-admin-from-anywhere': {
              type: 'boolean',
              default: false,
              describe:
                "Accept API writes, POST /tokens/dataplane and a proxy's configuration from other hosts without the admin token (default: only from this host or with <work-dir>/admin-token)",
            },
            'envoy-admin-unix-socket': {
              type: 'string',
              describe:
                "Put each proxy's Envoy admin API on <workdir>/kuma-envoy-admin.sock, as Kuma >= 2.14 (default true; false: TCP 127.0.0.1:<admin port>) [env KUMA_BOOTSTRAP_SERVER_PARAMS_ENVOY_ADMIN_UNIX_SOCKET]",
            },
            'log-level': { type: 'string', describe: 'debug, info, warn or error (default info) [env KUMA_LOG_LEVEL]' },
          }),
      async (args) => {
        status = await run(args);
      },
    )
    .demandCommand(1, 'Name a command: run')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UserError(`${msg}\nRun 'kuma-mini-cp --help' for usage.`);
    })
    .parseAsync();
  return status;
}

main(hideBin(process.argv)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.exitCode = reportFailure('kuma-mini-cp', err);
  },
);
