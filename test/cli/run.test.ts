// `kuma-dp run` as a user meets it: a real process, a control plane on a
// loopback socket, and an Envoy double that records what it was given.
import { statSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { BootstrapRequest } from '../../src/bootstrap/request.js';
import { parseYaml } from '../../src/util/yaml.js';
import { bootstrapYaml, jsonBootstrapResponse, startFakeCp } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';
import { alive, waitFor } from '../helpers/wait.js';
import { agentSetup as setup, DATAPLANE_YAML, ENVOY_DOUBLE, scratch, startAgent } from './agent-harness.js';

/** The parts of the written bootstrap.yaml these tests read. */
interface SocketAddress {
  socket_address: { port_value: number };
}
interface StaticBootstrap {
  static_resources: {
    listeners: { name: string; address: SocketAddress }[];
    clusters: { name: string; type: string; load_assignment?: { endpoints: { lb_endpoints: { endpoint: { address: SocketAddress } }[] }[] } }[];
  };
}

// Agents in parallel test files would all claim the readiness port 9902; these tests do not use it.
process.env.KUMA_READINESS_PORT = '0';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJOYW1lIjoid2ViLTEiLCJNZXNoIjoiZGVmYXVsdCJ9.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ';

t.test("sends Kuma's BootstrapRequest, writes bootstrap.yaml 0600, starts Envoy with Kuma's exact command line", async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  const workDir = join(s.dir, 'work');
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const readinessPort = await freePort();
  const agent = startAgent(
    s,
    [
      '--cp-address',
      cp.url,
      '-d',
      dpFile,
      ...vars,
      '--work-dir',
      workDir,
      '--dataplane-token',
      TOKEN,
      '--drain-time',
      '7s',
      '--concurrency',
      '2',
      '--envoy-component-log-level',
      'upstream:debug',
      '--skip-config-validation',
    ],
    { KUMA_READINESS_PORT: String(readinessPort) },
  );
  t.teardown(() => agent.kill('SIGKILL'));
  const started = await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));

  t.equal(cp.requests.length, 1, 'one bootstrap request');
  const req = cp.requests[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.path, '/bootstrap');
  t.equal(req.headers['content-type'], 'application/json');
  t.equal(req.headers['accept'], 'application/json');
  const body = JSON.parse(req.body) as BootstrapRequest;
  t.same(
    Object.keys(body),
    [
      'mesh',
      'name',
      'proxyType',
      'dataplaneToken',
      'dataplaneTokenPath',
      'dataplaneResource',
      'version',
      'caCert',
      'dynamicMetadata',
      'dnsPort',
      'readinessPort',
      'operatingSystem',
      'features',
      'resources',
      'workdir',
      'metricsResources',
      'systemCaPath',
      'ipv6Enabled',
      'spireResources',
    ],
    "Kuma's keys in Kuma's order",
  );
  t.match(body, {
    mesh: 'default',
    name: 'web-1',
    proxyType: 'dataplane',
    dataplaneToken: TOKEN,
    dataplaneTokenPath: join(workDir, 'dataplane-token'),
    version: {
      kumaDp: { version: String, gitTag: String, gitCommit: String, buildDate: String },
      envoy: { version: '1.39.0', build: '0123456789abcdef0123456789abcdef01234567/1.39.0/Clean/RELEASE/BoringSSL', kumaDpCompatible: true },
    },
    caCert: '',
    dynamicMetadata: null,
    dnsPort: 15053,
    readinessPort,
    operatingSystem: 'linux',
    resources: { maxHeapSizeBytes: Number },
    workdir: workDir,
    metricsResources: { certPath: '', keyPath: '' },
    systemCaPath: '',
  });
  t.same(
    body.features,
    ['feature-tcp-accesslog-via-named-pipe', 'feature-embedded-dns', 'feature-strict-inbound-ports', 'feature-reuse-port'],
    'exactly the features this agent implements (src/bootstrap/features.ts)',
  );
  const resource = JSON.parse(body.dataplaneResource ?? '') as unknown;
  t.match(
    resource,
    { type: 'Dataplane', mesh: 'default', name: 'web-1', networking: { inbound: [{ port: 20001, servicePort: 20002 }] } },
    'the templated Dataplane, as a JSON string',
  );

  const configPath = join(workDir, 'bootstrap.yaml');
  t.same(started.argv, [
    '--config-path',
    configPath,
    '--drain-time-s',
    '7',
    '--drain-strategy',
    'immediate',
    '--disable-hot-restart',
    '--log-level',
    'info',
    '--component-log-level',
    'upstream:debug',
    '--concurrency',
    '2',
  ]);
  t.equal(statSync(configPath).mode & 0o777, 0o600, 'bootstrap.yaml is 0600');
  t.equal(statSync(workDir).mode & 0o777, 0o711, 'work dir is 0711');
  t.equal(readFileSync(configPath, 'utf8'), bootstrapYaml(s.adminPort, { lds: true }), 'a bootstrap with lds_config is written exactly as the CP sent it');
  t.equal(statSync(join(workDir, 'dataplane-token')).mode & 0o777, 0o600, 'token file is 0600');
  t.equal(readFileSync(join(workDir, 'dataplane-token'), 'utf8'), TOKEN);

  agent.kill('SIGKILL');
  await agent.exited;
  t.notOk(agent.stderr().includes(TOKEN), "the token never appears in the agent's output");
  t.notOk(agent.stdout().includes(TOKEN));
  t.ok(existsSync(workDir), 'a given work dir is kept');
});

