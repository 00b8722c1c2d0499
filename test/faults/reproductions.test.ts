// Issue 11's six reproductions: each gets a clear 4xx or exit 1 naming the
// field, quickly and without memory to speak of, and leaves the store as it was.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadDataplane } from '../../src/dataplane/load.js';
import { UserError } from '../../src/util/errors.js';
import { KUMA_DP, KUMA_MINI_CP, run } from '../helpers/cli.js';
import { DATAPLANE_YAML, ENVOY_DOUBLE, scratch, startAgent } from '../cli/agent-harness.js';
import { FREE_PORT_FLAGS, api, inProcessCp } from '../minicp/fixtures.js';
import { BUILT_IN_NAMES, WRONG_STORES, aliasBomb, builtInField, deeplyNested, nullInbound, validDataplane } from './inputs.js';

// The bounds: 100 ms and 64 MB for one bad input (each is ~1 ms and well under 1 MB here).
// The time is CPU time of this process (the mini-CP and its client are both in it): the work an
// input costs, which parallel test files do not inflate as they do wall time.
const MAX_MS = 100;

/** CPU milliseconds this process has used so far. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
const MAX_EXTRA_BYTES = 64 * 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'faults-repro-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const storeFile = join(dir, 'store.json');
const { cp } = await inProcessCp({ auth: 'none', dpServerTls: false, storeFile, workDir: join(dir, 'cp') });
t.teardown(() => cp.close());
t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/keep', validDataplane('keep'))).status, 201, 'a Dataplane to keep');
await cp.store.flushed();
const storeBefore = readFileSync(storeFile, 'utf8');

/**
 * Up to three attempts while one takes MAX_MS or more, the cheapest kept: one attempt's CPU time can
 * include a major GC of all that earlier tests left in this process, which is not the input's cost.
 * Only for what repeats harmlessly (a refused input, a pure parse): a slow path is slow every time.
 */
async function cheapest<R extends { ms: number }>(attempt: () => Promise<R>, repeatable: (r: R) => boolean = () => true): Promise<R> {
  let best = await attempt();
  for (let tries = 1; tries < 3 && best.ms >= MAX_MS && repeatable(best); tries++) {
    const next = await attempt();
    if (next.ms < best.ms) best = next;
  }
  return best;
}

/** Sends a raw body; returns the answer with how long and how much memory it took (a refused one: its cheapest attempt). */
function measured(method: string, path: string, body?: string) {
  return cheapest(
    async () => {
      const heap = process.memoryUsage().heapUsed;
      const started = cpuMs();
      const res = await fetch(`${cp.addresses.apiHttp}${path}`, { method, body, headers: { 'content-type': 'application/json' } });
      const text = await res.text();
      return { status: res.status, text, ms: cpuMs() - started, extra: process.memoryUsage().heapUsed - heap };
    },
    (r) => r.status >= 400,
  );
}

async function storeUnchanged(t: Test): Promise<void> {
  await cp.store.flushed();
  t.equal(readFileSync(storeFile, 'utf8'), storeBefore, 'the store file is unchanged');
  const list = await api(cp, 'GET', '/meshes/default/dataplanes');
  t.equal(list.status, 200, 'listing still works');
  t.same(
    (list.json as { items: Array<{ name: string }> }).items.map((i) => i.name),
    ['keep'],
    'memory holds what the file holds',
  );
}

function quick(t: Test, r: { ms: number; extra: number }): void {
  t.ok(r.ms < MAX_MS, `answered in ${r.ms.toFixed(1)} ms of CPU (< ${MAX_MS})`);
  t.ok(r.extra < MAX_EXTRA_BYTES, `took ${(r.extra / 1e6).toFixed(1)} MB (< 64)`);
}

