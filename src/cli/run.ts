// `kuma-dp run`: the agent's one-way pipeline
//   flags + env → config → Dataplane → bootstrap request → bootstrap
//   → Envoy config → validation → components (those that can fail at start
//   before Envoy, the rest right after its spawn) → supervision.
// This is the agent's composition root: every component is built here and
// handed to the supervisor; nothing below reaches back up.
import type { AgentConfig, MetricsSource } from '../config/agent-config.js';
import type { KumaSidecarConfiguration } from '../bootstrap/response.js';
import { isAbortError } from '../bootstrap/retry.js';
import { readCaCert } from '../config/ca.js';
import { checkTokenShape, readTokenFile } from '../config/token.js';
import { loadDataplane } from '../dataplane/load.js';
import { formatAdmin } from '../envoy/admin-address.js';
import { envoyArgs } from '../envoy/args.js';
import { envoyVersion, findEnvoyBinary } from '../envoy/binary.js';
import { EnvoyProcess } from '../envoy/process.js';
import type { AdminAddress } from '../envoy/admin.js';
import type { Dataplane } from '../dataplane/types.js';
import type { DnsProxy } from '../dns/proxy.js';
import type { OwnSeries } from '../exposition/own-series.js';
import type { Component } from '../lifecycle/component.js';
import type { AgentControls, Lifecycle } from '../lifecycle/phase.js';
import type { Logger } from '../log/logger.js';
import { AgentStats } from '../lifecycle/agent-stats.js';
import { openWorkDir, type WorkDir } from '../envoy/workdir.js';
import { createLogger } from '../log/logger.js';
import { SignalCounter } from '../supervisor/signals.js';
import { UserError } from '../util/errors.js';
import { accessLogSocketName, dynamicConfigSocketName, metricsHijackerSocketName } from '../util/socket-name.js';
import { buildInfo } from './build-info.js';

const log = createLogger('kuma-dp');
const ENVOY_KILL_GRACE_MS = 5000;