t.test(
  "without --concurrency Envoy gets Kuma's --cpuset-threads on Linux (none elsewhere); KUMA_DATAPLANE_RUNTIME_CONCURRENCY=0 is that default",
  async (t) => {
    const { s, cp, dpFile, vars } = await setup(t);
    const workDir = join(s.dir, 'work');
    cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
    const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--work-dir', workDir, '--skip-config-validation'], {
      KUMA_DATAPLANE_RUNTIME_CONCURRENCY: '0',
      KUMA_DNS_ENABLED: 'false',
      KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED: 'false',
      KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED: 'false',
    });
    t.teardown(() => agent.kill('SIGKILL'));
    const started = await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));
    t.same(started.argv, [
      '--config-path',
      join(workDir, 'bootstrap.yaml'),
      '--drain-time-s',
      '30',
      '--drain-strategy',
      'immediate',
      '--disable-hot-restart',
      '--log-level',
      'info',
      ...(process.platform === 'linux' ? ['--cpuset-threads'] : []),
    ]);
    const sent = JSON.parse(cp.requests[0]!.body) as { features: string[] };
    t.same(sent.features, ['feature-tcp-accesslog-via-named-pipe'], "Kuma's switches turn the others off");
  },
);

t.test('renders static listeners and clusters when the CP sends no lds_config', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  const workDir = join(s.dir, 'work');
  cp.respond({ status: 200, contentType: 'text/x-yaml', body: bootstrapYaml(s.adminPort, { ads: true }) });
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--work-dir', workDir, '--skip-config-validation']);
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));
  const config = parseYaml(readFileSync(join(workDir, 'bootstrap.yaml'), 'utf8')) as StaticBootstrap;
  const listeners = config.static_resources.listeners.map((l) => l.name);
  const clusters = config.static_resources.clusters.map((c) => `${c.name}:${c.type}`);
  t.same(listeners, ['inbound:127.0.0.1:20001', 'outbound:127.0.0.1:20003']);
  t.same(clusters, ['ads_cluster:STATIC', 'localhost:20002:STATIC', 'backend:EDS'], "the outbound's endpoints come over ADS");
  t.equal(config.static_resources.listeners[0]?.address.socket_address.port_value, 20001);
  t.equal(config.static_resources.clusters[1]?.load_assignment?.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address.port_value, 20002);
});

