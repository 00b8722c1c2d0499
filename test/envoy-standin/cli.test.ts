// The stand-in's command line behaves as Envoy's: --version, parse errors,
// config errors, --mode validate, and signals.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringifyYaml } from '../../src/util/yaml.js';
import { loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';
import { run, start } from '../helpers/cli.js';
import { alive, waitFor } from '../helpers/wait.js';
import { adminBlock, adminGet, camelKeys, staticCluster, STANDIN, startStandin, tcpListener, tempDir } from './harness.js';

const valid = { admin: adminBlock, static_resources: { listeners: [tcpListener('l1', 'c1')], clusters: [staticCluster('c1', [['127.0.0.1', 9]])] } };

t.test("--version prints Envoy's banner exactly, and the version can be overridden", async (t) => {
  const r = await run(STANDIN, ['--version']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^\nenvoy {2}version: [0-9a-f]{40}\/1\.39\.0\/Clean\/RELEASE\/BoringSSL\n\n$/);
  const other = await run(STANDIN, ['--version'], { env: { ENVOY_STANDIN_VERSION: '1.29.7' } });
  t.match(other.stdout, /^\nenvoy {2}version: [0-9a-f]{40}\/1\.29\.7\/Clean\/RELEASE\/BoringSSL\n\n$/);
});

t.test("command-line errors exit 1 as Envoy's parser does", async (t) => {
  const [unknown, equals, missing, notNumber, mode, strategy, level] = await Promise.all([
    run(STANDIN, ['--no-such-flag']),
    run(STANDIN, ['--config-path=/tmp/x.yaml']),
    run(STANDIN, ['-c']),
    run(STANDIN, ['--drain-time-s', 'ten']),
    run(STANDIN, ['--mode', 'check']),
    run(STANDIN, ['--drain-strategy', 'slow']),
    run(STANDIN, ['-l', 'loud']),
  ]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /^PARSE ERROR: Argument: --no-such-flag\n {13}Couldn't find match for argument\n/);
  t.equal(equals.code, 1, '--flag=value is not Envoy syntax');
  t.equal(missing.code, 1);
  t.match(missing.stderr, /Missing a value for this argument!/);
  t.match(notNumber.stderr, /Couldn't read argument value from string 'ten'/);
  t.equal(mode.code, 1);
  t.match(mode.stderr, /error: unknown mode 'check'/);
  t.match(strategy.stderr, /error: unknown drain strategy 'slow'/);
  t.match(level.stderr, /error: invalid log level specified 'loud'/);
});

t.test('--mode validate: OK for a valid bootstrap, the reason for an invalid one', async (t) => {
  const dir = tempDir(t);
  const write = (name: string, doc: unknown, edit = (text: string): string => text): string => {
    const path = join(dir, name);
    writeFileSync(path, edit(stringifyYaml(doc)));
    return path;
  };
  const good = write('good.yaml', valid);
  const misspelt = write('misspelt.yaml', valid, (text) => text.replace('connect_timeout', 'conect_timeout'));
  const staticHostname = write('hostname.yaml', { ...valid, static_resources: { clusters: [staticCluster('c1', [['localhost', 80]])] } });
  const absent = join(dir, 'absent.yaml');
  const camel = join(dir, 'camel.json');
  writeFileSync(camel, JSON.stringify(camelKeys(valid)));
  const noAdsCluster = write('no-ads-cluster.yaml', {
    ...valid,
    dynamic_resources: { ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } },
  });
  const binary = join(dir, 'bootstrap.pb');
  writeFileSync(binary, (await loadEnvoyTypes()).encode(valid, 'envoy.config.bootstrap.v3.Bootstrap'));
  const [ok, binaryOk, camelOk, bad, hostname, merged, noFile, adsMissing] = await Promise.all([
    run(STANDIN, ['--mode', 'validate', '-c', good]),
    run(STANDIN, ['--mode', 'validate', '-c', binary]),
    run(STANDIN, ['--mode', 'validate', '-c', camel]),
    run(STANDIN, ['--mode', 'validate', '-c', misspelt]),
    run(STANDIN, ['--mode', 'validate', '-c', staticHostname]),
    run(STANDIN, ['--mode', 'validate', '-c', good, '--config-yaml', 'node: {id: n1, clusterr: x}']),
    run(STANDIN, ['--mode', 'validate', '-c', absent]),
    run(STANDIN, ['--mode', 'validate', '-c', noAdsCluster]),
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `configuration '${good}' OK\n`);
  t.equal(binaryOk.code, 0, `a binary .pb bootstrap is read too: ${binaryOk.stderr}`);
  t.equal(camelOk.code, 0, `camelCase JSON is proto3 JSON too: ${camelOk.stderr}`);

  t.equal(bad.code, 1);
  t.match(bad.stderr, `error initializing configuration '${misspelt}': `);
  t.match(bad.stderr, /conect_timeout/);
  t.equal(bad.stdout, '');

  t.equal(hostname.code, 1, 'a STATIC cluster needs IP addresses');
  t.match(hostname.stderr, /malformed IP address: localhost/);

  t.equal(merged.code, 1, '--config-yaml is merged and checked too');
  t.match(merged.stderr, /clusterr/);

  t.equal(noFile.code, 1);
  t.match(noFile.stderr, /error initializing configuration '.*absent\.yaml': /);

  t.equal(adsMissing.code, 1, 'ads_config must name a static cluster');
  t.match(adsMissing.stderr, /gRPC cluster 'xds'.*static/);
});

t.test('serve with an invalid config exits 1 with the reason in a critical log line', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bad.yaml');
  writeFileSync(path, stringifyYaml({ ...valid, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 'x' } } } }));
  const r = await run(STANDIN, ['-c', path]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`\\]\\[critical\\]\\[main\\] error initializing configuration '${path}': .*port_value`));
  const none = await run(STANDIN, []);
  t.equal(none.code, 1);
  t.match(none.stderr, /error initializing configuration '': At least one of --config-path or --config-yaml/);
});

