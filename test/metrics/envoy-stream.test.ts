import t from 'tap';
import { streamEnvoy } from '../../src/metrics/envoy-stream.js';
import { profileSelector } from '../../src/metrics/profiles.js';

const STATS = `# TYPE envoy_listener_http_downstream_rq_xx counter
envoy_listener_http_downstream_rq_xx{envoy_http_conn_manager_prefix="ünïcode",envoy_response_code_class="2"} 4
# TYPE envoy_server_live gauge
envoy_server_live 1
`;

function run(pieces: Buffer[], extraLabels: Array<[string, string]> = []): string {
  const out: Buffer[] = [];
  const select = profileSelector({ appendProfiles: [{ name: 'All' }] });
  streamEnvoy(pieces, { format: 'text', select, extraLabels, claimed: new Set() }, (c) => out.push(Buffer.from(c)));
  return Buffer.concat(out).toString('utf8');
}

t.test("Envoy's answer split anywhere, even inside a character, comes out whole", (t) => {
  const whole = Buffer.from(STATS);
  const expected = run([whole]);
  t.equal(expected, STATS);
  for (let size = 1; size < 16; size++) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < whole.length; at += size) pieces.push(whole.subarray(at, at + size));
    t.equal(run(pieces), expected, `pieces of ${size} bytes`);
  }
  t.end();
});

t.test('extra labels: added to every series, replacing a label of the same name', (t) => {
  const body = Buffer.from(`# TYPE envoy_a counter\nenvoy_a{team="old",x="1"} 1\nenvoy_a{x="2"} 2\nenvoy_a 3\n`);
  t.equal(
    run([body], [['team', 'new "one"']]),
    `# TYPE envoy_a counter\nenvoy_a{x="1",team="new \\"one\\""} 1\nenvoy_a{x="2",team="new \\"one\\""} 2\nenvoy_a{team="new \\"one\\""} 3\n`,
  );
  t.end();
});

t.test("the response's memory is reused only once the socket has written every chunk cut from it", (t) => {
  let body = '# TYPE envoy_cluster_upstream_rq_total counter\n';
  for (let i = 0; i < 6000; i++) body += `envoy_cluster_upstream_rq_total{envoy_cluster_name="c${i}"} ${i}\n`;
  const input = Buffer.from(body);
  const select = profileSelector({ appendProfiles: [{ name: 'All' }] });
  const scrape = (): { chunks: Uint8Array[]; written: Array<() => void> } => {
    const chunks: Uint8Array[] = [];
    const written: Array<() => void> = [];
    streamEnvoy([input], { format: 'text', select, extraLabels: [], claimed: new Set() }, (chunk, done) => (chunks.push(chunk), written.push(done)));
    return { chunks, written };
  };
  const text = (chunks: Uint8Array[]): string => Buffer.concat(chunks).toString('utf8');
  const memory = (chunks: Uint8Array[]): Set<ArrayBufferLike> => new Set(chunks.map((c) => c.buffer));

  const first = scrape();
  t.ok(first.chunks.length > 4, 'the answer spans several chunks');
  const second = scrape(); // the socket has written nothing of the first yet
  t.equal(text(first.chunks), body, 'the first response is intact while a second is made');
  t.equal([...memory(second.chunks)].filter((b) => memory(first.chunks).has(b)).length, 0, 'the second uses none of the first one’s memory');

  for (const done of [...first.written, ...second.written]) done();
  const third = scrape();
  t.equal(text(third.chunks), body);
  t.ok(
    [...memory(third.chunks)].some((b) => memory(first.chunks).has(b) || memory(second.chunks).has(b)),
    'written memory is reused',
  );
  t.end();
});
