import t from 'tap';
import {
  ExpositionParser,
  labelValue,
  mergeFamilies,
  parseExposition,
  parseLabels,
  renderChunks,
  renderExposition,
  withLabels,
} from '../../src/exposition/exposition.js';
import { mergeEnvoyClusters } from '../../src/metrics/legacy-merge.js';
import { envoyStatsPath, parseMeshMetricConfig } from '../../src/metrics/meshmetric-config.js';
import { profileFilter } from '../../src/metrics/profiles.js';

// Shaped as Envoy's /stats?format=prometheus prints them.
const ENVOY = `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 7
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="system_envoy_admin"} 3
# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 7
envoy_cluster_upstream_rq_total{envoy_cluster_name="system_envoy_admin"} 3
# TYPE envoy_server_live gauge
envoy_server_live{} 1
# TYPE envoy_cluster_lb_subsets_created counter
envoy_cluster_lb_subsets_created{envoy_cluster_name="backend"} 0
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="0.5"} 1
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 7
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 12.5
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 7
`;

t.test('parses families, samples, escaped label values and timestamps', (t) => {
  const families = parseExposition(`# HELP a_total The "a" thing\\nsecond line
# TYPE a_total counter
a_total{path="/x\\"y",z="a,b}c"} 3 1700000000000
b 4
`);
  t.equal(families.length, 2);
  t.same(families[0], {
    name: 'a_total',
    type: 'counter',
    help: 'The "a" thing\nsecond line',
    samples: [
      {
        name: 'a_total',
        labels: 'path="/x\\"y",z="a,b}c"',
        value: '3',
        timestampMs: 1700000000000,
      },
    ],
  });
  t.same(parseLabels(families[0]!.samples[0]!.labels), [
    ['path', '/x"y'],
    ['z', 'a,b}c'],
  ]);
  t.equal(labelValue(families[0]!.samples[0]!.labels, 'z'), 'a,b}c');
  t.equal(labelValue(families[0]!.samples[0]!.labels, 'x'), undefined);
  t.same(families[1], { name: 'b', type: 'untyped', samples: [{ name: 'b', labels: '', value: '4' }] });
  t.equal(parseExposition('broken{ 1\n{a="b"} 2\nok 1\n').length, 1, 'broken lines are skipped, the rest kept');
  t.end();
});

