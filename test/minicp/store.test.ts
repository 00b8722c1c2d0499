// The store's file: every change reaches it, concurrent changes share writes,
// and a reopened store has what the last one had.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Store } from '../../src/minicp/store.js';
import type { Dataplane } from '../../src/dataplane/types.js';
import { dataplane } from './fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'mini-cp-store-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('a burst of concurrent changes is all on disk when each one resolves', async (t) => {
  const file = join(dir, 'burst.json');
  const store = await Store.open(file);
  const names = Array.from({ length: 200 }, (_, i) => `dp-${i}`);
  await Promise.all(names.map((name, i) => store.put(dataplane(name, { service: `svc-${i % 10}` }) as Dataplane, 'api')));
  await Promise.all(names.slice(0, 50).map((name) => store.delete('default', name)));
  const onDisk = JSON.parse(await readFile(file, 'utf8')) as { dataplanes: Array<{ dataplane: Dataplane; origin: string }> };
  t.equal(onDisk.dataplanes.length, 150);
  t.same(new Set(onDisk.dataplanes.map((d) => d.dataplane.name)), new Set(names.slice(50)));
  t.same(
    (await readdir(dir)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temp file left behind',
  );
  const reopened = await Store.open(file);
  t.equal(reopened.size(), 150);
  t.equal(reopened.get('default', 'dp-199')?.origin, 'api');
});

t.test('changes made one after another, each awaited, all complete', async (t) => {
  // A caller resumed by one write queues its next change while the store is still finishing that batch
  // (KDS applies a zone's resources so); that change must not be left waiting.
  const store = await Store.open(join(dir, 'sequential.json'));
  const sequential = (async () => {
    for (let i = 0; i < 20; i++) await store.put(dataplane(`seq-${i}`, { service: 'seq' }) as Dataplane, 'api');
    return 'done';
  })();
  const deadline = new Promise((resolve) => setTimeout(() => resolve('stuck'), 10_000).unref());
  t.equal(await Promise.race([sequential, deadline]), 'done');
  t.equal(store.size(), 20);
});

t.test('a damaged store file is a clear error, not an empty store', async (t) => {
  const file = join(dir, 'bad.json');
  await writeFile(file, '{"version": 1, "meshes": [');
  await t.rejects(Store.open(file), /--store-file .*bad\.json: is not valid JSON.*move it away/);
  await writeFile(
    file,
    JSON.stringify({
      version: 1,
      meshes: ['default'],
      dataplanes: [{ dataplane: { type: 'Dataplane', mesh: 'default', name: 'x', networking: { address: '0.0.0.0' } }, origin: 'api' }],
    }),
  );
  await t.rejects(Store.open(file), /dataplanes\[0\]\.dataplane: is not a valid Dataplane: networking.address/);
  const metricsFile = JSON.stringify({
    version: 1,
    meshes: ['default'],
    meshMetrics: { default: { enabledBackend: 'gone', backends: [{ name: 'prom', type: 'prometheus' }] } },
    dataplanes: [],
  });
  await writeFile(file, metricsFile);
  await t.rejects(Store.open(file), /meshMetrics\.default\.enabledBackend: 'gone' is not one of metrics\.backends \(prom\)/);
  t.equal(await readFile(file, 'utf8'), metricsFile, 'a store file that cannot be read is never overwritten');
});
