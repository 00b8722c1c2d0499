// The `run` flags for yargs (help, errors, every other command), and a fast
// path for the common case: yargs costs about 100 ms to load, a sidecar's
// start-up budget is 200 ms, and `kuma-dp run` with plain `--flag value`
// arguments needs none of what yargs adds. Anything the fast path is not
// sure of (help, unknown or combined flags, values that look like flags)
// goes to yargs, so users see the same behaviour and messages either way.
import type { Options } from 'yargs';
import { RUN_FLAGS, type FlagSpec } from '../config/flags.js';

export function runOptions(): Record<string, Options> {
  const options: Record<string, Options> = {};
  for (const flag of RUN_FLAGS) {
    const env = flag.env?.length ? ` [env ${flag.env.join(', ')}]` : '';
    options[flag.name] = {
      // Numbers and durations are parsed by the config layer, which names the flag in its errors.
      type: flag.type === 'boolean' ? 'boolean' : 'string',
      describe: flag.describe + env,
      ...(flag.alias ? { alias: flag.alias } : {}),
      ...(flag.default !== undefined ? { default: flag.default } : {}),
      ...(flag.type === 'array' ? { requiresArg: true } : {}),
    };
  }
  return options;
}

/** Parsed flags → one value per flag: arrays for repeatable flags, else the last one given (as with Kuma's flags). */
export function normalizeRunFlags(args: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const flag of RUN_FLAGS) {
    const value = args[flag.name];
    if (flag.type === 'array') flags[flag.name] = value === undefined ? [] : Array.isArray(value) ? value : [value];
    else flags[flag.name] = Array.isArray(value) ? value[value.length - 1] : value;
  }
  return flags;
}

/** The arguments after `run`, parsed without yargs; undefined when yargs should decide. */
export function fastRunFlags(argv: readonly string[]): Record<string, unknown> | undefined {
  const byName = new Map<string, FlagSpec>(RUN_FLAGS.map((f) => [f.name, f]));
  const byAlias = new Map<string, FlagSpec>(RUN_FLAGS.flatMap((f) => (f.alias ? [[f.alias, f] as const] : [])));
  const out: Record<string, unknown> = {};
  for (const flag of RUN_FLAGS) if (flag.default !== undefined) out[flag.name] = flag.default;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    if (token.startsWith('--') && token.length > 2) {
      const eq = token.indexOf('=');
      spec = byName.get(eq >= 0 ? token.slice(2, eq) : token.slice(2));
      inline = eq >= 0 ? token.slice(eq + 1) : undefined;
    } else if (/^-[a-zA-Z]$/.test(token)) {
      spec = byAlias.get(token[1]!);
    }
    if (!spec) return undefined;
    let value: unknown;
    if (spec.type === 'boolean') {
      if (inline === undefined) {
        if (argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
        value = true;
      } else if (inline === 'true' || inline === 'false') value = inline === 'true';
      else return undefined;
    } else {
      value = inline ?? argv[++i];
      if (typeof value !== 'string' || (inline === undefined && value.startsWith('-'))) return undefined;
    }
    if (spec.type === 'array') out[spec.name] = [...((out[spec.name] as unknown[] | undefined) ?? []), value];
    else out[spec.name] = value;
  }
  return normalizeRunFlags(out);
}