t.test('OpenMetrics: every family declared once, counters named as the spec wants', (t) => {
  const { families } = mergeFamilies([parseExposition(ENVOY)], 'openmetrics');
  const body = renderExposition(families, 'openmetrics');
  const types = body.split('\n').filter((l) => l.startsWith('# TYPE'));
  t.equal(new Set(types).size, types.length, 'no family declared twice');
  t.match(body, /^# TYPE envoy_cluster_upstream_rq counter$/m);
  t.equal(types.filter((l) => l.startsWith('# TYPE envoy_cluster_upstream_rq ')).length, 1);
  t.match(body, /^envoy_cluster_upstream_rq_total\{envoy_response_code="200",envoy_cluster_name="backend"\} 7$/m, 'the per-code series');
  t.match(body, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="backend"\} 7$/m, 'the total series, in the same family');
  t.match(body, /# EOF\n$/);
  t.notMatch(body, /^envoy_cluster_upstream_rq\{/m, 'no counter sample without _total');
  t.end();
});

t.test('text format: duplicate families from several sources merge, a repeated series keeps the first', (t) => {
  const a = parseExposition('# TYPE up gauge\nup{job="a"} 1\n');
  const b = parseExposition('# TYPE up gauge\nup{job="a"} 0\nup{job="b"} 1\n');
  const c = parseExposition('# TYPE up counter\nup 5\n');
  const { families, dropped } = mergeFamilies([a, b, c], 'text');
  t.equal(renderExposition(families, 'text'), '# TYPE up gauge\nup{job="a"} 1\nup{job="b"} 1\n');
  t.same(dropped, ['up'], 'a family of another type under the same name is left out');
  t.end();
});

t.test('OpenMetrics input is read with its own rules and can be printed as text', (t) => {
  const om = parseExposition('# TYPE req counter\n# HELP req Requests.\nreq_total{a="1"} 2 1700000000.5\nreq_created{a="1"} 1700000000\n# EOF\n', true);
  t.same(om, [
    { name: 'req_total', type: 'counter', help: 'Requests.', samples: [{ name: 'req_total', labels: 'a="1"', value: '2', timestampMs: 1700000000500 }] },
  ]);
  t.equal(
    renderExposition(mergeFamilies([om], 'text').families, 'text'),
    '# HELP req_total Requests.\n# TYPE req_total counter\nreq_total{a="1"} 2 1700000000500\n',
  );
  t.equal(
    renderExposition(mergeFamilies([om], 'openmetrics').families, 'openmetrics'),
    '# HELP req Requests.\n# TYPE req counter\nreq_total{a="1"} 2 1700000000.5\n# EOF\n',
  );
  t.end();
});

t.test('extra labels replace same-named labels', (t) => {
  const families = withLabels(parseExposition('x{mesh="old",a="b"} 1\n'), [['mesh', 'default']]);
  t.equal(families[0]!.samples[0]!.labels, 'a="b",mesh="default"');
  t.equal(
    withLabels(parseExposition('y{a="b"} 1\nz 2\n'), [['mesh', 'm']])
      .map((f) => f.samples[0]!.labels)
      .join(' '),
    'a="b",mesh="m" mesh="m"',
  );
  t.end();
});

t.test('Basic profile: keeps golden signals, drops the rest and the series of Kuma system clusters', (t) => {
  const kept = profileFilter(undefined)(parseExposition(ENVOY));
  t.same(
    kept.map((f) => f.name),
    ['envoy_cluster_upstream_rq', 'envoy_cluster_upstream_rq_total', 'envoy_server_live', 'envoy_cluster_upstream_rq_time'],
  );
  t.notOk(
    kept.some((f) => f.samples.some((s) => s.labels.includes('"system_'))),
    'no series of system_ clusters',
  );
  t.end();
});

t.test('profiles: All, None, the broadest appended profile wins, exclude then include', (t) => {
  const names = (p: Parameters<typeof profileFilter>[0]) => profileFilter(p)(parseExposition(ENVOY)).map((f) => f.name);
  t.equal(names({ appendProfiles: [{ name: 'All' }] }).length, 5);
  t.same(names({ appendProfiles: [{ name: 'None' }] }), []);
  t.equal(names({ appendProfiles: [{ name: 'None' }, { name: 'All' }] }).length, 5);
  t.same(names({ appendProfiles: [{ name: 'None' }], include: [{ type: 'Prefix', match: 'envoy_server' }] }), ['envoy_server_live']);
  t.same(names({ exclude: [{ type: 'Regex', match: 'upstream_rq' }], include: [{ type: 'Exact', match: 'envoy_cluster_upstream_rq_time' }] }), [
    'envoy_server_live',
    'envoy_cluster_upstream_rq_time',
  ]);
  const all = profileFilter({ appendProfiles: [{ name: 'All' }] })(parseExposition(ENVOY));
  t.ok(
    all.some((f) => f.samples.some((s) => s.labels.includes('"system_envoy_admin"'))),
    'All keeps system clusters',
  );
  t.end();
});

t.test("the /meshmetric body Kuma's control plane sends is read; bad bodies name the field", (t) => {
  const config = parseMeshMetricConfig(
    '{"observability":{"metrics":{"applications":[{"path":"/metrics","port":8080,"address":""}],"backends":[{"type":"Prometheus","name":null}],"sidecar":{"includeUnused":false},"extraLabels":{"kuma.proxy_role":"sidecar","kuma.workload":"backend","mesh":"default","zone":"zone-1"}}}}',
  );
  t.same(config.applications, [{ address: '', port: 8080, path: '/metrics' }]);
  t.same(config.extraLabels, { 'kuma.proxy_role': 'sidecar', 'kuma.workload': 'backend', mesh: 'default', zone: 'zone-1' });
  t.equal(envoyStatsPath(config), '/stats?format=prometheus&text_readouts=&usedonly=', "Kuma's query");
  t.equal(envoyStatsPath({ ...config, sidecar: { includeUnused: true } }), '/stats?format=prometheus&text_readouts=');
  t.throws(() => parseMeshMetricConfig('{"observability":{"metrics":{"applications":[{"port":0}]}}}'), /applications\[0\]\.port/);
  t.throws(
    () => parseMeshMetricConfig('{"observability":{"metrics":{"sidecar":{"profiles":{"appendProfiles":[{"name":"Most"}]}}}}}'),
    /appendProfiles\[0\]\.name must be All, Basic or None/,
  );
  t.throws(() => parseMeshMetricConfig('nope'), /not (valid )?JSON/);
  t.end();
});

t.test('legacy merge: cluster suffixes summed, mesh traffic marked, system clusters not', (t) => {
  const merged = mergeEnvoyClusters(
    parseExposition(`# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="web-5fb50345cfb50345"} 10
envoy_cluster_upstream_rq_total{envoy_cluster_name="web-cfb50345409aedd1"} 20
envoy_cluster_upstream_rq_total{envoy_cluster_name="kuma_envoy_admin"} 1
# TYPE envoy_http_downstream_rq_total counter
envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="admin"} 1
envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="inbound_web"} 2
`),
  );
  t.equal(
    renderExposition(mergeFamilies([merged], 'text').families, 'text'),
    `# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="web",kuma_io_mesh_traffic="true"} 30
envoy_cluster_upstream_rq_total{envoy_cluster_name="kuma_envoy_admin"} 1
# TYPE envoy_http_downstream_rq_total counter
envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="admin"} 1
envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="inbound_web",kuma_io_mesh_traffic="true"} 2
`,
  );
  t.end();
});

t.test('fed in pieces split anywhere, the parser reads what it reads from the whole text', (t) => {
  const whole = parseExposition(ENVOY);
  for (let cut = 1; cut < ENVOY.length; cut += 7) {
    const parser = new ExpositionParser();
    parser.push(ENVOY.slice(0, cut));
    parser.push(ENVOY.slice(cut, cut + 50));
    parser.push(ENVOY.slice(cut + 50));
    t.same(parser.end(), whole, `cut at ${cut}`);
  }
  const noNewline = new ExpositionParser();
  noNewline.push('a 1\nb');
  noNewline.push(' 2');
  t.same(
    noNewline.end().map((f) => f.name),
    ['a', 'b'],
    'the last line needs no newline',
  );
  let chunks = 0;
  let printed = '';
  renderChunks(mergeFamilies([whole], 'text').families, 'text', (c) => ((printed += c), chunks++), 64);
  t.equal(printed, renderExposition(mergeFamilies([whole], 'text').families, 'text'));
  t.ok(chunks > 3, 'printed in pieces');
  t.end();
});