/** Runs the agent until Envoy is gone; resolves with the exit status. */
export async function runAgent(config: AgentConfig): Promise<number> {
  const signals = new SignalCounter({
    onSignal: (signal, count) => log.info('signal received', { signal, count }),
    onUnhandledDrain: () => log.info('SIGUSR2 received before Envoy runs: nothing to drain'),
  });
  const stats = new AgentStats();
  let workDir: WorkDir | undefined;
  try {
    // Independent checks run side by side; either failing stops the agent before the CP is contacted.
    const binary = findEnvoyBinary(config.envoy.binaryPath);
    // The bootstrap client and the renderer (yaml) take a while to load: load them while `envoy --version` runs.
    const bootstrapModules = Promise.all([
      import('../bootstrap/request.js'),
      import('../bootstrap/client.js'),
      import('../bootstrap/host.js'),
      import('../bootstrap/features.js'),
    ]);
    bootstrapModules.then(
      ([, client]) => client.preloadHttpClient(config.controlPlane.url),
      () => undefined,
    );
    // The validator's code loads meanwhile; Envoy's descriptor is read only to validate, and dropped after.
    const validation = config.envoy.validateConfig ? import('../validate/validation.js') : undefined;
    validation?.catch(() => undefined);
    const renderModule = import('../render/envoy-config.js');
    bootstrapModules.catch(() => undefined); // a failure surfaces where it is awaited
    renderModule.catch(() => undefined);
    const [dataplane, envoy] = await Promise.all([loadDataplane({ ...config.dataplane }), envoyVersion(binary)]);
    if (envoy.kumaDpCompatible) log.info('Envoy version is compatible', { path: binary, version: envoy.version });
    else log.warn('Envoy version may not be compatible with this kuma-dp', { path: binary, version: envoy.version, build: envoy.build });

    workDir = openWorkDir(config.envoy.workDir);
    log.info('work directory', { path: workDir.path, temporary: workDir.temporary });
    // The access-log pipe is made (a child process: Node has no mkfifo) while the control plane is asked; the streamer reads it.
    const accessLogPipe = accessLogPipePath(workDir.path, dataplane.name, dataplane.mesh);
    const accessLogPipeMade = import('../accesslog/fifo.js').then((m) => m.makeFifo(accessLogPipe));
    accessLogPipeMade.catch(() => undefined); // awaited by the streamer's start
    const token = resolveToken(config, workDir);
    const caCertPem = readCaCert(config.controlPlane);

    const [{ buildBootstrapRequest }, { fetchBootstrap }, host, { agentFeatures }] = await bootstrapModules;
    const request = buildBootstrapRequest({
      mesh: dataplane.mesh,
      name: dataplane.name,
      proxyType: config.dataplane.proxyType,
      ...(token ? { dataplaneToken: token.value, dataplaneTokenPath: token.path } : {}),
      dataplaneResource: dataplane.resourceJson,
      kumaDp: buildInfo(),
      envoy,
      ...(caCertPem ? { caCert: caCertPem } : {}),
      dnsPort: config.dnsPort,
      features: agentFeatures({ dnsEnabled: config.dns.enabled, ...config.features }),
      readinessPort: config.readinessPort,
      workdir: workDir.path,
      metricsCertPath: config.metrics.certPath,
      metricsKeyPath: config.metrics.keyPath,
      // As Kuma: the cgroup's memory limit sizes Envoy's overload manager; IPv6 only where the host has it.
      maxHeapSizeBytes: config.host.maxMemoryBytes || host.detectMaxMemory(),
      ipv6Enabled: config.host.ipv6Enabled ?? host.hasLocalIPv6(),
    });
    // The supervisor's and the components' modules load while the control plane answers.
    const besideModules = loadBesideModules(config, dnsWanted(config, dataplane.resource));
    besideModules.catch(() => undefined); // a failure surfaces where it is awaited
    const fetched = await fetchBootstrap(request, {
      cpAddress: config.controlPlane.url,
      ...(caCertPem ? { caCertPem } : {}),
      skipVerify: config.controlPlane.skipVerify,
      retryBackoffMs: config.controlPlane.retryBackoffMs,
      retryMaxDurationMs: config.controlPlane.retryMaxDurationMs,
      requestTimeoutMs: 10_000,
      signal: signals.abort.signal,
      log,
      onAttempt: (n) => (stats.bootstrapAttempts = n),
    });

    const { buildEnvoyConfig } = await renderModule;
    const envoyConfig = buildEnvoyConfig(fetched.bootstrapYaml, dataplane.resource, config.envoy.templatesDir, config.outboundUpstreams);
    if (validation) await validateConfig(await validation, envoyConfig.json, config.envoy.strictValidation);
    const configPath = workDir.writePrivate('bootstrap.yaml', envoyConfig.text);
    log.info('bootstrap configuration saved to a file', {
      file: configPath,
      mode: envoyConfig.mode,
      admin: formatAdmin(envoyConfig.admin),
    });
    if (signals.received > 0) {
      log.info('stopped before Envoy was started');
      return 0;
    }

    const envoyProcess = new EnvoyProcess({
      binary,
      args: envoyArgs({
        configPath,
        drainTimeMs: config.dataplane.drainTimeMs,
        logLevel: config.envoy.logLevel,
        ...(config.envoy.componentLogLevel ? { componentLogLevel: config.envoy.componentLogLevel } : {}),
        ...(config.envoy.concurrency !== undefined ? { concurrency: config.envoy.concurrency } : {}),
      }),
      log: log.child('envoy'),
    });
    const modules = await besideModules;
    const { Supervisor } = modules.supervisor;
    const { adminClient } = modules.admin;
    const supervisor = new Supervisor({
      envoy: envoyProcess,
      admin: adminClient(envoyConfig.admin),
      drainTimeMs: config.dataplane.drainTimeMs,
      drainMinTimeMs: config.dataplane.drainMinTimeMs,
      inboundPorts: (dataplane.resource?.networking?.inbound ?? []).map((i) => i.port),
      killGraceMs: ENVOY_KILL_GRACE_MS,
      restart: config.envoy.restart,
      workDir,
      signals,
      stats,
      log: log.child('supervisor'),
    });
    // The components that can fail on a busy port or must exist before Envoy start before it, the rest right after its spawn.
    const beside = besideEnvoy(modules, {
      config,
      admin: envoyConfig.admin,
      lifecycle: supervisor.lifecycle,
      controls: supervisor.controls,
      stats,
      ...(fetched.kumaSidecarConfiguration ? { sidecar: fetched.kumaSidecarConfiguration } : {}),
      dataplane: { name: dataplane.name, mesh: dataplane.mesh, ...(dataplane.resource ? { resource: dataplane.resource } : {}) },
      workDir: workDir.path,
      accessLogPipe: { path: accessLogPipe, made: accessLogPipeMade },
      log,
    });
    return await supervisor.run(beside.before, beside.after);
  } catch (err) {
    if (isAbortError(err) || (signals.received > 0 && !(err instanceof UserError))) {
      log.info('stopped before Envoy was started', { signal: true });
      return 0;
    }
    throw err;
  } finally {
    signals.dispose();
    const kept = workDir?.cleanup().keptBecause;
    if (kept) log.warn(`the temporary work dir is kept: ${kept}`, { path: workDir!.path });
  }
}