t.test('static mode without ADS: an outbound with no --outbound-upstream is an error naming the service and the flag; a bad value names itself', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 200, contentType: 'text/x-yaml', body: bootstrapYaml(s.adminPort) });
  const missing = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation']);
  t.equal((await missing.exited).code, 1);
  t.match(
    missing.stderr(),
    "networking.outbound[0] (service 'backend'): the control plane's bootstrap has no ADS, so nothing says where 'backend' is reached; give it with --outbound-upstream backend=HOST:PORT (KUMA_DATAPLANE_RUNTIME_OUTBOUND_UPSTREAMS)",
  );
  t.notOk(
    s.events().some((e) => e.event === 'start'),
    'Envoy is not started',
  );

  const bad = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--outbound-upstream', 'backend'], {
    KUMA_DATAPLANE_RUNTIME_OUTBOUND_UPSTREAMS: 'backend=10.0.0.5:8080,db',
  });
  t.equal((await bad.exited).code, 1);
  t.match(bad.stderr(), "KUMA_DATAPLANE_RUNTIME_OUTBOUND_UPSTREAMS: 'db' must be service=host:port, e.g. backend=10.0.0.5:8080");
});

t.test('retries on connection refused, 404 and 5xx, then succeeds; temp work dir removed on exit', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  const refusedUrl = 'http://127.0.0.1:1';
  cp.respond(
    { status: 503, body: 'starting' },
    { status: 404, body: '' },
    { status: 500, body: 'oops' },
    jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })),
  );
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation'], {
    ENVOY_DOUBLE_EXIT_AFTER_MS: '100',
    ENVOY_DOUBLE_EXIT_CODE: '0',
  });
  const { code } = await agent.exited;
  t.equal(code, 0, 'Envoy exited 0, so does the agent');
  t.equal(cp.requests.length, 4, 'three failures, then success');
  t.ok(
    agent.logs().some((l) => /Dataplane is not in the control plane yet/.test(String(l.msg))),
    'the 404 hint about the Dataplane not being found yet is logged',
  );
  const workLine = agent.logs().find((l) => l.msg === 'work directory')!;
  t.equal(workLine.temporary, true);
  t.notOk(existsSync(String(workLine.path)), 'the temporary work dir is removed on exit');

  const refused = startAgent(s, ['--cp-address', refusedUrl, '--name', 'web-1', '--mesh', 'default'], { KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '300ms' });
  const r = await refused.exited;
  t.equal(r.code, 1, 'gives up when the retry budget is spent');
  t.match(refused.stderr(), /Error: .*(ECONNREFUSED|refused)/);
});

t.test("a 4xx other than 404 fails at once, showing the CP's body", async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 422, contentType: 'application/json', body: '{"title":"Invalid request","details":"networking.inbound[0].port: must be unique"}' });
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars]);
  const { code } = await agent.exited;
  t.equal(code, 1);
  t.equal(cp.requests.length, 1, 'no retry');
  t.match(agent.stderr(), /networking\.inbound\[0\]\.port: must be unique/);
  t.same(s.events(), [], 'Envoy never started');
});

t.test('SIGTERM drains: healthcheck/fail on the admin API before SIGTERM to Envoy, then exit 0', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--drain-time', '1s', '--skip-config-validation']);
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor('Envoy admin listening', () => s.events().find((e) => e.event === 'admin-listening'));
  agent.kill('SIGTERM');
  const { code } = await agent.exited;
  t.equal(code, 0);
  // The agent also polls GET /ready and reads /stats while draining; the order of the POST and the signal is what matters.
  const seq = s.events().filter((e) => (e.event === 'admin' && e.method === 'POST') || e.event === 'signal');
  t.match(seq, [
    { event: 'admin', method: 'POST', path: '/healthcheck/fail' },
    { event: 'signal', signal: 'SIGTERM' },
  ]);
  const fail = seq[0]!.t as number;
  const term = seq[1]!.t as number;
  t.ok(term - fail >= 900, `Envoy got SIGTERM after the drain time (${term - fail} ms)`);
  const msgs = agent.logs().map((l) => l.msg);
  t.ok(
    msgs.includes('draining') && msgs.includes('drain finished') && msgs.includes('envoy stopping') && msgs.includes('envoy exited'),
    'each transition is logged',
  );
});

