// Property tests over every input surface: each generated input either works
// or gets a clear 4xx (or a UserError, which is exit 1) naming what is wrong;
// never a 5xx, an unexpected exception, a hang, or a changed store.
// Seeded: FAULTS_SEED=<n> replays a run, FAULTS_RUNS=<n> scales it; the seed
// is printed on failure.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { parseRecord } from '../../src/accesslog/record.js';
import { BadBootstrapResponse, decodeBootstrapResponse, encodeBootstrapResponse } from '../../src/bootstrap/response.js';
import { loadDataplane } from '../../src/dataplane/load.js';
import { Store } from '../../src/minicp/store.js';
import { buildEnvoyConfig } from '../../src/render/envoy-config.js';
import { UserError } from '../../src/util/errors.js';
import { stringifyYaml } from '../../src/util/yaml.js';
import { bootstrapYaml } from '../helpers/fake-cp.js';
import { AdsClient } from '../minicp/ads-client.js';
import { api, hostPort, inProcessCp } from '../minicp/fixtures.js';
import { mutatedDataplane, nastyValue } from './arbitraries.js';
import { validDataplane } from './inputs.js';

export const SEED = Number(process.env.FAULTS_SEED ?? 20261206);
const RUNS = Number(process.env.FAULTS_RUNS ?? 150);
t.comment(`fast-check seed ${SEED} (replay with FAULTS_SEED=${SEED}), ${RUNS} runs per property`);

/** Runs a property; on failure the message carries fast-check's seed and counterexample. */
async function check<T>(t: Test, what: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, runs = RUNS): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arb, predicate), { seed: SEED, numRuns: runs, endOnFailure: true });
    t.pass(`${what}: ${runs} inputs`);
  } catch (err) {
    t.fail(`${what} (seed ${SEED}): ${(err as Error).message.slice(0, 3000)}`);
  }
}

/** An error message that names something: a path (`a.b`, `[0]`, `field:`), a file or a flag. */
const NAMES_A_PATH = /[\w\]"]+(\.[\w"[\]/.-]+)*: |\[\d+\]|line \d+|--[a-z-]+/;

const dir = mkdtempSync(join(tmpdir(), 'faults-props-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('Dataplane files: kuma-dp loads each or refuses it with a UserError naming the field', async (t) => {
  await check(t, 'mutated Dataplanes', mutatedDataplane, async (text) => {
    for (const given of [text, stringifyYaml(JSON.parse(text))]) {
      try {
        await loadDataplane({ inline: given, vars: [], proxyType: 'dataplane' });
      } catch (err) {
        if (!(err instanceof UserError)) throw new Error(`not a UserError: ${(err as Error).stack}`);
        if (!NAMES_A_PATH.test(err.message)) throw new Error(`names nothing: ${err.message}`);
      }
    }
  });
  await check(t, 'arbitrary text', fc.string({ maxLength: 200 }), async (text) => {
    try {
      await loadDataplane({ inline: text, vars: [], proxyType: 'dataplane' });
    } catch (err) {
      if (!(err instanceof UserError)) throw new Error(`not a UserError: ${(err as Error).stack}`);
    }
  });
});

