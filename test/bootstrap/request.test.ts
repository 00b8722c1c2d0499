import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  buildBootstrapRequest,
  serializeBootstrapRequest,
  goOperatingSystem,
  type BootstrapRequest,
  type BootstrapRequestInput,
} from '../../src/bootstrap/request.js';
import { detectMaxMemory, hasLocalIPv6 } from '../../src/bootstrap/host.js';

// The inputs of Kuma's remote_bootstrap_test.go cases, and the request bodies
// its golden files (app/kuma-dp/pkg/dataplane/envoy/testdata) record for them.
const dataplaneResource =
  '{"type":"Dataplane","mesh":"demo","name":"sample","creationTime":"0001-01-01T00:00:00Z","modificationTime":"0001-01-01T00:00:00Z","kri":"kri_dp_demo___sample_"}';

/** A request body as the control plane reads it. */
const parseBody = (body: string) => JSON.parse(body) as BootstrapRequest;

const kumaInputs: BootstrapRequestInput = {
  mesh: 'demo',
  name: 'sample',
  proxyType: 'dataplane',
  dataplaneToken: 'token',
  dataplaneResource,
  kumaDp: { version: '0.0.1', gitTag: 'v0.0.1', gitCommit: '91ce236824a9d875601679aa80c63783fb0e8725', buildDate: '2019-08-07T11:26:06Z' },
  envoy: {
    version: '1.15.0',
    build: '50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.15.0/clean-getenvoy-2aa564b-envoy/RELEASE/BoringSSL',
    kumaDpCompatible: false,
  },
  dnsPort: 15053,
  readinessPort: 9902,
  operatingSystem: 'linux',
  features: ['feature-tcp-accesslog-via-named-pipe'],
  workdir: '/tmp',
  ipv6Enabled: true,
};

function expectedBody(over: {
  token: string;
  tokenPath?: string;
  dynamicMetadata: Record<string, string> | null;
  certPath: string;
  keyPath: string;
  features?: string[];
  dataplaneConfig?: object;
}): string {
  // Written in Kuma's key order; JSON.stringify keeps the order written here.
  return JSON.stringify(
    {
      mesh: 'demo',
      name: 'sample',
      proxyType: 'dataplane',
      dataplaneToken: over.token,
      dataplaneTokenPath: over.tokenPath,
      dataplaneResource,
      version: {
        kumaDp: { version: '0.0.1', gitTag: 'v0.0.1', gitCommit: '91ce236824a9d875601679aa80c63783fb0e8725', buildDate: '2019-08-07T11:26:06Z' },
        envoy: {
          version: '1.15.0',
          build: '50ef0945fa2c5da4bff7627c3abf41fdd3b7cffd/1.15.0/clean-getenvoy-2aa564b-envoy/RELEASE/BoringSSL',
          kumaDpCompatible: false,
        },
      },
      caCert: '',
      dynamicMetadata: over.dynamicMetadata,
      dnsPort: 15053,
      readinessPort: 9902,
      operatingSystem: 'linux',
      features: over.features ?? ['feature-tcp-accesslog-via-named-pipe'],
      resources: { maxHeapSizeBytes: 0 },
      workdir: '/tmp',
      metricsResources: { certPath: over.certPath, keyPath: over.keyPath },
      systemCaPath: '',
      dataplaneConfig: over.dataplaneConfig,
      ipv6Enabled: true,
      spireResources: { socketPath: '' },
    },
    null,
    1,
  );
}

