// envoy-standin: a test double that honours Envoy's contract at its
// interfaces (command line, admin API, ADS client, TCP/HTTP proxying) so the
// agent and the control plane can be tested end to end without an Envoy
// binary. It is not Envoy; see README.md for what it does and does not do.
import { ArgvError, HELP, parseArgv, type Options } from './cli.js';
import type { Bootstrap } from './envoy-config.js';
import { logger, setLevels, setLogPath } from './log.js';
import { buildVersion, versionBanner } from './version.js';

const log = logger('main');

function failConfig(options: Options, reason: string): never {
  const line = `error initializing configuration '${options.configPath}': ${reason}`;
  if (options.mode === 'validate') process.stderr.write(`${line}\n`);
  else log('critical', line);
  process.exit(1);
}

/** What `--mode validate` checks beyond the proto rules: each static resource as Envoy would add it. */
async function checkStatic(bootstrap: Bootstrap): Promise<void> {
  const { checkCluster } = await import('./clusters.js');
  const { checkListener } = await import('./listeners.js');
  const { ConfigError } = await import('./config.js');
  for (const c of bootstrap.static_resources?.clusters ?? []) {
    try {
      checkCluster(c);
    } catch (err) {
      throw new ConfigError(`cluster '${c.name}': ${(err as Error).message}`);
    }
  }
  for (const l of bootstrap.static_resources?.listeners ?? []) checkListener(l);
}

/** Envoy exits at once on SIGTERM/SIGINT and ignores SIGHUP; installed first thing, so even a signal during start-up is handled. */
function installSignalHandlers(): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log('warning', `caught ${signal}`);
      log('info', 'exiting');
      process.exit(0);
    });
  }
  process.on('SIGHUP', () => log('debug', 'caught SIGHUP; ignored'));
  process.on('SIGUSR1', () => log('debug', 'caught SIGUSR1 (reopen access logs); nothing to reopen'));
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgv(argv);
  } catch (err) {
    if (!(err instanceof ArgvError)) throw err;
    process.stderr.write(err.message.endsWith('\n') ? err.message : `${err.message}\n`);
    process.exit(1);
  }
  if (parsed.kind === 'version') {
    process.stdout.write(versionBanner());
    return;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const options = parsed.options;
  setLevels(options.logLevel, options.componentLogLevel);
  const logPath = options.raw.get('log-path');
  if (typeof logPath === 'string' && logPath) setLogPath(logPath);
  // Node's deprecation notices (e.g. TLS servername set to an IP by the gRPC client) are not Envoy output.
  process.noDeprecation = true;
  log('info', `envoy-standin (a test double for Envoy, not Envoy) version: ${buildVersion()}`);
  log('info', `initializing epoch ${options.restartEpoch} (base id=${options.baseId}, hot restart version=disabled)`);
  // Only --version, --help and parse errors come before this: they need none of the rest.
  const { ConfigError, loadBootstrap } = await import('./config.js');
  let bootstrap: Bootstrap;
  try {
    bootstrap = await loadBootstrap(options.configPath, options.configYaml);
    if (options.serviceNode) bootstrap.node = { ...bootstrap.node, id: options.serviceNode };
    if (options.serviceCluster) bootstrap.node = { ...bootstrap.node, cluster: options.serviceCluster };
    if (options.mode === 'validate') await checkStatic(bootstrap);
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof Error && err.name === 'EnvoyConfigError')) failConfig(options, err.message);
    throw err;
  }
  if (options.mode === 'validate') {
    process.stdout.write(`configuration '${options.configPath}' OK\n`);
    return;
  }

  const { StandinServer } = await import('./server.js');
  const { startAdmin } = await import('./admin.js');
  const server = new StandinServer(options, bootstrap);
  const quit = (): void => {
    log('info', 'shutting down server instance');
    server.shutdown();
    process.exit(0);
  };
  try {
    const admin = await startAdmin(server, quit);
    if (admin) log('info', `admin address: ${admin.where.kind === 'tcp' ? `${admin.where.host}:${admin.where.port}` : admin.where.path}`);
    await server.start();
  } catch (err) {
    if (err instanceof ConfigError) failConfig(options, err.message);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' || (err as NodeJS.ErrnoException).code === 'EACCES') {
      failConfig(options, `cannot bind admin address: ${(err as Error).message}`);
    }
    throw err;
  }
  if (options.mode === 'init_only') quit();
}

installSignalHandlers();
main(process.argv.slice(2)).catch((err: unknown) => {
  log('critical', `${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