t.test('a second signal cuts the drain short', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--drain-time', '60s', '--skip-config-validation']);
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor('Envoy admin listening', () => s.events().find((e) => e.event === 'admin-listening'));
  agent.kill('SIGINT');
  await waitFor('healthcheck/fail', () => s.events().find((e) => e.path === '/healthcheck/fail'));
  agent.kill('SIGINT');
  const { code } = await agent.exited;
  t.equal(code, 0);
  t.match(
    agent.logs().find((l) => l.msg === 'drain finished'),
    { reason: 'second signal' },
  );
});

t.test('Envoy ignoring SIGTERM is killed after the grace period', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--drain-time', '0s', '--skip-config-validation'], {
    ENVOY_DOUBLE_IGNORE_SIGTERM: '1',
  });
  t.teardown(() => agent.kill('SIGKILL'));
  const started = await waitFor('Envoy admin listening', () => s.events().find((e) => e.event === 'admin-listening'));
  const envoyPid = s.events().find((e) => e.event === 'start')!.pid as number;
  t.ok(started);
  agent.kill('SIGTERM');
  const { code } = await agent.exited;
  t.equal(code, 0);
  t.notOk(alive(envoyPid), 'Envoy is gone');
  t.ok(agent.logs().some((l) => l.msg === 'Envoy did not exit after SIGTERM; sending SIGKILL'));
});

t.test("Envoy's exit status becomes the agent's", async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const failing = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation'], {
    ENVOY_DOUBLE_EXIT_AFTER_MS: '50',
    ENVOY_DOUBLE_EXIT_CODE: '3',
  });
  t.equal((await failing.exited).code, 3, 'exit code passes through');
  const crashing = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation'], {
    ENVOY_DOUBLE_EXIT_AFTER_MS: '50',
    ENVOY_DOUBLE_EXIT_SIGNAL: 'SIGSEGV',
  });
  t.equal((await crashing.exited).code, 128 + 11, 'a crash by signal becomes 128+signal');
  t.match(
    crashing.logs().find((l) => l.msg === 'Envoy exited with an error; kuma-dp exits with its status'),
    { status: 139, signal: 'SIGSEGV' },
  );
});

t.test('Envoy does not outlive an agent killed with SIGKILL', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation']);
  const started = await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));
  const envoyPid = started.pid as number;
  t.ok(alive(envoyPid));
  agent.kill('SIGKILL');
  await agent.exited;
  await waitFor('Envoy to die with the agent', () => !alive(envoyPid), { timeoutMs: 5000 });
  t.pass('Envoy is gone');
});

t.test('a missing Envoy fails at once, before the CP is contacted', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  const began = Date.now();
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--binary-path', join(s.dir, 'no-such-envoy')]);
  const { code } = await agent.exited;
  const took = Date.now() - began;
  t.equal(code, 1);
  t.ok(took < 5000, `failed in ${took} ms`);
  t.match(agent.stderr(), /--binary-path .*no-such-envoy: no executable file there; install Envoy/);
  t.equal(cp.requests.length, 0);

  const notFound = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--binary-path', 'envoy-that-is-not-installed']);
  t.equal((await notFound.exited).code, 1);
  t.match(notFound.stderr(), /Envoy executable 'envoy-that-is-not-installed' not found in PATH, the working directory .* or next to kuma-dp/);

  const broken = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { ENVOY_DOUBLE_BROKEN_VERSION: '1' });
  t.equal((await broken.exited).code, 1);
  t.match(broken.stderr(), /printed no Envoy version/);
  t.equal(cp.requests.length, 0);
});

t.test('a work dir that cannot be written fails at once, before the CP is contacted', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  // A read-only place even for root (access(2) would not tell): writing a file there fails.
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--work-dir', '/sys/kernel']);
  t.equal((await agent.exited).code, 1);
  t.match(agent.stderr(), /--work-dir \/sys\/kernel: is not writable by this user \(E[A-Z]+\)/);
  t.equal(cp.requests.length, 0, 'the CP was never contacted');
});