interface BesideEnvoy {
  config: AgentConfig;
  admin: AdminAddress;
  lifecycle: Lifecycle;
  controls: AgentControls;
  stats: AgentStats;
  sidecar?: KumaSidecarConfiguration;
  /** The Dataplane's name and mesh as sent in the bootstrap request, and the resource when one was given. */
  dataplane: { name: string; mesh: string; resource?: Dataplane };
  workDir: string;
  /** <workdir>/kuma-al-<name>-<mesh>.sock, and the making of it (started early; it resolves with what it replaced). */
  accessLogPipe: { path: string; made: Promise<string> };
  log: Logger;
}

/** The applications' metrics endpoints the control plane names (Kuma's metrics.aggregate). */
export function controlPlaneMetricsSources(sidecar: KumaSidecarConfiguration | undefined): MetricsSource[] {
  return (sidecar?.metrics?.aggregate ?? []).flatMap((a) => {
    if (!a.name || !a.port) return [];
    const path = a.path ? (a.path.startsWith('/') ? a.path : `/${a.path}`) : '/metrics';
    return [{ name: a.name, url: `http://${a.address || '127.0.0.1'}:${a.port}${path}` }];
  });
}

/** --metrics-aggregate, then the control plane's metrics.aggregate entries of other names. */
function metricsSources({ config, sidecar }: BesideEnvoy): MetricsSource[] {
  return [...config.metrics.aggregate, ...controlPlaneMetricsSources(sidecar).filter((s) => !config.metrics.aggregate.some((own) => own.name === s.name))];
}

/**
 * The modules of the supervisor and of the components the configuration wants,
 * started loading together; a component's module is loaded only when it is wanted.
 */
async function loadBesideModules(config: AgentConfig, dnsProxyWanted: boolean) {
  const dns = dnsProxyWanted ? Promise.all([import('../dns/proxy.js'), import('../dns/upstream.js')]) : undefined;
  const [supervisor, admin, ownSeries, accessLog, hijacker, dynconf, notify, readiness, lifecycleEndpoints, metricsServer, dnsModules] = await Promise.all([
    import('../supervisor/supervisor.js'),
    import('../envoy/admin.js'),
    import('../exposition/own-series.js'),
    import('../accesslog/streamer.js'),
    import('../metrics/hijacker.js'),
    import('../dynconf/fetcher.js'),
    config.notifySocket ? import('../notify/sd-notify.js') : undefined,
    config.readinessPort !== 0 ? import('../readiness/reporter.js') : undefined,
    config.lifecyclePort !== 0 ? import('../readiness/lifecycle-endpoints.js') : undefined,
    config.metrics.address ? import('../metrics/server.js') : undefined,
    dns,
  ]);
  return { supervisor, admin, ownSeries, accessLog, hijacker, dynconf, notify, readiness, lifecycleEndpoints, metricsServer, dns: dnsModules };
}

