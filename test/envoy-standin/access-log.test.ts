// The stand-in's access-log formatter: Envoy's command operators as Kuma's
// formats use them, text and JSON formats, and an unknown operator refused.
import t from 'tap';
import { formatter, type StreamInfo } from './access-log.js';
import { ConfigError } from './config.js';

const info: StreamInfo = {
  startTime: new Date('2026-01-02T03:04:05.678Z'),
  endTime: new Date('2026-01-02T03:04:05.790Z'),
  bytesReceived: 7,
  bytesSent: 42,
  upstreamHost: '10.0.0.9:8080',
  upstreamCluster: 'backend',
  responseFlags: [],
  protocol: 'HTTP/1.1',
  responseCode: 200,
  requestHeaders: { ':method': 'GET', ':path': '/a?b=1', ':authority': 'backend', 'user-agent': 'curl/8', 'x-b3-traceid': 'abc' },
  responseHeaders: { 'x-envoy-upstream-service-time': '3' },
  downstreamRemote: { address: '127.0.0.1', port: 5555 },
};

t.test('text formats', (t) => {
  const text = (f: string, s: StreamInfo = info) => formatter({ text_format_source: { inline_string: f } })(s);
  t.equal(text('[%START_TIME%] %DURATION% %BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_CODE% %RESPONSE_FLAGS%\n'), '[2026-01-02T03:04:05.678Z] 112 7 42 200 -\n');
  t.equal(text('%START_TIME(%s)%,%START_TIME(%Y-%m-%dT%H:%M:%E3S)%'), '1767323045,2026-01-02T03:04:05.678');
  t.equal(text('"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"'), '"GET /a?b=1 HTTP/1.1"', 'alternative headers');
  t.equal(text('%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)% %REQ(X-REQUEST-ID)% %REQ(USER-AGENT):4% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%'), 'abc - curl 3');
  t.equal(
    text('%UPSTREAM_HOST% %UPSTREAM_CLUSTER% %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% 100%%'),
    '10.0.0.9:8080 backend 127.0.0.1:5555 127.0.0.1 100%',
  );
  const tcp: StreamInfo = { ...info, protocol: undefined, responseCode: 0, requestHeaders: undefined, responseFlags: ['UF'], upstreamHost: undefined };
  t.equal(text('%PROTOCOL% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_HOST% %REQ(:PATH)%', tcp), '- 0 UF - -', 'a TCP connection');
  t.match(
    formatter(undefined)(info),
    /^\[2026-01-02T03:04:05\.678Z\] "GET \/a\?b=1 HTTP\/1\.1" 200 - 7 42 112 3 "-" "curl\/8" "-" "backend" "10\.0\.0\.9:8080"\n$/,
    "Envoy's default format",
  );
  t.end();
});

t.test('json_format: keys sorted, single numeric operators typed, missing values null or omitted', (t) => {
  const line = formatter({ json_format: { message: { path: '%REQ(:PATH)%', duration: '%DURATION%', trace: '%REQ(X-REQUEST-ID)%' }, address: 'logs:5000' } })(
    info,
  );
  t.equal(line, '{"address":"logs:5000","message":{"duration":112,"path":"/a?b=1","trace":null}}\n');
  const omitted = formatter({ json_format: { a: '%REQ(X-REQUEST-ID)%', b: 'x' }, omit_empty_values: true })(info);
  t.equal(omitted, '{"b":"x"}\n');
  const text = formatter({ json_format: { address: 'l:1', message: 'took %DURATION%ms\n' } })(info);
  t.equal(text, '{"address":"l:1","message":"took 112ms\\n"}\n', 'a mixed value is a string; the newline escaped');
  t.end();
});

t.test('an operator Envoy does not know is a config error', (t) => {
  let err: unknown;
  try {
    formatter({ text_format_source: { inline_string: '%KUMA_MESH%' } });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError, 'a ConfigError (the listener is NACKed)');
  t.match((err as Error).message, /Not supported field in StreamInfo: KUMA_MESH/, 'Kuma placeholders must be filled in by the control plane');
  t.throws(() => formatter({ json_format: { m: '%NOT_AN_OPERATOR%' } }), /Not supported field in StreamInfo: NOT_AN_OPERATOR/);
  t.end();
});