t.test('finds envoy on PATH when --binary-path is not given', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const { start, KUMA_DP } = await import('../helpers/cli.js');
  const agent = start(KUMA_DP, ['run', '--cp-address', cp.url, '-d', dpFile, ...vars, '--skip-config-validation'], {
    env: { PATH: `${join(ENVOY_DOUBLE, '..')}:${process.env.PATH}`, ENVOY_DOUBLE_RECORD: s.recordFile, ENVOY_DOUBLE_EXIT_AFTER_MS: '50' },
  });
  t.equal((await agent.exited).code, 0);
  t.match(
    agent.logs().find((l) => l.msg === 'starting Envoy'),
    { path: ENVOY_DOUBLE },
  );
});

t.test('an invalid Dataplane exits 1 naming the field; the CP is never contacted', async (t) => {
  const { s, cp, vars } = await setup(t);
  const bad = s.file('bad.yaml', DATAPLANE_YAML.replace('address: 127.0.0.1', 'address: 0.0.0.0').replace('servicePort:', 'servicePrt:'));
  const unknown = startAgent(s, ['--cp-address', cp.url, '-d', bad, ...vars]);
  t.equal((await unknown.exited).code, 1);
  t.match(unknown.stderr(), /bad\.yaml: invalid Dataplane: networking\.inbound\[0\]\.servicePrt: unknown field/);

  const wildcard = startAgent(s, ['--cp-address', cp.url, '--dataplane', DATAPLANE_YAML.replace('address: 127.0.0.1', 'address: 0.0.0.0'), ...vars]);
  t.equal((await wildcard.exited).code, 1);
  t.match(wildcard.stderr(), /--dataplane: invalid Dataplane: networking\.address: .*wildcard 0\.0\.0\.0/);

  const both = startAgent(s, ['--cp-address', cp.url, '--dataplane', DATAPLANE_YAML, ...vars, '--name', 'other']);
  t.equal((await both.exited).code, 1);
  t.match(both.stderr(), /--name and --mesh cannot be given together with a Dataplane resource/);

  const missingVar = startAgent(s, ['--cp-address', cp.url, '--dataplane', DATAPLANE_YAML]);
  t.equal((await missingVar.exited).code, 1);
  t.match(missingVar.stderr(), /template variable 'inboundPort', 'servicePort', 'outboundPort' not set; pass --dataplane-var inboundPort=<value>/);
  t.equal(cp.requests.length, 0, 'the CP was never contacted');
});

t.test('reads the Dataplane from stdin with -d -', async (t) => {
  const { s, cp, vars } = await setup(t);
  cp.respond({ status: 422, body: 'stop here' });
  const { start, KUMA_DP } = await import('../helpers/cli.js');
  const agent = start(KUMA_DP, ['run', '--binary-path', ENVOY_DOUBLE, '--cp-address', cp.url, '-d', '-', ...vars], {
    input: DATAPLANE_YAML,
    env: { ENVOY_DOUBLE_RECORD: s.recordFile },
  });
  t.equal((await agent.exited).code, 1);
  t.match(JSON.parse((JSON.parse(cp.requests[0]!.body) as BootstrapRequest).dataplaneResource ?? '') as unknown, {
    name: 'web-1',
    networking: { outbound: [{ port: 20003 }] },
  });
});

t.test('bad flags and variables name themselves', async (t) => {
  const { s } = await setup(t);
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--cp-address', 'ftp://cp:5678', '--name', 'a', '--mesh', 'b'], {}, /--cp-address: unsupported URL scheme 'ftp', must be http or https/],
    [['--name', 'a', '--mesh', 'b', '--drain-time', 'soon'], {}, /--drain-time: 'soon' is not a duration/],
    [['--name', 'a', '--mesh', 'b'], { KUMA_DATAPLANE_DRAIN_TIME: '10 parsecs' }, /KUMA_DATAPLANE_DRAIN_TIME: '10 parsecs' is not a duration/],
    [['--name', 'a', '--mesh', 'b', '--proxy-type', 'sidecar'], {}, /--proxy-type: 'sidecar' must be one of dataplane, ingress, egress/],
    [['--name', 'a', '--mesh', 'b', '--concurrency', 'many'], {}, /--concurrency: 'many' must be a whole number/],
    [['--name', 'a', '--mesh', 'b', '--dataplane-token', 'not a jwt'], {}, /--dataplane-token .*not a dataplane token/],
    [['--name', 'a'], {}, /--mesh \(KUMA_DATAPLANE_MESH\): is required/],
    [['--name', 'a', '--mesh', 'b', '--bogus'], {}, /Unknown argument: bogus/],
  ];
  for (const [args, env, expected] of cases) {
    const agent = startAgent(s, ['--cp-address', 'http://127.0.0.1:1', ...args], env);
    const { code } = await agent.exited;
    t.equal(code, 1, args.join(' '));
    t.match(agent.stderr(), expected);
  }
});

