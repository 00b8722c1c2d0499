// `kuma-dp doctor` as a user runs it: one line per check, a fix under each
// failure, exit 0 only when all pass.
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createCa, issueCert } from '../../src/tls/certs.js';
import { DATAPLANE_VARS, DATAPLANE_YAML, ENVOY_DOUBLE, scratch } from '../cli/agent-harness.js';
import { KUMA_DP, run } from '../helpers/cli.js';
import { startFakeCp } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims: Record<string, unknown>): string => `${b64({ alg: 'RS256' })}.${b64({ Name: 'web-1', Mesh: 'default', ...claims })}.c2lnbmF0dXJl`;

async function occupy(t: Test, port: number): Promise<void> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => server.close());
}

async function world(t: Test) {
  const s = await scratch();
  t.teardown(() => s.cleanup());
  const ca = await createCa('doctor test CA');
  const cp = await startFakeCp(await issueCert(ca, { commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }));
  const misnamed = await startFakeCp(await issueCert(ca, { commonName: 'cp', dnsNames: ['kuma-cp.example'] }));
  t.teardown(async () => {
    await cp.close();
    await misnamed.close();
  });
  const adminPort = await freePort();
  const readinessPort = await freePort();
  const dp = DATAPLANE_YAML.replace('  address: 127.0.0.1\n', `  address: 127.0.0.1\n  admin:\n    port: ${adminPort}\n`);
  return {
    s,
    cp,
    misnamed,
    adminPort,
    readinessPort,
    caFile: s.file('ca.crt', ca.certPem),
    dpFile: s.file('dp.yaml', dp),
    vars: DATAPLANE_VARS,
    goodToken: s.file('token', jwt({ exp: Math.floor(Date.now() / 1000) + 3600 })),
  };
}

const doctor = (args: string[], env: NodeJS.ProcessEnv) => run(KUMA_DP, ['doctor', ...args], { env });
const line = (stdout: string, status: string, name: string): string | undefined => stdout.split('\n').find((l) => l.startsWith(`${status} ${name}:`));

t.test('all checks pass: exit 0, one OK line each', async (t) => {
  const w = await world(t);
  const res = await doctor(
    [
      '--binary-path',
      ENVOY_DOUBLE,
      '--cp-address',
      w.cp.url.replace('127.0.0.1', 'localhost'),
      '--ca-cert-file',
      w.caFile,
      '--dataplane-token-file',
      w.goodToken,
      '-d',
      w.dpFile,
      ...w.vars,
      '--work-dir',
      join(w.s.dir, 'work'),
    ],
    { KUMA_READINESS_PORT: String(w.readinessPort) },
  );
  t.equal(res.code, 0, 'exit 0');
  const lines = res.stdout.trim().split('\n');
  t.equal(lines.length, 9);
  t.match(lines[0], /^OK {3}Envoy binary: .*fixtures\/bin\/envoy, Envoy 1\.39\.0 \(compatible\)$/);
  t.match(lines[1], /^OK {3}control plane: https:\/\/localhost:\d+ reachable; its certificate chain is valid for localhost \(with the given CA\)$/);
  t.match(lines[2], /^OK {3}dataplane token: --dataplane-token-file .*: readable, expires 20\d\d-/);
  t.match(lines[3], /^OK {3}Dataplane: default\/web-1 is valid \(1 inbound, 1 outbound\)$/);
  t.equal(lines[4], `OK   Envoy admin port (TCP admin): 127.0.0.1:${w.adminPort} is free`);
  t.equal(lines[5], `OK   Envoy admin socket: ${join(w.s.dir, 'work', 'kuma-envoy-admin.sock')} fits a Unix socket path`);
  t.equal(lines[6], `OK   readiness port: 127.0.0.1:${w.readinessPort} is free`);
  t.match(lines[7], /^OK {3}work dir: --work-dir .*work is writable$/);
  t.equal(lines[8], 'all 8 checks passed');
  t.equal(w.cp.requests.length, 0, 'doctor does not register anything with the control plane');
});

