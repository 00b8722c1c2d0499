// kuma-dp's one command-line parser: node:util's parseArgs splits the words,
// and each command's flag table (src/config/flags.ts) decides what they mean,
// so every command is parsed the same way and --help is printed from the same
// table. No yargs here: `kuma-dp wait` runs as a container HEALTHCHECK every
// 10 s, and loading yargs alone costs about twice Node's own start-up.
//
// The forms accepted are Kuma's (pflag): `--flag value`, `--flag=value`,
// `-f value`, `-f=value`, `-fvalue`, `--bool`, `--bool=true|false`; repeatable flags
// collect every value, any other flag keeps the last one given.
import { parseArgs } from 'node:util';
import type { FlagSpec } from '../config/flags.js';
import { UserError } from '../util/errors.js';

export interface CommandSpec {
  name: string;
  describe: string;
  flags: readonly FlagSpec[];
  /** Required positional arguments, in order. */
  positionals?: ReadonlyArray<{ name: string; describe: string }>;
  /** Printed after the flags in --help. */
  epilogue?: string;
}

/** One value per flag of the command: string[] for repeatable flags (default []), boolean, or the string given (else the table's default). */
export type Flags = Record<string, unknown>;

export type Parsed = { help: true } | { help: false; flags: Flags; positionals: string[] };

/** A user error that ends with where to read the usage. */
function usageError(message: string, command?: CommandSpec): UserError {
  return new UserError(`${message}\nRun 'kuma-dp ${command ? `${command.name} ` : ''}--help' for usage.`);
}

function booleanValue(spec: FlagSpec, value: string, command: CommandSpec): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw usageError(`--${spec.name}: '${value}' is not true or false`, command);
}

/** The arguments after the command's name → its flags and positionals; `--help`/`-h` anywhere asks for help. */
export function parseCommandArgs(command: CommandSpec, argv: readonly string[]): Parsed {
  const byName = new Map(command.flags.map((f) => [f.name, f]));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const f of command.flags) {
    options[f.name] = {
      type: f.type === 'boolean' ? 'boolean' : 'string',
      ...(f.alias ? { short: f.alias } : {}),
      ...(f.type === 'array' ? { multiple: true } : {}),
    };
  }
  // Not strict: unknown flags and missing values come back as tokens, and are reported below in Kuma's words.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true };
  const given: Flags = {};
  const positionals: string[] = [];
  const flagWords = new Set(command.flags.flatMap((f) => [`--${f.name}`, ...(f.alias ? [`-${f.alias}`] : [])]));
  let bareBoolean: { name: string; index: number } | undefined; // the last token, when it was a boolean flag without a value
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if ((token.value === 'true' || token.value === 'false') && bareBoolean?.index === token.index - 1)
        throw usageError(`--${bareBoolean.name} takes no separate value: write --${bareBoolean.name}=${token.value}`, command);
      positionals.push(token.value);
      continue;
    }
    bareBoolean = undefined;
    const negated = token.name.startsWith('no-') ? byName.get(token.name.slice(3)) : undefined;
    if (negated?.type === 'boolean' && token.value === undefined) {
      given[negated.name] = false;
      continue;
    }
    const spec = byName.get(token.name);
    if (!spec) throw usageError(`Unknown argument: ${token.rawName.replace(/^--?/, '')}`, command);
    if (spec.type === 'boolean') {
      if (token.value === undefined) bareBoolean = { name: spec.name, index: token.index };
      given[spec.name] = token.value === undefined ? true : booleanValue(spec, token.value, command);
      continue;
    }
    // A missing value, or one that is another of this command's flags (`--name --mesh x`), is a mistake rather than a value.
    if (token.value === undefined || (!token.inlineValue && flagWords.has(token.value.split('=')[0]!)))
      throw usageError(`${token.rawName} needs a value`, command);
    // `-d=x` means x, as in pflag (parseArgs reads it as `-d` followed by `=x`).
    const value = token.inlineValue && !token.rawName.startsWith('--') && token.value.startsWith('=') ? token.value.slice(1) : token.value;
    if (spec.choices && !spec.choices.includes(value)) throw usageError(`${token.rawName}: '${value}' must be one of ${spec.choices.join(', ')}`, command);
    if (spec.type === 'array') given[spec.name] = [...((given[spec.name] as string[] | undefined) ?? []), value];
    else given[spec.name] = value;
  }
  const wanted = command.positionals ?? [];
  if (positionals.length < wanted.length)
    throw usageError(
      `${command.name} needs ${wanted.map((p) => `<${p.name}>`).join(' ')}: kuma-dp ${command.name} ${wanted.map((p) => `<${p.name}>`).join(' ')}`,
      command,
    );
  if (positionals.length > wanted.length) throw usageError(`Unknown argument: ${positionals[wanted.length]}`, command);
  const flags: Flags = {};
  for (const f of command.flags) flags[f.name] = given[f.name] ?? (f.type === 'array' ? [] : f.default);
  return { help: false, flags, positionals };
}

function flagUsage(f: FlagSpec): string {
  const value = f.type === 'boolean' ? '' : ` <${f.type === 'array' ? 'value' : f.type}>`;
  return `${f.alias ? `-${f.alias}, ` : '    '}--${f.name}${value}`;
}

function flagDetails(f: FlagSpec): string {
  const env = f.env?.length ? ` [env ${f.env.join(', ')}]` : '';
  const choices = f.choices ? ` (one of ${f.choices.join(', ')})` : '';
  const repeat = f.type === 'array' ? ' (repeatable)' : '';
  const def = f.default === undefined || f.default === '' ? '' : ` (default ${String(f.default)})`;
  return `${f.describe}${choices}${repeat}${env}${def}`;
}

/** A command's --help, from its flag table. */
export function commandHelp(command: CommandSpec): string {
  const positionals = (command.positionals ?? []).map((p) => ` <${p.name}>`).join('');
  const rows: Array<[string, string]> = [
    ...(command.positionals ?? []).map((p): [string, string] => [`    <${p.name}>`, p.describe]),
    ...command.flags.map((f): [string, string] => [flagUsage(f), flagDetails(f)]),
    ['-h, --help', 'Show this help'],
  ];
  const width = Math.min(36, Math.max(...rows.map(([left]) => left.length)));
  const lines = rows.map(([left, right]) => (left.length > width ? `  ${left}\n  ${' '.repeat(width)}  ${right}` : `  ${left.padEnd(width)}  ${right}`));
  return `Usage: kuma-dp ${command.name}${positionals} [flags]\n\n${command.describe}\n\nFlags:\n${lines.join('\n')}\n${command.epilogue ? `\n${command.epilogue}\n` : ''}`;
}

/** `kuma-dp --help`: the commands. */
export function programHelp(summary: string, commands: readonly CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const rows = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.describe}`);
  return `Usage: kuma-dp <command> [flags]\n\n${summary}\n\nCommands:\n${rows.join('\n')}\n\nRun 'kuma-dp <command> --help' for a command's flags.\n`;
}

/** argv → the command and its parsed arguments; { help } for `kuma-dp`'s own --help. */
export function parseCommandLine<C extends CommandSpec>(
  argv: readonly string[],
  commands: readonly C[],
): { command: undefined; help: true } | { command: C; parsed: Parsed } {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h') return { command: undefined, help: true };
  const names = commands.map((c) => c.name);
  if (first === undefined || first.startsWith('-')) throw usageError(`Name a command: ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`);
  const command = commands.find((c) => c.name === first);
  if (!command) throw usageError(`Unknown command: ${first} (the commands are ${names.join(', ')})`);
  return { command, parsed: parseCommandArgs(command, rest) };
}
