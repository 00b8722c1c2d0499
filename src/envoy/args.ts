// Envoy's command line, exactly as Kuma's kuma-dp builds it.
export interface EnvoyArgsInput {
  configPath: string;
  drainTimeMs: number;
  logLevel: string;
  componentLogLevel?: string;
  concurrency?: number;
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
  if (input.concurrency !== undefined) args.push('--concurrency', String(input.concurrency));
  return args;
}
