// Envoy's command line, as Kuma's kuma-dp builds it (app/kuma-dp/pkg/dataplane/envoy/envoy.go):
// same flags, same order. Without --concurrency, Linux gets --cpuset-threads so that
// Envoy sizes its workers by the container's cpuset rather than the host's cores
// (elsewhere Envoy would only warn about the flag).
export interface EnvoyArgsInput {
  configPath: string;
  drainTimeMs: number;
  logLevel: string;
  componentLogLevel?: string;
  concurrency?: number;
  /** Defaults to this process's platform. */
  platform?: NodeJS.Platform;
}

export function envoyArgs(input: EnvoyArgsInput): string[] {
  const args = [
    '--config-path',
    input.configPath,
    '--drain-time-s',
    String(Math.floor(input.drainTimeMs / 1000)),
    '--drain-strategy',
    'immediate',
    // Hot restart needs a distinct --base-id per Envoy on a host; kuma-dp never hot-restarts.
    '--disable-hot-restart',
    '--log-level',
    input.logLevel,
  ];
  if (input.componentLogLevel) args.push('--component-log-level', input.componentLogLevel);
  if (input.concurrency !== undefined && input.concurrency > 0) args.push('--concurrency', String(input.concurrency));
  else if ((input.platform ?? process.platform) === 'linux') args.push('--cpuset-threads');
  return args;
}
