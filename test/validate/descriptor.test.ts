// The descriptor written at build time is used as is; a missing or stale one
// is rebuilt from the .proto files and written back.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DESCRIPTOR_FILE, loadDescriptor, type Descriptor } from '../../src/validate/descriptor.js';

const dir = await mkdtemp(join(tmpdir(), 'descriptor-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('a stale descriptor is rebuilt and rewritten', async (t) => {
  const file = join(dir, 'stale.json');
  await writeFile(file, JSON.stringify({ source: 'some older build', messages: {}, enums: {}, skippedFiles: [] }));
  const fresh = await loadDescriptor(file);
  t.match(fresh.source, /^@grpc\/grpc-js-xds@\S+ format \d+$/);
  t.ok(fresh.messages['envoy.config.bootstrap.v3.Bootstrap'], 'it describes the Bootstrap');
  t.ok(fresh.enums['envoy.config.core.v3.TrafficDirection'], 'and Envoy enums');
  const written = JSON.parse(await readFile(file, 'utf8')) as Descriptor;
  t.equal(written.source, fresh.source, 'the rebuilt descriptor was written for the next start');
  t.same(written.skippedFiles, fresh.skippedFiles);
  t.ok(fresh.skippedFiles.every((f) => /opencensus|trace|open_telemetry/.test(f)), `only files whose imports are not shipped are left out: ${fresh.skippedFiles.join(', ')}`);
});

t.test('a missing descriptor is built; the build-time one is read as is', async (t) => {
  const built = await loadDescriptor(join(dir, 'missing.json'));
  const shipped = await loadDescriptor(DESCRIPTOR_FILE);
  t.equal(shipped.source, built.source);
  t.equal(Object.keys(shipped.messages).length, Object.keys(built.messages).length);
  const port = shipped.messages['envoy.config.core.v3.SocketAddress']!.fields.find((f) => f.name === 'port_value');
  t.same(port, { name: 'port_value', json: 'portValue', id: 3, type: 'uint32', kind: 'scalar', oneof: 'port_specifier', rules: { uint32: { lte: 65535 } } });
});