t.test('each failure is reported with its fix; exit 1', async (t) => {
  const w = await world(t);
  const expired = w.s.file('expired', jwt({ exp: Math.floor(Date.now() / 1000) - 60 }));
  const other = await createCa('some other CA');
  const bad = await doctor(
    [
      '--binary-path',
      join(w.s.dir, 'no-envoy'),
      '--cp-address',
      w.cp.url,
      '--ca-cert-file',
      w.s.file('other.crt', other.certPem),
      '--dataplane-token-file',
      expired,
      '-d',
      w.s.file('bad.yaml', DATAPLANE_YAML.replace('servicePort:', 'servicePrt:')),
      ...w.vars,
    ],
    {
      KUMA_READINESS_PORT: '0',
    },
  );
  t.equal(bad.code, 1);
  t.match(line(bad.stdout, 'FAIL', 'Envoy binary'), /no-envoy: no executable file there/);
  t.match(bad.stdout, /FAIL Envoy binary: .*\n {5}fix: install Envoy, or pass its path with --binary-path \(KUMA_DATAPLANE_RUNTIME_BINARY_PATH\)/);
  t.match(line(bad.stdout, 'FAIL', 'control plane'), /https:\/\/127\.0\.0\.1:\d+: .*(self[- ]signed|unable to verify|issuer)/i);
  t.match(bad.stdout, /FAIL control plane: .*\n {5}fix: pass the .*CA.* with --ca-cert-file \(KUMA_CONTROL_PLANE_CA_CERT_FILE\)/);
  t.match(line(bad.stdout, 'FAIL', 'dataplane token'), /expired at 20\d\d-/);
  t.match(bad.stdout, /FAIL dataplane token: .*\n {5}fix: generate a new token/);
  t.match(line(bad.stdout, 'FAIL', 'Dataplane'), /networking\.inbound\[0\]\.servicePrt: unknown field/);
  t.match(line(bad.stdout, 'SKIP', 'readiness port'), /disabled \(0\)/);
  t.match(bad.stdout, /\d of 8 checks failed\n$/);

  const incompatible = await doctor(
    [
      '--binary-path',
      ENVOY_DOUBLE,
      '--cp-address',
      w.misnamed.url.replace('127.0.0.1', 'localhost'),
      '--ca-cert-file',
      w.caFile,
      '--dataplane-token-file',
      join(w.s.dir, 'missing-token'),
      '-d',
      w.dpFile,
      ...w.vars,
      '--work-dir',
      join(w.goodToken, 'sub'),
    ],
    {
      ENVOY_DOUBLE_VERSION: '1.20.0',
      KUMA_READINESS_PORT: String(w.readinessPort),
    },
  );
  t.equal(incompatible.code, 1);
  t.match(line(incompatible.stdout, 'FAIL', 'Envoy binary'), /is Envoy 1\.20\.0, not compatible with this kuma-dp \(expects 1\.39\.0\)/);
  t.match(line(incompatible.stdout, 'FAIL', 'control plane'), /localhost/);
  t.match(incompatible.stdout, /FAIL control plane: .*\n {5}fix: use an address that the control plane's certificate names/);
  t.match(line(incompatible.stdout, 'FAIL', 'dataplane token'), /missing-token: cannot be read \(ENOENT\)/);
  t.match(line(incompatible.stdout, 'FAIL', 'work dir'), /not writable \((ENOTDIR|EEXIST)\)/);
  t.match(incompatible.stdout, /FAIL work dir: .*\n {5}fix: choose a writable --work-dir \(KUMA_DATAPLANE_RUNTIME_WORK_DIR\)/);
});

t.test('ports in use and an unreachable control plane', async (t) => {
  const w = await world(t);
  await occupy(t, w.adminPort);
  await occupy(t, w.readinessPort);
  const res = await doctor(['--binary-path', ENVOY_DOUBLE, '--cp-address', 'http://127.0.0.1:1', '-d', w.dpFile, ...w.vars], {
    KUMA_READINESS_PORT: String(w.readinessPort),
  });
  t.equal(res.code, 1);
  t.match(line(res.stdout, 'FAIL', 'control plane'), /http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  t.match(res.stdout, /FAIL control plane: .*\n {5}fix: check --cp-address \(KUMA_CONTROL_PLANE_URL\): is the control plane running/);
  t.equal(
    line(res.stdout, 'FAIL', 'Envoy admin port (TCP admin)'),
    `FAIL Envoy admin port (TCP admin): 127.0.0.1:${w.adminPort}: already in use (another kuma-dp or Envoy on this host?)`,
  );
  t.match(res.stdout, /FAIL readiness port: 127\.0\.0\.1:\d+: already in use .*\n {5}fix: give each agent on this host its own KUMA_READINESS_PORT/);
  t.match(line(res.stdout, 'SKIP', 'dataplane token'), /none given/);
  t.match(line(res.stdout, 'OK  ', 'Envoy binary'), /compatible/);
  t.match(res.stdout, /3 of 8 checks failed/);
});

t.test("a work dir too long for Kuma's admin socket name is a failure naming the path the control plane would use", async (t) => {
  const w = await world(t);
  const long = join(w.s.dir, 'w'.repeat(100));
  const res = await doctor(['--binary-path', ENVOY_DOUBLE, '--cp-address', w.cp.url, '-d', w.dpFile, ...w.vars, '--work-dir', long], {
    KUMA_READINESS_PORT: String(w.readinessPort),
  });
  t.equal(res.code, 1);
  t.equal(
    line(res.stdout, 'FAIL', 'Envoy admin socket'),
    `FAIL Envoy admin socket: --work-dir ${long} is too long: a Kuma >= 2.14 control plane cuts the admin socket path to ${join(long, 'kuma-envoy-admin').slice(0, 98)}.sock, outside the work dir`,
  );
  t.match(res.stdout, /\n {5}fix: use a work dir path of at most 81 bytes/);
});
