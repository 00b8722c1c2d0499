// The strict reader: plain data without prototypes, bounded, and every refusal names its path.
import t from 'tap';
import { DocumentError, readJsonDocument, readYamlDocument, toPlain } from '../../src/util/document.js';

const limits = { maxBytes: 1000, maxDepth: 3, maxValues: 10 };

t.test('objects have no prototype; built-in names are ordinary keys', (t) => {
  const doc = readJsonDocument('{"__proto__": {"x": 1}, "constructor": 2, "toString": 3}') as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(doc), null);
  t.ok(Object.hasOwn(doc, '__proto__'), '__proto__ is a key');
  t.same(Object.keys(doc), ['__proto__', 'constructor', 'toString']);
  t.notOk('hasOwnProperty' in (readJsonDocument('{}') as object), 'nothing inherited to read');
  t.end();
});

t.test('each bound is refused with the path where it was crossed', (t) => {
  t.throws(() => readJsonDocument('{"a": {"b": {"c": {"d": 1}}}}', limits), {
    name: 'DocumentError',
    path: 'a.b.c',
    message: /nested deeper than the limit of 3 levels/,
  });
  t.throws(() => readJsonDocument('{"list": [1,2,3,4,5,6,7,8,9,10]}', limits), { path: 'list[8]', message: /more than 10 values/ });
  t.throws(() => readJsonDocument(`"${'x'.repeat(2000)}"`, limits), { path: '', message: /larger than the limit of 1000 bytes/ });
  t.throws(() => readJsonDocument('{"tags": {"kuma.io/service": {"a": {"b": 1}}}}', limits), { name: 'DocumentError', path: 'tags["kuma.io/service"].a' });
  t.throws(() => readYamlDocument('a: .nan\n'), { path: 'a', message: /NaN is not a JSON number/ });
  t.throws(() => readYamlDocument('a: &x [1]\nb: *x\n'), { message: /aliases \(\*name\) are not accepted/ });
  t.throws(() => readJsonDocument('{"a": '), DocumentError);
  t.throws(() => toPlain({ f: () => 1 }), { path: 'f', message: /a function is not a JSON value/ });
  t.end();
});
