// The fast `run` argument path must agree with yargs on everything it accepts,
// and hand everything else to yargs.
import fc from 'fast-check';
import t from 'tap';
import yargs from 'yargs';
import { fastRunFlags, normalizeRunFlags, runOptions } from '../../src/cli/run-args.js';
import { RUN_FLAGS } from '../../src/config/flags.js';

const viaYargs = (argv: string[]) =>
  normalizeRunFlags(
    yargs(argv)
      .options(runOptions())
      .strict()
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseSync(),
  );

t.test('agrees with yargs on typical command lines', (t) => {
  const samples: string[][] = [
    [],
    ['--cp-address', 'https://cp:5678', '-d', 'dp.yaml', '-v', 'a=1', '-v', 'b.c=2', '--skip-verify'],
    ['--cp-address=https://cp:5678', '--dataplane-file', 'dp.json', '--drain-time', '5s', '--skip-verify=false'],
    ['--name', 'web-1', '--mesh', 'default', '--name', 'web-2', '--concurrency', '2', '--envoy-restart', 'on-failure'],
    ['--dataplane-var', 'x=y', '--metrics-aggregate', 'app=http://127.0.0.1:8080/metrics', '--metrics-aggregate', 'b=http://127.0.0.1:1/m'],
    ['--name=', '--mesh', '123', '--log-level', 'debug'],
  ];
  for (const argv of samples) {
    const fast = fastRunFlags(argv);
    t.ok(fast, `fast path taken: ${argv.join(' ')}`);
    t.same(fast, viaYargs(argv), argv.join(' '));
  }
  t.end();
});

t.test('leaves to yargs what it is not sure of', (t) => {
  for (const argv of [
    ['--help'],
    ['-h'],
    ['--bogus'],
    ['positional'],
    ['--name'],
    ['--name', '--mesh', 'x'],
    ['--skip-verify', 'false'],
    ['--no-skip-verify'],
    ['--cpAddress', 'x'],
    ['-dv', 'x'],
    ['--skip-verify=maybe'],
    ['--envoy-max-restarts', '-1'],
    ['-d', '-'],
    ['--', 'x'],
  ]) {
    t.equal(fastRunFlags(argv), undefined, argv.join(' '));
  }
  t.end();
});

t.test('property: any command line of known flags parses as yargs parses it', (t) => {
  const value = fc.oneof(fc.constant('-'), fc.stringMatching(/^[a-zA-Z0-9_.:/=@]{0,12}$/));
  const arg = fc.oneof(
    ...RUN_FLAGS.map((flag) =>
      flag.type === 'boolean'
        ? fc.constantFrom([`--${flag.name}`], [`--${flag.name}=true`], [`--${flag.name}=false`])
        : fc
            .tuple(value, fc.integer({ min: 0, max: flag.alias ? 2 : 1 }))
            .map(([v, form]) => (form === 0 ? [`--${flag.name}`, v] : form === 1 ? [`--${flag.name}=${v}`] : [`-${flag.alias}`, v])),
    ),
  );
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 8 }), (parts) => {
      const argv = parts.flat();
      const fast = fastRunFlags(argv);
      if (fast === undefined) return true;
      t.same(fast, viaYargs(argv), argv.join(' '));
      return true;
    }),
    { numRuns: 300 },
  );
  t.end();
});