type BesideModules = Awaited<ReturnType<typeof loadBesideModules>>;

/**
 * The components that run beside Envoy, chosen from the configuration. `before`
 * start before Envoy is spawned: the access-log pipe's reader must exist before
 * Envoy opens it, and the servers can fail on a busy port. `after` cannot fail
 * at start and need nothing before Envoy runs: they start right after its spawn.
 */
function besideEnvoy(modules: BesideModules, ctx: BesideEnvoy): { before: Component[]; after: Component[] } {
  const { config, admin, lifecycle, controls, log } = ctx;
  const before: Component[] = [];
  const after: Component[] = [];
  const series = new modules.ownSeries.OwnSeries();
  // The proxy's address: the control plane's word for it, else the Dataplane's.
  const proxyAddress = ctx.sidecar?.networking?.address || ctx.dataplane.resource?.networking?.address;
  // Always, as Kuma: the pipe must be read before Envoy opens it (a FIFO without a reader blocks Envoy's main thread).
  before.push(new modules.accessLog.AccessLogStreamer({ path: ctx.accessLogPipe.path, made: ctx.accessLogPipe.made, series, log: log.child('access-log') }));
  // As Kuma's kuma-dp: the DNS proxy, the metrics socket and the dynamic-configuration fetcher that feeds both.
  const dns = dnsProxy(modules, ctx, series);
  if (dns) before.push(dns);
  const hijacker = new modules.hijacker.MetricsHijacker({
    socketPath: metricsHijackerSocketName(ctx.workDir, ctx.dataplane.name, ctx.dataplane.mesh),
    admin,
    defaultAddress: proxyAddress || '127.0.0.1',
    legacySources: metricsSources(ctx),
    ownSeries: () => series.families(),
    log: log.child('metrics-hijacker'),
  });
  before.push(hijacker);
  // Its documents come from an Envoy listener: nothing to fetch before Envoy runs.
  const { ConfigFetcher, unixSocketGet } = modules.dynconf;
  after.push(
    new ConfigFetcher({
      get: unixSocketGet(dynamicConfigSocketName(ctx.workDir)),
      consumers: [...(dns ? [dns.consumer] : []), hijacker.consumer],
      intervalMs: config.dynamicConfigRefreshMs,
      series,
      log: log.child('dynamic-config'),
    }),
  );
  if (config.notifySocket && modules.notify) {
    const { SdNotifier } = modules.notify;
    after.push(
      new SdNotifier({ socket: config.notifySocket, lifecycle, ...(config.watchdogMs ? { watchdogMs: config.watchdogMs } : {}), log: log.child('sd-notify') }),
    );
  }
  if (config.readinessPort !== 0 && modules.readiness) {
    const { ReadinessReporter, readinessAddress } = modules.readiness;
    before.push(
      new ReadinessReporter({
        port: config.readinessPort,
        host: readinessAddress(admin, config.inPod, proxyAddress),
        admin,
        lifecycle,
        ...(dns ? { dnsReady: () => dns.ready } : {}),
        log: log.child('readiness'),
      }),
    );
  }
  if (config.lifecyclePort !== 0 && modules.lifecycleEndpoints) {
    const { LifecycleEndpoints } = modules.lifecycleEndpoints;
    before.push(new LifecycleEndpoints({ port: config.lifecyclePort, controls, log: log.child('lifecycle-endpoints') }));
  }
  if (config.metrics.address && modules.metricsServer) {
    const { MetricsServer } = modules.metricsServer;
    before.push(
      new MetricsServer({
        ...config.metrics.address,
        admin,
        sources: metricsSources(ctx),
        stats: ctx.stats,
        ownSeries: () => series.families(),
        lifecycle,
        log: log.child('metrics'),
      }),
    );
  }
  return { before, after };
}

