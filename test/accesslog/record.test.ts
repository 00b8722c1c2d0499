import t from 'tap';
import { goJsonMarshal } from '../../src/accesslog/go-json.js';
import { parseRecord } from '../../src/accesslog/record.js';
import { splitHostPort } from '../../src/accesslog/destination.js';
import { accessLogSocketName, socketName } from '../../src/util/socket-name.js';

const rec = (s: string) => {
  const r = parseRecord(Buffer.from(s));
  return 'invalid' in r ? r : { address: r.address, message: r.message.toString() };
};

t.test("Go's json.Marshal of decoded values", (t) => {
  // Expected strings are what Go 1.22+ prints for json.Marshal of the json.Unmarshal'ed input.
  t.equal(goJsonMarshal({ b: 1, a: 2, B: 3 }), '{"B":3,"a":2,"b":1}', 'keys sorted bytewise');
  t.equal(goJsonMarshal({ é: 1, z: 2, '\u{1F600}': 3, '\uFF01': 4 }), '{"z":2,"é":1,"！":4,"😀":3}', 'UTF-8 byte order, not UTF-16');
  t.equal(goJsonMarshal('<a href="x">&</a>'), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"', 'HTML characters escaped');
  t.equal(goJsonMarshal('\u2028\u2029'), '"\\u2028\\u2029"');
  t.equal(goJsonMarshal('\b\f\n\r\t\u0001\u001f\u007f'), '"\\b\\f\\n\\r\\t\\u0001\\u001f\u007f"');
  t.equal(goJsonMarshal('lone \ud800 surrogate'), '"lone \ufffd surrogate"');
  t.equal(
    goJsonMarshal([1, 1.5, 1e21, 1e20, 1e-7, 0.000001, -0, 123456789012345680000]),
    '[1,1.5,1e+21,100000000000000000000,1e-7,0.000001,-0,123456789012345680000]',
  );
  t.equal(goJsonMarshal({ n: null, t: true, f: false, nested: { y: [{ b: 1, a: 0 }] } }), '{"f":false,"n":null,"nested":{"y":[{"a":0,"b":1}]},"t":true}');
  t.end();
});

t.test('records: the JSON form and the legacy form', (t) => {
  t.same(rec('{"address":"10.0.0.1:5000","message":"hello\\n"}\n'), { address: '10.0.0.1:5000', message: 'hello\n' }, 'a string message verbatim');
  t.same(
    rec('{"address":"logs:5000","message":{"b":"<","a":1}}\n'),
    { address: 'logs:5000', message: '{"a":1,"b":"\\u003c"}\n' },
    'an object message re-encoded, plus a newline',
  );
  t.same(rec('{"Address":"logs:1","MESSAGE":"m"}\n'), { address: 'logs:1', message: 'm' }, 'keys match case-insensitively, as Go');
  t.same(rec('{"address":"logs:1"}\n'), { address: 'logs:1', message: 'null\n' }, 'a missing message is null');
  t.same(rec('logs:5000;a;b\n'), { address: 'logs:5000', message: 'a;b\n' }, 'legacy: split on the first ;');
  t.same(
    rec('{"address":5,"message":"x;y"}\n'),
    { address: '{"address":5,"message":"x', message: 'y"}\n' },
    'a non-string address fails the JSON decode: legacy split',
  );
  t.ok('invalid' in rec('no separator\n'));
  t.ok('invalid' in rec('\n'));
  t.end();
});

t.test("socket names follow Kuma's 98-byte rule", (t) => {
  t.equal(accessLogSocketName('/tmp/kuma-dp-1', 'web-1', 'default'), '/tmp/kuma-dp-1/kuma-al-web-1-default.sock');
  t.equal(accessLogSocketName('/tmp/kuma-dp-1/', 'web-1', 'default'), '/tmp/kuma-dp-1/kuma-al-web-1-default.sock', 'joined as filepath.Join');
  const long = '/w/' + 'd'.repeat(120);
  const name = socketName(long);
  t.equal(Buffer.byteLength(name), 103);
  t.equal(name, long.slice(0, 98) + '.sock');
  t.equal(socketName('/w/' + 'd'.repeat(95)), '/w/' + 'd'.repeat(95) + '.sock', '98 bytes: nothing cut');
  t.throws(() => socketName('/w/' + 'd'.repeat(94) + 'éé'), /multi-byte/);
  t.end();
});

t.test('collector addresses as Go dials them', (t) => {
  t.same(splitHostPort('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  t.same(splitHostPort('logstash.local:5000'), { host: 'logstash.local', port: 5000 });
  t.same(splitHostPort('[::1]:5000'), { host: '::1', port: 5000 });
  t.same(splitHostPort(':5000'), { host: 'localhost', port: 5000 });
  t.equal(splitHostPort('::1:5000'), undefined);
  t.equal(splitHostPort('host'), undefined);
  t.equal(splitHostPort('host:70000'), undefined);
  t.end();
});