t.test('the API: bodies and paths get a 2xx or a 4xx that says why; the store never changes on a refusal', async (t) => {
  const storeFile = join(dir, 'api-store.json');
  const { cp } = await inProcessCp({ auth: 'none', dpServerTls: false, storeFile, workDir: join(dir, 'api-cp') });
  t.teardown(() => cp.close());
  const send = async (method: string, path: string, body?: string) => {
    const res = await fetch(`${cp.addresses.apiHttp}${path}`, { method, body, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  };
  const refusedClearly = (r: { status: number; text: string }, what: string): void => {
    if (r.status >= 500) throw new Error(`${what}: ${r.status} ${r.text}`);
    if (r.status >= 400 && !/"detail": "[^"]+"/.test(r.text)) throw new Error(`${what}: ${r.status} without a detail: ${r.text}`);
  };

  await check(t, 'PUT Dataplane bodies', mutatedDataplane, async (body) => {
    await cp.store.flushed();
    const before = readFileSync(storeFile, 'utf8');
    const r = await send('PUT', '/meshes/default/dataplanes/web-1', body);
    refusedClearly(r, body);
    await cp.store.flushed();
    if (r.status >= 400 && readFileSync(storeFile, 'utf8') !== before) throw new Error(`refused (${r.status}) but the store changed: ${body}`);
    if ((await send('GET', '/meshes/default/dataplanes')).status !== 200) throw new Error(`listing broke after ${body}`);
  });

  const segment = fc.oneof(
    fc.constantFrom('default', 'web-1', '%', '%zz', '%E0%A4%A', '%C0%AF', '..', '%2F', '__proto__', 'constructor', 'x'.repeat(300)),
    fc.string({ maxLength: 10 }).map((s) => encodeURIComponent(s)),
  );
  const path = fc
    .tuple(fc.constantFrom('/meshes', '/meshes/', '/tokens', '/'), fc.array(segment, { maxLength: 4 }))
    .map(([root, rest]) => `${root}/${rest.join('/')}`);
  await check(
    t,
    'paths and methods',
    fc.tuple(fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH'), path, fc.option(nastyValue)),
    async ([method, p, body]) => {
      const text = body === null ? undefined : JSON.stringify(body);
      refusedClearly(await send(method, p, method === 'GET' ? undefined : text), `${method} ${p} ${text}`);
    },
  );

  await check(
    t,
    'POST /tokens/dataplane bodies',
    fc.dictionary(fc.constantFrom('name', 'mesh', 'tags', 'type', 'validFor', '__proto__', 'x'), nastyValue),
    async (body) => {
      refusedClearly(await send('POST', '/tokens/dataplane', JSON.stringify(body)), JSON.stringify(body));
    },
  );

  await check(t, 'PUT Mesh bodies', nastyValue, async (body) => {
    refusedClearly(await send('PUT', '/meshes/other', JSON.stringify(body)), JSON.stringify(body));
  });
});

t.test('POST /bootstrap: a 2xx or a 4xx with a reason, never a 5xx', async (t) => {
  const { cp } = await inProcessCp({ auth: 'none', dpServerTls: false, workDir: join(dir, 'bootstrap-cp') });
  t.teardown(() => cp.close());
  const request = fc.record(
    {
      mesh: fc.oneof(fc.constant('default'), nastyValue),
      name: fc.oneof(fc.constant('web-1'), nastyValue),
      proxyType: fc.oneof(fc.constant('dataplane'), nastyValue),
      dataplaneResource: fc.oneof(mutatedDataplane, nastyValue),
      version: nastyValue,
      dynamicMetadata: nastyValue,
      features: nastyValue,
      dnsPort: nastyValue,
      readinessPort: nastyValue,
      metricsResources: nastyValue,
      ipv6Enabled: nastyValue,
      workdir: nastyValue,
    },
    { requiredKeys: ['name'] },
  );
  await check(t, 'bootstrap requests', request, async (body) => {
    const res = await fetch(`${cp.addresses.dpServer}/bootstrap`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    if (res.status >= 500) throw new Error(`${res.status} ${text} for ${JSON.stringify(body)}`);
    if (res.status >= 400 && res.status !== 404 && text.trim() === '') throw new Error(`${res.status} without a reason for ${JSON.stringify(body)}`);
  });
});

t.test("bootstrap responses to the agent: used, or refused with a message (the agent's exit 1)", async (t) => {
  const good = bootstrapYaml(9901);
  const response = fc.oneof(
    nastyValue.map((v) => ({ type: 'application/json', body: JSON.stringify(v) ?? '' })),
    fc.tuple(nastyValue, nastyValue).map(([sidecar, extra]) => ({
      type: 'application/json',
      body: JSON.stringify({ bootstrap: Buffer.from(good).toString('base64'), kumaSidecarConfiguration: sidecar, extra }),
    })),
    nastyValue.map((v) => ({ type: 'application/json', body: encodeBootstrapResponse(stringifyYaml({ admin: v, node: { id: 'x' } })) })),
    nastyValue.map((v) => ({ type: 'text/x-yaml', body: stringifyYaml({ admin: { address: { socket_address: v } }, static_resources: v }) })),
    fc.string({ maxLength: 100 }).map((s) => ({ type: 'text/plain', body: s })),
  );
  await check(t, 'bootstrap responses', response, async ({ type, body }) => {
    await Promise.resolve(); // the check runs async properties
    try {
      const decoded = decodeBootstrapResponse(type, body);
      buildEnvoyConfig(decoded.bootstrapYaml, validDataplane() as never);
    } catch (err) {
      if (!(err instanceof BadBootstrapResponse) && !(err instanceof UserError)) throw new Error(`unexpected ${(err as Error).stack} for ${body}`);
    }
  });
});

t.test('the store file: opened, or refused naming the file and left as it was', async (t) => {
  const storeDoc = fc.oneof(
    nastyValue,
    fc.record({ version: fc.oneof(fc.constant(1), nastyValue), meshes: fc.oneof(fc.constant(['default']), nastyValue), dataplanes: nastyValue }),
    mutatedDataplane.map((dp) => ({ version: 1, meshes: ['default'], dataplanes: [{ dataplane: JSON.parse(dp) as unknown, origin: 'api' }] })),
  );
  let i = 0;
  await check(t, 'store files', storeDoc, async (doc) => {
    const file = join(dir, `store-${i++}.json`);
    const text = JSON.stringify(doc) ?? 'null';
    writeFileSync(file, text);
    try {
      await Store.open(file);
    } catch (err) {
      if (!(err instanceof UserError)) throw new Error(`not a UserError: ${(err as Error).stack}`);
      if (!err.message.includes(file) || !err.message.includes('move it away')) throw new Error(`no file name or hint: ${err.message}`);
      if (readFileSync(file, 'utf8') !== text) throw new Error('a refused store file was changed');
    } finally {
      rmSync(file, { force: true });
    }
  });
});

t.test('xDS requests: odd node ids, metadata and requests never take the server down', async (t) => {
  const { cp } = await inProcessCp({ auth: 'none', dpServerTls: false, workDir: join(dir, 'xds-cp') });
  t.teardown(() => cp.close());
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/web-1', validDataplane())).status, 201);
  const target = hostPort(cp.addresses.dpServer);
  const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
  const xdsRequest = fc.record({
    nodeId: fc.oneof(fc.constantFrom('default.web-1', '', '.', 'default.', '.x', 'nomesh', '__proto__.x'), fc.string({ maxLength: 20 })),
    resource: fc.oneof(mutatedDataplane, fc.string({ maxLength: 50 })),
    typeUrl: fc.oneof(
      fc.constantFrom('type.googleapis.com/envoy.config.cluster.v3.Cluster', 'type.googleapis.com/envoy.config.listener.v3.Listener', ''),
      fc.string({ maxLength: 30 }),
    ),
    names: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    nonce: fc.string({ maxLength: 5 }),
    delta: fc.boolean(),
  });
  await check(
    t,
    'ADS streams',
    xdsRequest,
    async (r) => {
      const client = await AdsClient.open({ target, nodeId: r.nodeId, delta: r.delta, nodeMetadata: { 'dataplane.resource': r.resource } });
      const probe = await AdsClient.open({ target, nodeId: 'default.web-1' });
      try {
        if (r.delta) client.deltaRequest({ type_url: r.typeUrl, resource_names_subscribe: r.names, response_nonce: r.nonce });
        else client.request({ type_url: r.typeUrl, resource_names: r.names, response_nonce: r.nonce, version_info: '' });
        // Whatever the odd stream gets (an answer, an error status, or nothing for a type it cannot have),
        // a well-behaved proxy next to it is still served, and the API still answers.
        probe.request({ type_url: CLUSTER, resource_names: [], version_info: '', response_nonce: '' });
        await probe.next('the CDS answer of a well-behaved proxy', (res) => res.type_url === CLUSTER, 0, 10_000);
      } finally {
        client.close();
        probe.close();
      }
      if ((await api(cp, 'GET', '/meshes/default/dataplanes')).status !== 200) throw new Error('the control plane stopped answering');
    },
    Math.min(RUNS, 60),
  );
});

t.test('access-log lines (the pipe is writable by any local process): each is read or reported invalid, never thrown', async (t) => {
  const deep = (depth: number) => Buffer.from(`{"address":"127.0.0.1:1","message":${'['.repeat(depth)}${']'.repeat(depth)}}\n`);
  const deepRecord = parseRecord(deep(400_000));
  t.ok('invalid' in deepRecord || 'message' in deepRecord, 'a 400,000-level message does not overflow the stack');
  t.match(parseRecord(deep(100)), { address: '127.0.0.1:1' }, 'a normally nested one is forwarded');
  const line = fc.oneof(
    nastyValue.map((message) => `{"address":"127.0.0.1:1","message":${JSON.stringify(message) ?? 'null'}}\n`),
    nastyValue.map((v) => `${JSON.stringify(v) ?? ''}\n`),
    fc.string({ maxLength: 60 }).map((s) => `${s}\n`),
  );
  await check(t, 'access-log lines', line, async (text) => {
    await Promise.resolve();
    parseRecord(Buffer.from(text));
  });
});