/**
 * The DNS proxy runs when enabled and the Dataplane uses transparent
 * proxying: only then does anything send DNS to it, and only then does the
 * control plane send a map. (Kuma starts it whenever it is enabled, as a bare
 * forwarder on 0.0.0.0 without transparent proxying.)
 */
function dnsWanted(config: AgentConfig, resource: Dataplane | undefined): boolean {
  return config.dns.enabled && Boolean(resource?.networking?.transparentProxying);
}

function dnsProxy(modules: BesideModules, ctx: BesideEnvoy, series: OwnSeries): DnsProxy | undefined {
  const { config, log } = ctx;
  if (!config.dns.enabled) return undefined;
  if (!modules.dns || !dnsWanted(config, ctx.dataplane.resource)) {
    log.info('DNS proxy not started: the Dataplane does not use transparent proxying (networking.transparentProxying)');
    return undefined;
  }
  const [{ DnsProxy }, { resolveUpstream }] = modules.dns;
  return new DnsProxy({ addresses: ['127.0.0.1'], port: config.dns.port, upstream: resolveUpstream(config.dns.upstream), series, log: log.child('dns-proxy') });
}

/** Kuma's AccessLogSocketName; a work dir whose name cannot be cut as Kuma cuts it is the user's to change. */
function accessLogPipePath(workdir: string, name: string, mesh: string): string {
  try {
    return accessLogSocketName(workdir, name, mesh);
  } catch (err) {
    throw new UserError(`${(err as Error).message} (--work-dir)`);
  }
}

function resolveToken(config: AgentConfig, workDir: WorkDir): { value: string; path: string } | undefined {
  if (config.token.file) return { value: readTokenFile(config.token.file), path: config.token.file };
  if (config.token.inline) {
    const value = checkTokenShape(config.token.inline, '--dataplane-token (KUMA_DATAPLANE_RUNTIME_TOKEN)');
    return { value, path: workDir.writePrivate('dataplane-token', value) };
  }
  return undefined;
}

/**
 * Validation against Envoy's protos, in-process: the descriptor is read for this call only, so its memory
 * is given back. A definite violation of a known field stops the launch; what the descriptor does not
 * know (it may be newer than its API) is a warning naming the path, and Envoy judges, unless `strict`.
 */
async function validateConfig(
  { validateOnce, splitIssues, BOOTSTRAP_TYPE, VALIDATOR_ENVOY_API }: typeof import('../validate/validation.js'),
  json: Record<string, unknown>,
  strict: boolean,
): Promise<void> {
  const issues = await validateOnce(json, BOOTSTRAP_TYPE);
  const { definite, unknown } = splitIssues(issues);
  const fatal = strict ? issues : definite;
  if (fatal.length > 0) {
    const list = fatal
      .slice(0, 20)
      .map((i) => `  ${i.path}: ${i.unknown ? '[unknown to the validator] ' : ''}${i.message}`)
      .join('\n');
    const more = fatal.length > 20 ? `\n  ... and ${fatal.length - 20} more` : '';
    const why = strict
      ? `--strict-config-validation: ${fatal.length} problem${fatal.length > 1 ? 's' : ''}, ${unknown.length} of them only unknown to the validator (its Envoy API is ${VALIDATOR_ENVOY_API})`
      : `the Envoy config would be rejected by Envoy (${fatal.length} error${fatal.length > 1 ? 's' : ''})`;
    throw new UserError(`${why}; not starting Envoy:\n${list}${more}\n(--skip-config-validation starts Envoy anyway)`);
  }
  for (const issue of unknown) {
    log.warn(`the config validator does not know this (its Envoy API is ${VALIDATOR_ENVOY_API}); Envoy will judge it`, {
      path: issue.path,
      problem: issue.message,
    });
  }
  if (unknown.length === 0) log.info("Envoy config validated against Envoy's protos");
  else log.info("Envoy config validated against Envoy's protos, but for parts the validator does not know", { unknown: unknown.length });
}
