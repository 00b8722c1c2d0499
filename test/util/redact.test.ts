// Secrets never reach a log line or an error message, however deep they are.
import t from 'tap';
import { createLogger, setLogSink } from '../../src/log/logger.js';
import { redact, redactText } from '../../src/util/redact.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJOYW1lIjoid2ViLTEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----';

t.test('fields named like secrets are redacted at any depth, secret-looking values anywhere', (t) => {
  const out = redact({
    request: { body: { dataplaneToken: 'abc', nested: [{ password: 'p', note: `token was ${JWT}` }] } },
    headers: { authorization: 'Bearer xyz' },
    key: KEY,
    plain: 'kept',
  }) as {
    request: { body: { dataplaneToken: string; nested: Array<{ password: string; note: string }> } };
    headers: { authorization: string };
    key: string;
    plain: string;
  };
  t.equal(out.request.body.dataplaneToken, '[redacted]');
  t.equal(out.request.body.nested[0]!.password, '[redacted]');
  t.equal(out.request.body.nested[0]!.note, 'token was [redacted]');
  t.equal(out.headers.authorization, '[redacted]');
  t.equal(out.key, '[redacted]');
  t.equal(out.plain, 'kept');
  t.equal(redactText(`Authorization: Bearer ${'a'.repeat(20)}`), 'Authorization: [redacted]');
  t.end();
});

t.test('cycles, deep values and __proto__ keys are safe to log', (t) => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  t.same(redact(cyclic), { a: 1, self: '[circular]' });
  let deep: unknown = 'x';
  for (let i = 0; i < 100; i++) deep = { d: deep };
  t.doesNotThrow(() => JSON.stringify(redact(deep)));
  const proto = redact(JSON.parse('{"__proto__": {"token": "t"}}')) as object;
  t.ok(Object.hasOwn(proto, '__proto__'), '__proto__ stays a field');
  t.end();
});

t.test('the logger applies it to messages and fields', (t) => {
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  createLogger('test').info(`got ${JWT}`, { error: new Error(`bad key ${KEY}`), nested: { secret: 's' } });
  setLogSink(previous);
  t.notMatch(lines[0], /eyJhbGci|BEGIN PRIVATE KEY|"s"/);
  t.match(lines[0], /"secret":"\[redacted\]"/);
  t.end();
});