t.test('the environment overrides flags, as in Kuma', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 422, body: 'stop here' });
  const agent = startAgent(s, ['--cp-address', 'http://127.0.0.1:1', '-d', dpFile, ...vars], { KUMA_CONTROL_PLANE_URL: cp.url });
  t.equal((await agent.exited).code, 1);
  t.equal(cp.requests.length, 1, 'KUMA_CONTROL_PLANE_URL won over --cp-address');
});

t.test('SIGTERM while retrying stops at once, not after the 30 s backoff', async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 503, body: 'not yet' });
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { KUMA_CONTROL_PLANE_RETRY_BACKOFF: '30s' });
  await waitFor('first attempt', () => cp.requests.length >= 1);
  await waitFor('retry scheduled', () => agent.logs().length > 0 && cp.requests.length >= 1);
  const began = Date.now();
  agent.kill('SIGTERM');
  const { code } = await agent.exited;
  const took = Date.now() - began;
  t.equal(code, 0);
  t.ok(took < 10_000, `stopped in ${took} ms (the backoff is 30 s)`);
  t.same(s.events(), [], 'Envoy was never started');
});

t.test('TLS: the given CA is the only root; a wrong CA or name is explained', async (t) => {
  const { createCa, issueCert } = await import('../../src/tls/certs.js');
  const ca = await createCa('test control plane CA');
  const other = await createCa('some other CA');
  const s = await scratch();
  const cp = await startFakeCp(await issueCert(ca, { commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
  const misnamed = await startFakeCp(await issueCert(ca, { commonName: 'cp', dnsNames: ['kuma-cp.example'] }));
  t.teardown(async () => {
    await cp.close();
    await misnamed.close();
    s.cleanup();
  });
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  misnamed.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const caFile = s.file('ca.crt', ca.certPem);
  const otherFile = s.file('other.crt', other.certPem);
  const base = ['--name', 'web-1', '--mesh', 'default', '--skip-config-validation'];
  const quick = { KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '200ms', ENVOY_DOUBLE_EXIT_AFTER_MS: '50' };

  const trusted = startAgent(s, ['--cp-address', cp.url, '--ca-cert-file', caFile, ...base], quick);
  t.equal((await trusted.exited).code, 0, 'the CA given with --ca-cert-file verifies the CP');
  t.match(JSON.parse(cp.requests[0]!.body), { caCert: ca.certPem }, 'the CA is sent to the CP as Kuma does');

  const inline = startAgent(s, ['--cp-address', cp.url, ...base], { ...quick, KUMA_CONTROL_PLANE_CA_CERT: ca.certPem });
  t.equal((await inline.exited).code, 0, 'KUMA_CONTROL_PLANE_CA_CERT works the same');

  const wrongCa = startAgent(s, ['--cp-address', cp.url, '--ca-cert-file', otherFile, ...base], quick);
  t.equal((await wrongCa.exited).code, 1);
  t.match(wrongCa.stderr(), /Error: .*(unknown authority|not signed by|CA)/i);
  t.match(wrongCa.stderr(), /--ca-cert-file/);

  const noCa = startAgent(s, ['--cp-address', cp.url, ...base], quick);
  t.equal((await noCa.exited).code, 1, 'without a CA the system roots do not trust a private CA');

  const badName = startAgent(s, ['--cp-address', misnamed.url, '--ca-cert-file', caFile, ...base], quick);
  t.equal((await badName.exited).code, 1);
  t.match(badName.stderr(), /(name|SAN|altname|does not match)/i);

  const skip = startAgent(s, ['--cp-address', misnamed.url, '--skip-verify', ...base], quick);
  t.equal((await skip.exited).code, 0, '--skip-verify connects anyway');
});

t.test("the final config is validated against Envoy's protos before Envoy starts", async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 200, contentType: 'text/x-yaml', body: bootstrapYaml(s.adminPort, { ads: true }) });
  const good = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { ENVOY_DOUBLE_EXIT_AFTER_MS: '50' });
  t.equal((await good.exited).code, 0, 'the rendered static config passes');
  t.ok(good.logs().some((l) => l.msg === "Envoy config validated against Envoy's protos"));

  // A definite violation of a known field: fatal.
  const before = s.events().length;
  const definite = bootstrapYaml(s.adminPort, { lds: true }).replace('connect_timeout: 1s', 'connect_timeout: -1s');
  cp.respond({ status: 200, contentType: 'text/x-yaml', body: definite });
  const bad = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars]);
  t.equal((await bad.exited).code, 1);
  t.match(bad.stderr(), /the Envoy config would be rejected by Envoy .*not starting Envoy/);
  t.match(bad.stderr(), /static_resources\.clusters\[0\]\.connect_timeout: /);
  t.equal(s.events().length, before, 'Envoy was not started');
});