function agentLoad(text: string): Promise<{ error: unknown; ms: number; extra: number }> {
  return cheapest(async () => {
    const heap = process.memoryUsage().heapUsed;
    const started = cpuMs();
    const error = await loadDataplane({ inline: text, vars: [], proxyType: 'dataplane' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    return { error, ms: cpuMs() - started, extra: process.memoryUsage().heapUsed - heap };
  });
}

t.test('1. a null list item: 422 from the API, a UserError from the agent, both naming networking.inbound[0]', async (t) => {
  const r = await measured('PUT', '/meshes/default/dataplanes/web-1', nullInbound());
  t.equal(r.status, 422);
  t.match(r.text, /networking\.inbound\[0\].*must be an object, got null/);
  quick(t, r);
  const agent = await agentLoad(nullInbound());
  t.type(agent.error, UserError);
  t.match((agent.error as Error).message, /networking\.inbound\[0\]: must be an object, got null/);
  quick(t, agent);
  await storeUnchanged(t);
});

t.test('2. fields named like built-in properties are unknown fields, named as given', async (t) => {
  for (const name of BUILT_IN_NAMES) {
    const r = await measured('PUT', '/meshes/default/dataplanes/web-1', builtInField(name));
    t.equal(r.status, 422, `${name}: 422`);
    t.match(r.text, new RegExp(`${name.replace(/_/g, '_')}: unknown field`), `${name}: named`);
    const agent = await agentLoad(builtInField(name));
    t.match((agent.error as Error | undefined)?.message, new RegExp(`${name}: unknown field`), `${name}: the agent names it too`);
  }
  // As a tag name it is allowed (Kuma's tag names are free-form) and stays that name.
  const tagged = JSON.stringify(validDataplane('tagged')).replace('"kuma.io/service":"web"', '"kuma.io/service":"web","__proto__":"x"');
  t.equal((await measured('PUT', '/meshes/default/dataplanes/tagged', tagged)).status, 201);
  const back = await api(cp, 'GET', '/meshes/default/dataplanes/tagged');
  t.match(back.text, /"__proto__": "x"/, 'stored under its own name');
  t.equal((await api(cp, 'DELETE', '/meshes/default/dataplanes/tagged')).status, 200);
  await storeUnchanged(t);
});

t.test('3. a deeply nested object in a free-form field: 4xx naming the path (or the size); the store keeps working', async (t) => {
  const huge = await measured('PUT', '/meshes/default/dataplanes/web-1', deeplyNested(100_000));
  t.equal(huge.status, 413, "the issue's 100,000 levels are over the body size limit");
  t.match(huge.text, /request body is larger than the limit of \d+ bytes/);
  quick(t, huge);
  const r = await measured('PUT', '/meshes/default/dataplanes/web-1', deeplyNested(30_000));
  t.equal(r.status, 400, '30,000 levels fit the size limit; the depth limit names the path');
  t.match(r.text, /metrics\.conf\.a\.a.*nested deeper than the limit of 64 levels/);
  quick(t, r);
  await storeUnchanged(t);
  t.equal((await api(cp, 'PUT', '/meshes/default/dataplanes/after', validDataplane('after'))).status, 201, 'a PUT after it works');
  t.equal((await api(cp, 'DELETE', '/meshes/default/dataplanes/after')).status, 200);
  const agent = await agentLoad(deeplyNested(30_000));
  t.match((agent.error as Error).message, /nested deeper than the limit of \d+ levels at line 1, column \d+/, 'the agent refuses it too, saying where');
  const shallower = await agentLoad(deeplyNested(100));
  t.match((shallower.error as Error).message, /metrics\.conf\.a\.a.*nested deeper than the limit of 64 levels/, 'and names the path when it is not that deep');
  quick(t, agent);
  await storeUnchanged(t);
});

t.test('4. a bad %-escape in a path: 400 naming the segment', async (t) => {
  for (const path of ['/meshes/%E0%A4%A/dataplanes', '/meshes/default/dataplanes/%zz', '/meshes/default/dataplanes/%']) {
    const r = await measured('GET', path);
    t.equal(r.status, 400, path);
    t.match(r.text, /malformed %-escape/, `${path}: says why`);
  }
  const put = await measured('PUT', '/meshes/default/dataplanes/%C0', JSON.stringify(validDataplane()));
  t.equal(put.status, 400);
  await storeUnchanged(t);
});

t.test('5. a store file that is valid JSON but not a store: exit 1 naming the file and a hint; the file is kept as it was', async (t) => {
  for (const [i, text] of WRONG_STORES.entries()) {
    const file = join(dir, `wrong-${i}.json`);
    writeFileSync(file, text);
    const r = await run(KUMA_MINI_CP, ['run', ...FREE_PORT_FLAGS, '--work-dir', join(dir, `wcp-${i}`), '--store-file', file]);
    t.equal(r.code, 1, `${text}: exit 1`);
    t.match(r.stderr, new RegExp(`--store-file ${file.replace(/[/.]/g, '\\$&')}: .*(move it away)`), `${text}: names the file and a hint`);
    t.notMatch(r.stderr, /\n\s+at /, `${text}: no stack trace`);
    t.equal(readFileSync(file, 'utf8'), text, `${text}: not overwritten`);
  }
});

t.test('6. a YAML alias bomb: refused at once by the agent (exit 1) and by POST /bootstrap (422); nothing stored', async (t) => {
  const agent = await agentLoad(aliasBomb());
  t.match((agent.error as Error).message, /aliases \(\*name\) are not accepted.* at line \d+/);
  quick(t, agent);

  const s = await scratch();
  t.teardown(() => s.cleanup());
  const file = s.file('bomb.yaml', aliasBomb());
  const started = Date.now();
  const proc = startAgent(s, ['--cp-address', 'http://127.0.0.1:9', '--dataplane-file', file]);
  const { code } = await proc.exited;
  t.equal(code, 1, 'kuma-dp run exits 1');
  t.match(proc.stderr(), /bomb\.yaml: not valid YAML or JSON: YAML aliases \(\*name\) are not accepted/);
  t.ok(Date.now() - started < 5_000, 'long before the 9 s it took before the fix');
  t.notOk(DATAPLANE_YAML.includes('&'), 'the regular Dataplane has no anchors');

  // The agent process's peak memory (the issue saw 1.8 GB), next to a run refused for a trivial reason.
  const maxRss = async (dataplaneFile: string): Promise<number> => {
    const r = await run('/usr/bin/time', [
      '-f',
      'maxrss_kb=%M',
      KUMA_DP,
      'run',
      '--binary-path',
      ENVOY_DOUBLE,
      '--cp-address',
      'http://127.0.0.1:9',
      '--dataplane-file',
      dataplaneFile,
    ]);
    return Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1] ?? NaN) * 1024;
  };
  const baseline = await maxRss(s.file('tiny.yaml', '{"type": "Mesh"}'));
  const bomb = await maxRss(file);
  t.ok(bomb - baseline < MAX_EXTRA_BYTES, `kuma-dp's peak RSS with the bomb ${(bomb / 1e6).toFixed(0)} MB, baseline ${(baseline / 1e6).toFixed(0)} MB`);

  const body = JSON.stringify({ mesh: 'default', name: 'web-1', dataplaneResource: aliasBomb() });
  global.gc?.();
  const heap = process.memoryUsage().heapUsed;
  const began = cpuMs();
  const res = await fetch(`${cp.addresses.dpServer}/bootstrap`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  const r = { ms: cpuMs() - began, extra: process.memoryUsage().heapUsed - heap };
  t.equal(res.status, 422, 'POST /bootstrap: 422');
  t.match(text, /dataplaneResource.*aliases \(\*name\) are not accepted/);
  quick(t, r);
  await storeUnchanged(t);
});
