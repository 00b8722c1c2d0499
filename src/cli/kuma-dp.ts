// kuma-dp: the command line. Flags come from src/config/flags.ts; each command
// loads its implementation lazily so `run` pays only for what it uses.
import { ENV_ONLY } from '../config/flags.js';
import { setLogLevel } from '../log/logger.js';
import { reportFailure, UserError } from '../util/errors.js';
import { buildInfo } from './build-info.js';
import { fastRunFlags, normalizeRunFlags, runOptions } from './run-args.js';

const envEpilogue = `Environment-only settings:\n${ENV_ONLY.map((e) => `  ${e.env} (default ${e.default || 'unset'}): ${e.describe}`).join('\n')}\nEnvironment variables override flags, as in Kuma.`;

/** The run flags → the agent's configuration (`run` and `doctor` share it). */
async function agentConfig(flags: Record<string, unknown>) {
  const { buildAgentConfig } = await import('../config/agent-config.js');
  return buildAgentConfig(flags, process.env);
}

async function runCommand(flags: Record<string, unknown>): Promise<number> {
  const config = await agentConfig(flags);
  setLogLevel(config.logLevel);
  const { runAgent } = await import('./run.js');
  return runAgent(config);
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'run') {
    const flags = fastRunFlags(argv.slice(1));
    if (flags) return runCommand(flags);
  }
  const { default: yargs } = await import('yargs');
  let status = 0;
  await yargs(argv)
    .scriptName('kuma-dp')
    .usage(
      '$0 <command> [flags]\n\nData-plane agent for the Kuma service mesh: fetches the Envoy bootstrap from the control plane, launches Envoy and supervises it.',
    )
    .command(
      'run',
      'Fetch the bootstrap from the control plane, launch Envoy and supervise it',
      (y) => y.options(runOptions()).epilogue(envEpilogue),
      async (args) => {
        status = await runCommand(normalizeRunFlags(args));
      },
    )
    .command(
      'doctor',
      'Check what `kuma-dp run` needs with the same flags: Envoy, the control plane and its TLS, the token, the Dataplane, the ports, the work dir',
      (y) => y.options(runOptions()).epilogue(envEpilogue),
      async (args) => {
        const config = await agentConfig(normalizeRunFlags(args));
        setLogLevel('error');
        const { runChecks, formatResults } = await import('../doctor/checks.js');
        const results = await runChecks(config);
        const failed = results.filter((r) => r.status === 'fail').length;
        process.stdout.write(formatResults(results) + (failed ? `${failed} of ${results.length} checks failed\n` : `all ${results.length} checks passed\n`));
        status = failed ? 1 : 0;
      },
    )
    .command(
      'validate <file>',
      "Check an Envoy config (bootstrap or xDS resource) strictly against Envoy's protos",
      (y) =>
        y.positional('file', { type: 'string', demandOption: true, describe: 'YAML or JSON file' }).option('type', {
          type: 'string',
          choices: ['bootstrap', 'listener', 'cluster', 'endpoint', 'route', 'secret'],
          default: 'bootstrap',
          describe: 'What the file holds',
        }),
      async (args) => {
        const { validateCommand } = await import('../validate/command.js');
        status = await validateCommand(String(args.file), { type: String(args.type) });
      },
    )
    .command(
      'wait',
      'Wait until the data plane proxy is ready (its readiness URL answers 200)',
      (y) =>
        y
          .option('url', {
            type: 'string',
            default: 'http://localhost:9901/ready',
            describe: "Readiness URL on this host: Envoy's admin /ready, or kuma-dp's http://localhost:9902/ready",
          })
          .option('timeout', { type: 'string', default: '180s', describe: 'Give up (exit 1) after this long' })
          .option('check-frequency', { type: 'string', default: '1s', describe: 'Time between checks' })
          .option('request-timeout', { type: 'string', default: '500ms', describe: 'Timeout of each check' })
          .option('log-level', { type: 'string', default: 'info', describe: 'kuma-dp log level: debug, info, warn, error' }),
      async (args) => {
        const { parseDuration } = await import('../util/duration.js');
        const { createLogger } = await import('../log/logger.js');
        const { waitUntilReady } = await import('../wait/wait.js');
        const ms = (flag: string): number => {
          try {
            return parseDuration(String(args[flag]), `--${flag}`);
          } catch (err) {
            throw new UserError((err as Error).message);
          }
        };
        const { AGENT_LOG_LEVELS } = await import('../config/agent-config.js');
        const level = String(args['log-level']);
        if (!(AGENT_LOG_LEVELS as readonly string[]).includes(level))
          throw new UserError(`--log-level: '${level}' must be one of ${AGENT_LOG_LEVELS.join(', ')}`);
        setLogLevel(level);
        await waitUntilReady({
          url: String(args.url),
          timeoutMs: ms('timeout'),
          checkFrequencyMs: ms('check-frequency'),
          requestTimeoutMs: ms('request-timeout'),
          log: createLogger('kuma-dp.wait'),
        });
      },
    )
    .command(
      'version',
      'Print the version of kuma-dp',
      (y) => y.option('detailed', { type: 'boolean', default: false, describe: 'Print commit and build date too' }),
      (args) => {
        const info = buildInfo();
        if (args.detailed) {
          process.stdout.write(
            `Product:       kuma-dp (TypeScript)\nVersion:       ${info.version}\nGit Tag:       ${info.gitTag}\nGit Commit:    ${info.gitCommit}\nBuild Date:    ${info.buildDate}\n`,
          );
        } else {
          process.stdout.write(`kuma-dp: ${info.version}\n`);
        }
      },
    )
    .demandCommand(1, 'Name a command: run, wait, doctor, validate or version')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .fail((msg, err) => {
      throw err ?? new UserError(`${msg}\nRun 'kuma-dp --help' for usage.`);
    })
    .parseAsync();
  return status;
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