t.test(
  'what the validator does not know (newer than its Envoy API) is a warning naming the path, and Envoy judges; --strict-config-validation refuses it',
  async (t) => {
    const { s, cp, dpFile, vars } = await setup(t);
    const newer = bootstrapYaml(s.adminPort, { lds: true }).replace('cluster: web', 'cluster: web\n  some_newer_field: 1');
    cp.respond({ status: 200, contentType: 'text/x-yaml', body: newer });
    const lenient = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { ENVOY_DOUBLE_EXIT_AFTER_MS: '50' });
    t.equal((await lenient.exited).code, 0, 'Envoy was launched and judged');
    t.match(
      lenient.logs().find((l) => l.level === 'warn' && /the config validator does not know this/.test(String(l.msg))),
      { path: 'node.some_newer_field', problem: /unknown field 'some_newer_field' in envoy\.config\.core\.v3\.Node/ },
    );
    t.ok(
      s.events().some((e) => e.event === 'start'),
      'Envoy started',
    );

    const before = s.events().length;
    const strict = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--strict-config-validation']);
    t.equal((await strict.exited).code, 1);
    t.match(
      strict.stderr(),
      /--strict-config-validation: 1 problem, 1 of them only unknown to the validator .*not starting Envoy:\n {2}node\.some_newer_field: \[unknown to the validator\] unknown field/,
    );
    t.equal(s.events().length, before, 'Envoy was not started');
  },
);

t.test("host facts: detected by default, overridden by Kuma's variables", async (t) => {
  const { s, cp, dpFile, vars } = await setup(t);
  cp.respond({ status: 422, body: 'stop here' });
  const given = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], {
    KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED: 'true',
    KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES: '123456789',
  });
  t.equal((await given.exited).code, 1);
  t.match(JSON.parse(cp.requests[0]!.body), { ipv6Enabled: true, resources: { maxHeapSizeBytes: 123456789 } });

  const off = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { KUMA_DATAPLANE_RUNTIME_IPV6_ENABLED: 'false' });
  t.equal((await off.exited).code, 1);
  t.match(JSON.parse(cp.requests[1]!.body), { ipv6Enabled: false });

  const bad = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars], { KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES: 'lots' });
  t.equal((await bad.exited).code, 1);
  t.match(bad.stderr(), /KUMA_DATAPLANE_RESOURCES_MAX_MEMORY_BYTES: 'lots' must be a whole number/);
  t.equal(cp.requests.length, 2, 'a bad value stops the agent before the CP is contacted');
});
