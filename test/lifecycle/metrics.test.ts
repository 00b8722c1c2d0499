// The merged metrics endpoint through the real CLI with the Envoy stand-in:
// Envoy's series, the applications' (from a flag and from the control
// plane's metrics.aggregate) and the agent's own, in the text format and in
// OpenMetrics by content negotiation.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { mergeFamilies, parseExposition, renderExposition } from '../../src/exposition/exposition.js';
import { bootstrapYaml } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';
import { ADMIN_SHAPES, withAdmin, http, setup, startAgent, waitForReadiness } from './harness.js';

/** An application metrics endpoint that speaks both formats, as prometheus clients do. */
async function appMetrics(t: Test, series: string): Promise<{ port: number; accepts: string[] }> {
  const accepts: string[] = [];
  const server = createServer((req, res) => {
    accepts.push(`${req.url} ${String(req.headers.accept)}`);
    if (/openmetrics/.test(String(req.headers.accept))) {
      res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
      res.end(`# TYPE ${series}_requests counter\n# HELP ${series}_requests Requests served.\n${series}_requests_total{path="/"} 7\n# EOF\n`);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# HELP ${series}_requests_total Requests served.\n# TYPE ${series}_requests_total counter\n${series}_requests_total{path="/"} 7\n`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, accepts };
}

/** Structural OpenMetrics checks: families declared once before their samples, counters' samples end in _total, one # EOF at the end. */
function checkOpenMetrics(t: Test, body: string): void {
  const lines = body.split('\n');
  t.equal(lines.at(-1), '', 'ends with a newline');
  t.equal(lines.at(-2), '# EOF', 'ends with # EOF');
  t.equal(lines.filter((l) => l === '# EOF').length, 1, 'one # EOF');
  const types = new Map<string, string>();
  const problems: string[] = [];
  for (const line of lines.slice(0, -2)) {
    const meta = /^# (TYPE|HELP|UNIT) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        if (types.has(meta[2]!)) problems.push(`family declared twice: ${meta[2]}`);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    if (line.startsWith('#') || line === '') {
      problems.push(`not allowed in OpenMetrics: '${line}'`);
      continue;
    }
    const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)?.[1] ?? '';
    const family = [...types.keys()].filter((f) => name === f || name.startsWith(`${f}_`)).sort((a, b) => b.length - a.length)[0];
    if (!family) problems.push(`sample without a family: ${line}`);
    else if (types.get(family) === 'counter' && !/_(total|created)$/.test(name)) problems.push(`counter sample without _total: ${line}`);
  }
  t.same(problems, [], 'valid OpenMetrics structure');
}

t.test("one exposition: Envoy's, the applications' and the agent's series; text or OpenMetrics", async (t) => {
  const x = await setup(t);
  const flagged = await appMetrics(t, 'flagged_app');
  const announced = await appMetrics(t, 'cp_app');
  const metricsPort = await freePort();
  x.cp.respond(
    { status: 503, body: 'not yet' },
    {
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        bootstrap: Buffer.from(bootstrapYaml(x.s.adminPort)).toString('base64'),
        kumaSidecarConfiguration: { metrics: { aggregate: [{ name: 'cp-app', address: '127.0.0.1', port: announced.port, path: '/stats' }] } },
      }),
    },
  );
  const agent = startAgent(t, x, ['--metrics-address', `127.0.0.1:${metricsPort}`, '--metrics-aggregate', `app=http://127.0.0.1:${flagged.port}/metrics`]);
  await waitForReadiness(x, '200 READY');
  await agent.waitForLog((l) => l.msg === 'merged metrics endpoint listening', 'metrics listening');
  await agent.waitForLog((l) => l.msg === 'Envoy is live', 'the supervisor saw Envoy live');

  const text = await http(metricsPort, 'GET', '/metrics');
  t.equal(text.status, 200);
  t.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.match(text.body, /^# TYPE envoy_server_live gauge\nenvoy_server_live 1$/m, "Envoy's series");
  t.match(text.body, /^flagged_app_requests_total\{path="\/"\} 7$/m, 'the application named by --metrics-aggregate');
  t.match(text.body, /^cp_app_requests_total\{path="\/"\} 7$/m, 'the application named by the control plane');
  t.match(text.body, /^kuma_dp_bootstrap_attempts_total 2$/m, 'bootstrap attempts (one 503, then success)');
  t.match(text.body, /^kuma_dp_envoy_starts_total 1$/m);
  t.match(text.body, /^kuma_dp_envoy_restarts_total 0$/m);
  t.match(text.body, /^kuma_dp_envoy_live 1$/m);
  t.match(text.body, /^kuma_dp_uptime_seconds \d+(\.\d+)?$/m);
  t.match(text.body, /^kuma_dp_metrics_source_up\{source="envoy"\} 1$/m);
  t.match(text.body, /^kuma_dp_metrics_source_up\{source="cp-app"\} 1$/m);
  t.match(text.body, /^# TYPE kuma_dp_drain_duration_seconds histogram$/m);
  t.match(announced.accepts, [/^\/stats text\/plain/], 'the CP-named endpoint was scraped at its path');

  const om = await http(metricsPort, 'GET', '/metrics', { accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' });
  t.equal(om.status, 200);
  t.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  checkOpenMetrics(t, om.body);
  t.match(
    om.body,
    /^# HELP flagged_app_requests Requests served\.\n# TYPE flagged_app_requests counter\nflagged_app_requests_total\{path="\/"\} 7$/m,
    'an OpenMetrics source passes through',
  );
  t.match(om.body, /^envoy_server_live 1$/m);
  t.match(om.body, /^kuma_dp_bootstrap_attempts_total 2$/m);
  t.match(flagged.accepts.at(-1), /^\/metrics application\/openmetrics-text/, 'sources are asked for OpenMetrics first');
});

for (const admin of ADMIN_SHAPES)
  t.test(`an unreachable source is left out and reported, the rest (Envoy's stats included) is served (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    const metricsPort = await freePort();
    x.cp.respond({ status: 200, contentType: 'text/x-yaml', body: withAdmin(x, bootstrapYaml(x.s.adminPort)) });
    const agent = startAgent(t, x, ['--metrics-address', `127.0.0.1:${metricsPort}`, '--metrics-aggregate', 'gone=http://127.0.0.1:1/metrics']);
    await agent.waitForLog((l) => l.msg === 'merged metrics endpoint listening', 'metrics listening');
    await agent.waitForLog((l) => l.msg === 'Envoy is live', 'Envoy is live');
    const res = await http(metricsPort, 'GET', '/metrics');
    t.equal(res.status, 200);
    t.match(res.body, /^kuma_dp_metrics_source_up\{source="gone"\} 0$/m);
    t.match(res.body, /^envoy_server_live 1$/m, "Envoy's stats, through its admin API");
    t.ok(agent.logs().some((l) => l.msg === 'could not scrape a metrics source' && l.source === 'gone'));
  });

t.test('metrics flags are checked', async (t) => {
  const x = await setup(t);
  for (const [args, expected] of [
    [['--metrics-address', 'nowhere'], /--metrics-address: 'nowhere' must be host:port, e\.g\. 127\.0\.0\.1:9903/],
    [['--metrics-aggregate', 'http://127.0.0.1:8080/metrics'], /--metrics-aggregate: 'http:\/\/127\.0\.0\.1:8080\/metrics' must be name=URL/],
  ] as const) {
    const agent = startAgent(t, x, [...args]);
    t.equal((await agent.exited).code, 1);
    t.match(agent.stderr(), expected);
  }
});

t.test('text format → OpenMetrics', (t) => {
  const toOpenMetrics = (text: string) => renderExposition(mergeFamilies([parseExposition(text)], 'openmetrics').families, 'openmetrics');
  t.equal(
    toOpenMetrics(
      '# HELP a_total As.\n# TYPE a_total counter\na_total{x="1"} 3 1700000000000\n# TYPE b counter\nb 2\n# TYPE c untyped\nc 1\n# a free comment\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n',
    ),
    '# HELP a As.\n# TYPE a counter\na_total{x="1"} 3 1700000000\n# TYPE b counter\nb_total 2\n# TYPE c unknown\nc 1\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n# EOF\n',
  );
  t.equal(toOpenMetrics(''), '# EOF\n');
  t.end();
});