t.test('metrics TLS and dynamic metadata: bootstrap-request-metrics-metadata.golden.json', (t) => {
  const body = serializeBootstrapRequest(
    buildBootstrapRequest({ ...kumaInputs, dynamicMetadata: { test: 'value' }, metricsCertPath: '/tmp/cert.pem', metricsKeyPath: '/tmp/key.pem' }),
  );
  t.equal(body, expectedBody({ token: 'token', dynamicMetadata: { test: 'value' }, certPath: '/tmp/cert.pem', keyPath: '/tmp/key.pem' }));
  t.match(body, /^{\n "mesh": "demo",\n "name": "sample",/, 'one-space indent as Go MarshalIndent');
  t.end();
});

t.test('token from a file: bootstrap-request-token-path.golden.json', (t) => {
  const body = serializeBootstrapRequest(buildBootstrapRequest({ ...kumaInputs, dataplaneToken: 'token1234\n', dataplaneTokenPath: 'testdata/token' }));
  t.equal(body, expectedBody({ token: 'token1234', tokenPath: 'testdata/token', dynamicMetadata: null, certPath: '', keyPath: '' }));
  t.end();
});

t.test('transparent proxy config: bootstrap-request-transparent-proxy.golden.json', (t) => {
  const dataplaneConfig = {
    ipFamilyMode: 'ipv4',
    redirect: {
      inbound: { enabled: false, port: 1234 },
      outbound: { enabled: false, port: 2345 },
      dns: { enabled: false, port: 3456 },
      vnet: {},
    },
  };
  const features = ['feature-tcp-accesslog-via-named-pipe', 'feature-transparent-proxy-in-dataplane-metadata'];
  const body = serializeBootstrapRequest(buildBootstrapRequest({ ...kumaInputs, features, transparentProxy: dataplaneConfig }));
  t.equal(body, expectedBody({ token: 'token', dynamicMetadata: null, certPath: '', keyPath: '', features, dataplaneConfig }));
  t.end();
});

t.test('Go omitempty: empty token, path, resource and zero ports are left out', (t) => {
  const req = buildBootstrapRequest({
    ...kumaInputs,
    dataplaneToken: '  ',
    dataplaneResource: undefined,
    dnsPort: 0,
    readinessPort: undefined,
    operatingSystem: undefined,
    features: undefined,
  });
  const keys = Object.keys(parseBody(serializeBootstrapRequest(req)));
  for (const absent of [
    'dataplaneToken',
    'dataplaneTokenPath',
    'dataplaneResource',
    'dnsPort',
    'readinessPort',
    'otelEnv',
    'appProbeProxyDisabled',
    'dataplaneConfig',
  ]) {
    t.notOk(keys.includes(absent), `${absent} omitted`);
  }
  t.equal(req.operatingSystem, goOperatingSystem());
  t.same(req.features, [], 'no features unless the caller lists them (src/bootstrap/features.ts decides which)');
  t.equal(req.dynamicMetadata, null);
  t.end();
});

t.test('an object resource is sent as a JSON string; the app probe flag uses Kuma wire key', (t) => {
  const dp = { type: 'Dataplane', mesh: 'demo', name: 'a&b', networking: { address: '10.0.0.1' } };
  const req = buildBootstrapRequest({ ...kumaInputs, dataplaneResource: dp, appProbeProxyEnabled: true });
  t.equal(req.dataplaneResource, JSON.stringify(dp));
  t.equal(req.appProbeProxyDisabled, true);
  const body = serializeBootstrapRequest(req);
  t.match(body, /a\\u0026b/, 'Go escapes & inside strings');
  t.same(JSON.parse(parseBody(body).dataplaneResource ?? ''), dp, 'and it still parses back');
  const keys = Object.keys(parseBody(body));
  t.equal(keys.indexOf('appProbeProxyDisabled'), keys.indexOf('readinessPort') + 1, 'between readinessPort and operatingSystem');
  t.end();
});

t.test('cgroup memory limit', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kuma-dp-mem-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => writeFile(path.join(dir, name), text).then(() => path.join(dir, name));
  t.equal(detectMaxMemory([await file('v2', '536870912\n')]), 536870912);
  t.equal(detectMaxMemory([await file('max', 'max\n')]), 0, '"max" means no limit');
  t.equal(detectMaxMemory([path.join(dir, 'missing'), await file('v1', '9223372036854771712\n')]), 0, 'v1 unlimited');
  t.equal(detectMaxMemory([path.join(dir, 'missing'), await file('v1b', '1048576')]), 1048576, 'falls through to the next path');
});

t.test('local IPv6, as Kuma asks it: any address but ::1 (from /proc/net/if_inet6 on Linux)', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kuma-dp-ipv6-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => writeFile(path.join(dir, name), text).then(() => path.join(dir, name));
  const lo = '00000000000000000000000000000001 01 80 10 80       lo\n';
  t.equal(hasLocalIPv6(await file('lo', lo)), false, 'only ::1');
  t.equal(hasLocalIPv6(await file('empty', '')), false, 'no address');
  t.equal(hasLocalIPv6(await file('eth0', `fd000000000000000000000000000002 04 40 00 82     eth0\n${lo}`)), true, 'a unique local address');
  t.equal(hasLocalIPv6(await file('link', `${lo}fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n`)), true, 'a link-local one counts, as in Kuma');
  t.equal(hasLocalIPv6(await file('six', `00000000000000000000000000000006 01 80 10 80       lo\n${lo}`)), true, "::6 on lo (Kuma's transparent proxy) counts");
  if (process.platform === 'linux') t.equal(hasLocalIPv6(path.join(dir, 'missing')), false, 'no file: IPv6 is off in the kernel');
});
