import fc from 'fast-check';
import t from 'tap';
import { parseDataplane } from '../../src/dataplane/parse.js';
import { checkDataplaneText } from '../../src/minicp/resource.js';
import { UserError } from '../../src/util/errors.js';
import { YamlSyntaxError, parseYaml, stringifyYaml } from '../../src/util/yaml.js';

// A Dataplane in flow style; `tags` goes inside the inbound's tags.
const dataplane = (tags: string) => `type: Dataplane
mesh: default
name: web-1
networking: { address: 192.168.0.10, inbound: [{ port: 10000, servicePort: 8080, tags: { kuma.io/service: web${tags} } }] }
`;

t.test('only YAML 1.2 core types: dates, yes/on and << stay what they are written as', (t) => {
  t.same(parseYaml('version: 2024-01-01\nat: 2001-12-14t21:59:43.10-05:00\nflag: yes\nmode: on\n'), {
    version: '2024-01-01',
    at: '2001-12-14t21:59:43.10-05:00',
    flag: 'yes',
    mode: 'on',
  });
  t.same(parseYaml('a: true\nb: 0x10\nc: 0o17\nd: 1.5\ne: ~\nf: null\ng: 010\n'), { a: true, b: 16, c: 15, d: 1.5, e: null, f: null, g: 10 });
  t.same(parseYaml('use:\n  <<: {x: 1}\n'), { use: { '<<': { x: 1 } } }, '<< is an ordinary key, not a merge');
  t.throws(() => parseYaml('base: &b {x: 1}\nuse: *b\n'), { message: /aliases \(\*name\) are not accepted.* at line 2, column 7$/ }, 'aliases are refused');
  for (const tagged of ['a: !!binary aGVsbG8=\n', 'a: !!set {x}\n', 'a: !!omap [x: 1]\n', 'a: !!timestamp 2024-01-01\n']) {
    t.throws(() => parseYaml(tagged), YamlSyntaxError, `${tagged.trim()} is not a core type`);
  }
  t.end();
});

t.test('a date-like tag value in a Dataplane stays a string', (t) => {
  const dp = parseDataplane(dataplane(', version: 2024-01-01, canary: yes'), 'dp.yaml');
  t.same(dp.networking.inbound?.[0]?.tags, { 'kuma.io/service': 'web', version: '2024-01-01', canary: 'yes' });
  const checked = checkDataplaneText(dataplane(', version: 2024-01-01'), 'dataplaneResource');
  t.ok(checked.ok, 'the mini CP reads it the same way');
  if (checked.ok) t.equal(checked.dataplane.networking.inbound?.[0]?.tags?.version, '2024-01-01');
  t.end();
});

t.test('duplicate keys are an error that says where, in YAML and in JSON', (t) => {
  const yamlErr = t.throws(() => parseYaml('a: 1\nb: 2\na: 3\n')) as YamlSyntaxError;
  t.type(yamlErr, YamlSyntaxError);
  t.match(yamlErr.message, /duplicate.* at line 3, column 1$/);
  t.same([yamlErr.line, yamlErr.column], [3, 1]);
  const jsonErr = t.throws(() => parseYaml('{\n  "a": 1,\n  "a": 2\n}')) as YamlSyntaxError;
  t.equal(jsonErr.line, 3);
  t.notMatch(yamlErr.message, /\n/, 'one line, no source snippet');
  t.end();
});

t.test('a Dataplane with a duplicate key names the file and the line', (t) => {
  const text = dataplane(', kuma.io/service: other');
  const err = t.throws(() => parseDataplane(text, 'dp.yaml')) as UserError;
  t.type(err, UserError);
  t.match(err.message, /^dp\.yaml: not valid YAML or JSON: .*duplicate.* at line 4, column \d+$/);
  const checked = checkDataplaneText(text, 'dataplaneResource');
  t.match(checked, { ok: false, errors: [{ field: 'dataplaneResource', message: /^is not valid YAML or JSON: .*line 4/ }] });
  t.end();
});

t.test('one document: several are an error, empty input is null', (t) => {
  t.throws(() => parseYaml('a: 1\n---\nb: 2\n'), { name: 'YamlSyntaxError', message: /expected one document, found 2/ });
  t.throws(() => parseDataplane(`${dataplane('')}---\ntype: Dataplane\n`, 'dp.yaml'), { message: /^dp\.yaml: not valid YAML or JSON: expected one document/ });
  t.same(parseYaml('---\na: 1\n'), { a: 1 }, 'a leading --- is one document');
  t.equal(parseYaml(''), null);
  t.equal(parseYaml('# only a comment\n'), null);
  t.throws(() => parseDataplane('', 'dp.yaml'), { message: /^dp\.yaml: expected a Dataplane resource/ });
  t.end();
});

t.test('syntax errors give line and column', (t) => {
  const err = t.throws(() => parseYaml('node: { id: x\nadmin: [\n')) as YamlSyntaxError;
  t.type(err, YamlSyntaxError);
  t.match(err.message, / at line \d+, column \d+$/);
  t.end();
});

t.test('strings that look like other types are written quoted and read back as strings', (t) => {
  const strings = [
    'true',
    'false',
    'yes',
    'no',
    'on',
    'off',
    'y',
    'n',
    '1',
    '010',
    '0x10',
    '0o17',
    '1e3',
    '1_000',
    '.inf',
    '.nan',
    'null',
    '~',
    '',
    '*',
    '&a',
    '!x',
    '@type',
    '#x',
    '- x',
    'a: b',
    '<<',
    '2024-01-01',
    ' lead',
    'trail ',
    'two\nlines\n',
  ];
  const value = Object.fromEntries(strings.map((s, i) => [`k${i}`, s]));
  t.same(parseYaml(stringifyYaml(value)), value);
  t.same(parseYaml(stringifyYaml(strings)), strings, 'as list items');
  t.same(parseYaml(stringifyYaml({ true: 1, '1': 2, null: 3 })), { true: 1, '1': 2, null: 3 }, 'as keys');
  t.end();
});

t.test('writing: no anchors for repeated objects, long strings on one line', (t) => {
  const shared = { address: '127.0.0.1', port_value: 9901 };
  const text = stringifyYaml({ a: shared, b: shared, long: 'x'.repeat(200) });
  t.notMatch(text, /[&*]ref/);
  t.match(text, new RegExp(`^long: x{200}$`, 'm'));
  t.same(parseYaml(text), { a: shared, b: shared, long: 'x'.repeat(200) }, 'and it reads back (no aliases to refuse)');
  t.end();
});

t.test('any JSON value survives stringifyYaml → parseYaml', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const back = parseYaml(stringifyYaml(value));
      if (JSON.stringify(back) !== JSON.stringify(value)) throw new Error(`${JSON.stringify(value)} came back as ${JSON.stringify(back)}`);
    }),
    { numRuns: 300 },
  );
  t.end();
});
