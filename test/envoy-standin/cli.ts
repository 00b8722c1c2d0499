// Command-line parsing with Envoy's flags and Envoy's parser behaviour
// (TCLAP: `--flag value` as separate arguments, no `--flag=value`, unknown
// arguments are a parse error with exit 1). Options the stand-in does not act
// on are still accepted, so a caller's command line is checked as Envoy would.
import { availableParallelism } from 'node:os';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;

interface FlagSpec {
  long: string;
  short?: string;
  kind: 'string' | 'uint32' | 'uint64' | 'switch' | 'multi';
}

const FLAGS: FlagSpec[] = [
  { long: 'config-path', short: 'c', kind: 'string' },
  { long: 'config-yaml', kind: 'string' },
  { long: 'mode', kind: 'string' },
  { long: 'admin-address-path', kind: 'string' },
  { long: 'local-address-ip-version', kind: 'string' },
  { long: 'base-id', kind: 'uint32' },
  { long: 'use-dynamic-base-id', kind: 'switch' },
  { long: 'base-id-path', kind: 'string' },
  { long: 'skip-hot-restart-on-no-parent', kind: 'switch' },
  { long: 'skip-hot-restart-parent-stats', kind: 'switch' },
  { long: 'concurrency', kind: 'uint32' },
  { long: 'log-level', short: 'l', kind: 'string' },
  { long: 'component-log-level', kind: 'string' },
  { long: 'log-format', kind: 'string' },
  { long: 'log-format-escaped', kind: 'switch' },
  { long: 'log-path', kind: 'string' },
  { long: 'enable-fine-grain-logging', kind: 'switch' },
  { long: 'restart-epoch', kind: 'uint32' },
  { long: 'hot-restart-version', kind: 'switch' },
  { long: 'service-cluster', kind: 'string' },
  { long: 'service-node', kind: 'string' },
  { long: 'service-zone', kind: 'string' },
  { long: 'file-flush-interval-msec', kind: 'uint32' },
  { long: 'drain-time-s', kind: 'uint32' },
  { long: 'drain-strategy', kind: 'string' },
  { long: 'parent-shutdown-time-s', kind: 'uint32' },
  { long: 'disable-hot-restart', kind: 'switch' },
  { long: 'enable-mutex-tracing', kind: 'switch' },
  { long: 'cpuset-threads', kind: 'switch' },
  { long: 'disable-extensions', kind: 'string' },
  { long: 'allow-unknown-static-fields', kind: 'switch' },
  { long: 'reject-unknown-dynamic-fields', kind: 'switch' },
  { long: 'ignore-unknown-dynamic-fields', kind: 'switch' },
  { long: 'enable-core-dump', kind: 'switch' },
  { long: 'socket-path', kind: 'string' },
  { long: 'socket-mode', kind: 'string' },
  { long: 'stats-tag', kind: 'multi' },
];

export interface Options {
  configPath: string;
  configYaml: string;
  mode: 'serve' | 'validate' | 'init_only';
  adminAddressPath: string;
  baseId: number;
  concurrency: number;
  logLevel: string;
  componentLogLevel: string;
  drainTimeS: number;
  drainStrategy: 'gradual' | 'immediate';
  parentShutdownTimeS: number;
  disableHotRestart: boolean;
  restartEpoch: number;
  serviceCluster: string;
  serviceNode: string;
  serviceZone: string;
  localAddressIpVersion: 'v4' | 'v6';
  /** Every flag as given, by long name, for /server_info. */
  raw: Map<string, string | true | string[]>;
}

export type ParseResult = { kind: 'options'; options: Options } | { kind: 'version' } | { kind: 'help' };

/** A command line Envoy's parser would refuse; `message` is what it prints to stderr. */
export class ArgvError extends Error {}

const BRIEF_USAGE = `Brief USAGE: \n   envoy  ${FLAGS.map((f) => `[--${f.long}${f.kind === 'switch' ? '' : ' <value>'}]`).join(' ')} [--] [--version] [-h]\n\nFor complete USAGE and HELP type: \n   envoy --help\n`;

function parseError(argId: string, error: string): ArgvError {
  return new ArgvError(`PARSE ERROR: ${argId}\n             ${error}\n\n${BRIEF_USAGE}`);
}

function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short} <${spec.kind}>,  --${spec.long} <${spec.kind}>` : `--${spec.long}${spec.kind === 'switch' ? '' : ` <${spec.kind}>`}`;
}

export const HELP = `\nUSAGE: \n\n   envoy  [options]\n\nA test double honouring Envoy's command line (envoy-standin); see test/envoy-standin/README.md.\n\nWhere: \n\n${FLAGS.map((f) => `   ${flagLabel(f)}`).join('\n')}\n\n   --,  --ignore_rest\n   --version\n   -h,  --help\n`;

export function parseArgv(argv: readonly string[]): ParseResult {
  const byLong = new Map(FLAGS.map((f) => [f.long, f]));
  const byShort = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));
  const raw = new Map<string, string | true | string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || arg === '--ignore_rest') break;
    if (arg === '--version') return { kind: 'version' };
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    let spec: FlagSpec | undefined;
    if (arg.startsWith('--')) spec = byLong.get(arg.slice(2));
    else if (arg.startsWith('-') && arg.length === 2) spec = byShort.get(arg.slice(1));
    if (!spec) throw parseError(`Argument: ${arg}`, "Couldn't find match for argument");
    const id = spec.short ? `-${spec.short} (--${spec.long})` : `--${spec.long}`;
    if (spec.kind === 'switch') {
      if (raw.has(spec.long)) throw parseError(`Argument: ${id}`, 'Argument already set!');
      raw.set(spec.long, true);
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) throw parseError(`Argument: ${id}`, 'Missing a value for this argument!');
    i++;
    if (spec.kind === 'multi') {
      const list = (raw.get(spec.long) as string[] | undefined) ?? [];
      list.push(value);
      raw.set(spec.long, list);
      continue;
    }
    if (raw.has(spec.long)) throw parseError(`Argument: ${id}`, 'Argument already set!');
    if ((spec.kind === 'uint32' || spec.kind === 'uint64') && !/^\d+$/.test(value.trim())) {
      throw parseError(`Argument: ${id}`, `Couldn't read argument value from string '${value}'`);
    }
    raw.set(spec.long, value);
  }
  return { kind: 'options', options: toOptions(raw) };
}