t.test('SIGHUP is ignored; SIGTERM and SIGINT exit 0 at once', async (t) => {
  await Promise.all(
    (['SIGTERM', 'SIGINT'] as const).map(async (signal) => {
      const s = await startStandin(t, valid, ['-l', 'debug']);
      t.equal((await adminGet(s, '/ready')).body, 'LIVE\n');
      s.proc.kill('SIGHUP');
      await waitFor('SIGHUP logged', () => s.proc.stderr().includes('caught SIGHUP'));
      t.ok(alive(s.proc.child.pid!), 'still running after SIGHUP');
      t.equal((await adminGet(s, '/ready')).status, 200, 'still serving after SIGHUP');
      const before = Date.now();
      s.proc.kill(signal);
      const { code } = await s.proc.exited;
      t.equal(code, 0, `${signal} exits 0`);
      t.ok(Date.now() - before < 2000, `${signal} exits promptly`);
    }),
  );
});

t.test("logs use Envoy's line shape and say this is a test double", async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'good.yaml');
  writeFileSync(path, stringifyYaml(valid));
  const p = start(STANDIN, ['-c', path, '-l', 'info']);
  t.teardown(() => p.kill('SIGKILL'));
  await waitFor('start-up lines', () => p.stderr().includes('starting workers'));
  t.match(p.stderr(), /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[info\]\[main\] envoy-standin \(a test double/m);
  p.kill('SIGTERM');
  t.equal((await p.exited).code, 0);

  const logFile = join(dir, 'envoy.log');
  const toFile = await run(STANDIN, ['--mode', 'validate', '-c', path, '--log-path', logFile]);
  t.equal(toFile.code, 0);
  t.notMatch(toFile.stderr, /\[info\]/, '--log-path takes the log lines off stderr');
  t.match(readFileSync(logFile, 'utf8'), /\]\[info\]\[main\] envoy-standin \(a test double/);
});
