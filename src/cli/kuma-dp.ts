// kuma-dp: the command line. Flags come from src/config/flags.ts and are
// parsed by src/cli/args.ts; each command loads its implementation lazily so
// `run` pays only for what it uses.
import { ENV_ONLY, RUN_FLAGS, VALIDATE_FLAGS, VERSION_FLAGS, WAIT_FLAGS } from '../config/flags.js';
import { setLogLevel } from '../log/logger.js';
import { reportFailure, UserError } from '../util/errors.js';
import { commandHelp, parseCommandLine, programHelp, type CommandSpec, type Flags } from './args.js';
import { buildInfo } from './build-info.js';

const envEpilogue = `Environment-only settings:\n${ENV_ONLY.map((e) => `  ${e.env} (default ${e.default || 'unset'}): ${e.describe}`).join('\n')}\nEnvironment variables override flags, as in Kuma.`;

/** The run flags → the agent's configuration (`run` and `doctor` share it). */
async function agentConfig(flags: Flags) {
  const { buildAgentConfig } = await import('../config/agent-config.js');
  return buildAgentConfig(flags, process.env);
}

async function run(flags: Flags): Promise<number> {
  const config = await agentConfig(flags);
  setLogLevel(config.logLevel);
  const { runAgent } = await import('./run.js');
  return runAgent(config);
}

async function doctor(flags: Flags): Promise<number> {
  const config = await agentConfig(flags);
  setLogLevel('error');
  const { runChecks, formatResults } = await import('../doctor/checks.js');
  const results = await runChecks(config);
  const failed = results.filter((r) => r.status === 'fail').length;
  process.stdout.write(formatResults(results) + (failed ? `${failed} of ${results.length} checks failed\n` : `all ${results.length} checks passed\n`));
  return failed ? 1 : 0;
}

async function validate(flags: Flags, [file]: string[]): Promise<number> {
  const { validateCommand } = await import('../validate/command.js');
  return validateCommand(file!, { type: String(flags.type) });
}

async function wait(flags: Flags): Promise<number> {
  const { parseDuration } = await import('../util/duration.js');
  const { createLogger } = await import('../log/logger.js');
  const { waitUntilReady } = await import('../wait/wait.js');
  const ms = (flag: string): number => {
    try {
      return parseDuration(String(flags[flag]), `--${flag}`);
    } catch (err) {
      throw new UserError((err as Error).message);
    }
  };
  setLogLevel(String(flags['log-level'])); // one of LOG_LEVELS: the parser checked it
  await waitUntilReady({
    url: String(flags.url),
    ...(typeof flags['unix-socket'] === 'string' && flags['unix-socket'] ? { unixSocket: flags['unix-socket'] } : {}),
    timeoutMs: ms('timeout'),
    checkFrequencyMs: ms('check-frequency'),
    requestTimeoutMs: ms('request-timeout'),
    log: createLogger('kuma-dp.wait'),
  });
  return 0;
}

function version(flags: Flags): number {
  const info = buildInfo();
  if (flags.detailed) {
    process.stdout.write(
      `Product:       kuma-dp (TypeScript)\nVersion:       ${info.version}\nGit Tag:       ${info.gitTag}\nGit Commit:    ${info.gitCommit}\nBuild Date:    ${info.buildDate}\n`,
    );
  } else {
    process.stdout.write(`kuma-dp: ${info.version}\n`);
  }
  return 0;
}

type Command = CommandSpec & { main: (flags: Flags, positionals: string[]) => number | Promise<number> };

const COMMANDS: readonly Command[] = [
  {
    name: 'run',
    describe: 'Fetch the bootstrap from the control plane, launch Envoy and supervise it',
    flags: RUN_FLAGS,
    epilogue: envEpilogue,
    main: run,
  },
  {
    name: 'wait',
    describe: 'Wait until the data plane proxy is ready (its readiness URL answers 200)',
    flags: WAIT_FLAGS,
    main: wait,
  },
  {
    name: 'doctor',
    describe: 'Check what `kuma-dp run` needs with the same flags: Envoy, the control plane and its TLS, the token, the Dataplane, the ports, the work dir',
    flags: RUN_FLAGS,
    epilogue: envEpilogue,
    main: doctor,
  },
  {
    name: 'validate',
    describe: "Check an Envoy config (bootstrap or xDS resource) strictly against Envoy's protos",
    flags: VALIDATE_FLAGS,
    positionals: [{ name: 'file', describe: 'YAML or JSON file' }],
    main: validate,
  },
  { name: 'version', describe: 'Print the version of kuma-dp', flags: VERSION_FLAGS, main: version },
];

const SUMMARY = 'Data-plane agent for the Kuma service mesh: fetches the Envoy bootstrap from the control plane, launches Envoy and supervises it.';

async function main(argv: string[]): Promise<number> {
  const line = parseCommandLine(argv, COMMANDS);
  if (!line.command) {
    process.stdout.write(programHelp(SUMMARY, COMMANDS));
    return 0;
  }
  if (line.parsed.help) {
    process.stdout.write(commandHelp(line.command));
    return 0;
  }
  return line.command.main(line.parsed.flags, line.parsed.positionals);
}

main(process.argv.slice(2)).then(
  (status) => {
    // Exit now: nothing is left to do, and a library's idle handle (a keep-alive
    // socket, a timer) must not keep a stopping sidecar around.
    process.exit(status);
  },
  (err: unknown) => {
    process.exitCode = reportFailure('kuma-dp', err);
  },
);