function toOptions(raw: Map<string, string | true | string[]>): Options {
  const str = (name: string, fallback = ''): string => {
    const v = raw.get(name);
    return typeof v === 'string' ? v : fallback;
  };
  const num = (name: string, fallback: number): number => {
    const v = raw.get(name);
    return typeof v === 'string' ? Number(v.trim()) : fallback;
  };
  const mode = str('mode', 'serve');
  if (mode !== 'serve' && mode !== 'validate' && mode !== 'init_only') throw new ArgvError(`error: unknown mode '${mode}'`);
  const drainStrategy = str('drain-strategy', 'gradual');
  if (drainStrategy !== 'gradual' && drainStrategy !== 'immediate') throw new ArgvError(`error: unknown drain strategy '${drainStrategy}'`);
  const ipVersion = str('local-address-ip-version', 'v4');
  if (ipVersion !== 'v4' && ipVersion !== 'v6') throw new ArgvError(`error: unknown IP address version '${ipVersion}'`);
  const logLevel = str('log-level', 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ArgvError(`error: invalid log level specified '${logLevel}'`);
  const componentLogLevel = str('component-log-level');
  for (const part of componentLogLevel ? componentLogLevel.split(',') : []) {
    const [name, level, extra] = part.split(':');
    if (!name || level === undefined || extra !== undefined) throw new ArgvError(`error: component log level not correctly specified '${part}'`);
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new ArgvError(`error: invalid log level specified '${level}'`);
  }
  return {
    configPath: str('config-path'),
    configYaml: str('config-yaml'),
    mode,
    adminAddressPath: str('admin-address-path'),
    baseId: num('base-id', 0),
    concurrency: Math.max(1, num('concurrency', availableParallelism())),
    logLevel,
    componentLogLevel,
    drainTimeS: num('drain-time-s', 600),
    drainStrategy,
    parentShutdownTimeS: num('parent-shutdown-time-s', 900),
    disableHotRestart: raw.get('disable-hot-restart') === true,
    restartEpoch: num('restart-epoch', 0),
    serviceCluster: str('service-cluster'),
    serviceNode: str('service-node'),
    serviceZone: str('service-zone'),
    localAddressIpVersion: ipVersion,
    raw,
  };
}

/** admin.v3.CommandLineOptions in proto3 JSON, as /server_info reports it. */
export function commandLineOptionsJson(o: Options): Record<string, unknown> {
  const flag = (name: string): boolean => o.raw.get(name) === true;
  const list = (name: string): string[] => (o.raw.get(name) as string[] | undefined) ?? [];
  const str = (name: string): string => {
    const v = o.raw.get(name);
    return typeof v === 'string' ? v : '';
  };
  return {
    base_id: String(o.baseId),
    use_dynamic_base_id: flag('use-dynamic-base-id'),
    skip_hot_restart_on_no_parent: flag('skip-hot-restart-on-no-parent'),
    skip_hot_restart_parent_stats: flag('skip-hot-restart-parent-stats'),
    base_id_path: str('base-id-path'),
    concurrency: o.concurrency,
    config_path: o.configPath,
    config_yaml: o.configYaml,
    allow_unknown_static_fields: flag('allow-unknown-static-fields'),
    reject_unknown_dynamic_fields: flag('reject-unknown-dynamic-fields'),
    ignore_unknown_dynamic_fields: flag('ignore-unknown-dynamic-fields'),
    admin_address_path: o.adminAddressPath,
    local_address_ip_version: o.localAddressIpVersion,
    log_level: o.logLevel,
    component_log_level: o.componentLogLevel,
    log_format: str('log-format') || '[%Y-%m-%d %T.%e][%t][%l][%n] %v',
    log_format_escaped: flag('log-format-escaped'),
    log_path: str('log-path'),
    service_cluster: o.serviceCluster,
    service_node: o.serviceNode,
    service_zone: o.serviceZone,
    file_flush_interval: `${Number(str('file-flush-interval-msec') || 10000) / 1000}s`,
    drain_time: `${o.drainTimeS}s`,
    drain_strategy: o.drainStrategy === 'immediate' ? 'Immediate' : 'Gradual',
    parent_shutdown_time: `${o.parentShutdownTimeS}s`,
    mode: o.mode === 'validate' ? 'Validate' : o.mode === 'init_only' ? 'InitOnly' : 'Serve',
    disable_hot_restart: o.disableHotRestart,
    enable_mutex_tracing: flag('enable-mutex-tracing'),
    restart_epoch: o.restartEpoch,
    cpuset_threads: flag('cpuset-threads'),
    disabled_extensions: str('disable-extensions') ? str('disable-extensions').split(',') : [],
    enable_fine_grain_logging: flag('enable-fine-grain-logging'),
    socket_path: str('socket-path') || '@envoy_domain_socket',
    socket_mode: 0,
    enable_core_dump: flag('enable-core-dump'),
    stats_tag: list('stats-tag'),
  };
}
