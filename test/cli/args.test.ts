// kuma-dp's one parser: every command's words mean what its flag table says.
import fc from 'fast-check';
import t from 'tap';
import { commandHelp, parseCommandArgs, parseCommandLine, type CommandSpec } from '../../src/cli/args.js';
import { RUN_FLAGS, VALIDATE_FLAGS, type FlagSpec } from '../../src/config/flags.js';

const RUN: CommandSpec = { name: 'run', describe: 'Run', flags: RUN_FLAGS, epilogue: 'Environment-only settings: ...' };
const VALIDATE: CommandSpec = { name: 'validate', describe: 'Validate', flags: VALIDATE_FLAGS, positionals: [{ name: 'file', describe: 'YAML' }] };

const defaults = (): Record<string, unknown> => Object.fromEntries(RUN_FLAGS.map((f) => [f.name, f.type === 'array' ? [] : f.default]));

const flagsOf = (argv: string[]) => {
  const parsed = parseCommandArgs(RUN, argv);
  if (parsed.help) throw new Error('unexpected help');
  return parsed.flags;
};

t.test('typical command lines', (t) => {
  t.same(flagsOf([]), defaults(), 'nothing given: the table defaults, [] for repeatable flags');
  t.same(flagsOf(['--cp-address', 'https://cp:5678', '-d', 'dp.yaml', '-v', 'a=1', '-v', 'b.c=2', '--skip-verify']), {
    ...defaults(),
    'cp-address': 'https://cp:5678',
    'dataplane-file': 'dp.yaml',
    'dataplane-var': ['a=1', 'b.c=2'],
    'skip-verify': true,
  });
  t.same(flagsOf(['-v=a=1', '--cp-address=https://cp:5678', '--drain-time', '5s', '--skip-verify=false', '-ddp.json']), {
    ...defaults(),
    'dataplane-var': ['a=1'],
    'cp-address': 'https://cp:5678',
    'drain-time': '5s',
    'skip-verify': false,
    'dataplane-file': 'dp.json',
  });
  t.same(flagsOf(['--name', 'web-1', '--name', 'web-2', '--concurrency', '2']), { ...defaults(), name: 'web-2', concurrency: '2' }, 'the last one wins');
  t.same(flagsOf(['--name=', '--no-skip-verify', '-d', '-', '--envoy-max-restarts', '-1']), {
    ...defaults(),
    name: '',
    'skip-verify': false,
    'dataplane-file': '-',
    'envoy-max-restarts': '-1',
  });
  t.end();
});

t.test('mistakes are named, with where to read the usage', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /^Unknown argument: bogus\nRun 'kuma-dp run --help' for usage\.$/],
    [['-z'], /^Unknown argument: z\n/],
    [['--cpAddress', 'x'], /^Unknown argument: cpAddress\n/],
    [['positional'], /^Unknown argument: positional\n/],
    [['--', 'x'], /^Unknown argument: x\n/],
    [['--name'], /^--name needs a value\n/],
    [['--name', '--mesh', 'x'], /^--name needs a value\n/],
    [['-d', '-v', 'a=1'], /^-d needs a value\n/],
    [['--skip-verify', 'false'], /^--skip-verify takes no separate value: write --skip-verify=false\n/],
    [['--skip-verify=maybe'], /^--skip-verify: 'maybe' is not true or false\n/],
  ];
  for (const [argv, message] of cases) t.throws(() => parseCommandArgs(RUN, argv), { name: 'UserError', message }, argv.join(' '));
  t.throws(() => parseCommandArgs(VALIDATE, ['f.yaml', '--type', 'pod']), { message: /^--type: 'pod' must be one of bootstrap, listener, cluster/ });
  t.throws(() => parseCommandArgs(VALIDATE, []), { message: /^validate needs <file>/ });
  t.throws(() => parseCommandArgs(VALIDATE, ['a', 'b']), { message: /^Unknown argument: b/ });
  t.same(parseCommandArgs(VALIDATE, ['f.yaml', '--type=listener']), { help: false, flags: { type: 'listener' }, positionals: ['f.yaml'] });
  t.end();
});

t.test('commands: help, a missing or unknown command', (t) => {
  const commands = [RUN, VALIDATE];
  t.same(parseCommandLine(['--help'], commands), { command: undefined, help: true });
  t.same(parseCommandLine(['run', '--bogus', '-h'], commands), { command: RUN, parsed: { help: true } }, 'help wins over a mistake');
  t.throws(() => parseCommandLine([], commands), { message: /^Name a command: run or validate\nRun 'kuma-dp --help'/ });
  t.throws(() => parseCommandLine(['--name', 'x'], commands), { message: /^Name a command/ });
  t.throws(() => parseCommandLine(['start'], commands), { message: /^Unknown command: start \(the commands are run, validate\)/ });
  t.end();
});

t.test('--help lists every flag of the table with its variable and default', (t) => {
  const help = commandHelp(RUN);
  t.match(help, /^Usage: kuma-dp run \[flags\]\n\nRun\n\nFlags:\n/);
  for (const flag of RUN_FLAGS) {
    const line = help.split('\n').findIndex((l) => new RegExp(`^ +(-\\w, )?--${flag.name}( |$)`).test(l));
    t.ok(line >= 0, `--${flag.name} is listed`);
    const text = help
      .split('\n')
      .slice(line, line + 2)
      .join('\n');
    if (flag.alias) t.match(text, `-${flag.alias}, --${flag.name}`);
    for (const env of flag.env ?? []) t.match(text, env);
    if (flag.default !== undefined && flag.default !== '') t.match(text, `(default ${String(flag.default)})`);
  }
  t.match(help, /Environment-only settings/);
  t.match(commandHelp(VALIDATE), /^Usage: kuma-dp validate <file> \[flags\]/);
  t.end();
});

t.test('property: any command line of known flags gives each flag its last value (all values for repeatable ones)', (t) => {
  const value = fc.oneof(fc.constant('-'), fc.stringMatching(/^[a-zA-Z0-9_.:/=@]{0,12}$/));
  const arg = fc.oneof(
    ...RUN_FLAGS.map((flag: FlagSpec) =>
      flag.type === 'boolean'
        ? fc.constantFrom<[FlagSpec, string[], unknown]>(
            [flag, [`--${flag.name}`], true],
            [flag, [`--${flag.name}=true`], true],
            [flag, [`--${flag.name}=false`], false],
          )
        : fc
            .tuple(value, fc.integer({ min: 0, max: flag.alias ? 3 : 1 }))
            // -dVALUE: a value that cannot be read as `=x` or as nothing
            .map(([v, form]): [string, number] => [v, form === 3 && (v === '' || v.startsWith('=')) ? 2 : form])
            .map(([v, form]): [FlagSpec, string[], unknown] => [
              flag,
              form === 0 ? [`--${flag.name}`, v] : form === 1 ? [`--${flag.name}=${v}`] : form === 2 ? [`-${flag.alias}`, v] : [`-${flag.alias}${v}`],
              v,
            ]),
    ),
  );
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 8 }), (parts) => {
      const expected = defaults();
      for (const [flag, , v] of parts) expected[flag.name] = flag.type === 'array' ? [...(expected[flag.name] as unknown[]), v] : v;
      t.same(flagsOf(parts.flatMap(([, words]) => words)), expected);
    }),
    { numRuns: 300 },
  );
  t.end();
});
