// The descriptor written at build time is used as is; a missing, stale or
// damaged one is rebuilt from the .proto files and written back. Its entries
// are parsed only when looked up: validating a bootstrap reads a small part.
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DescriptorFile, serializeDescriptor } from '../../src/validate/descriptor-file.js';
import { DESCRIPTOR_FILE, loadDescriptor } from '../../src/validate/descriptor.js';
import { Schema } from '../../src/validate/schema.js';
import { BOOTSTRAP_TYPE, readDocument, validateOnce } from '../../src/validate/validation.js';
import { renderSampleBootstrap } from '../../scripts/bench/validate-resources.js';
import { typicalBootstrap } from '../../scripts/bench/validate-sample.js';

const dir = await mkdtemp(join(tmpdir(), 'descriptor-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const PORT_VALUE = { name: 'port_value', json: 'portValue', id: 3, type: 'uint32', kind: 'scalar', oneof: 'port_specifier', rules: { uint32: { lte: 65535 } } };

t.test('a stale descriptor (older format, other source) is rebuilt and rewritten', async (t) => {
  const file = join(dir, 'stale.bin');
  // format 3 was one JSON document
  await writeFile(file, JSON.stringify({ source: 'some older build', messages: {}, enums: {}, skippedFiles: [] }));
  const fresh = await loadDescriptor(file);
  t.match(fresh.source, /^\S+@\S+ format \d+$/, 'the protos package and version, and the format');
  t.ok(fresh.readMessage('envoy.config.bootstrap.v3.Bootstrap'), 'it describes the Bootstrap');
  t.same(fresh.readEnum('envoy.config.core.v3.TrafficDirection')?.values, { UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 }, 'and Envoy enums');
  const written = DescriptorFile.open(await readFile(file));
  t.equal(written?.source, fresh.source, 'the rebuilt descriptor was written for the next start');
  t.same(written?.skippedFiles, fresh.skippedFiles);
  t.ok(
    fresh.skippedFiles.every((f) => /opencensus|trace|open_telemetry/.test(f)),
    `only files whose imports are not shipped are left out: ${fresh.skippedFiles.join(', ')}`,
  );

  // this format, but from another version of the protos
  const other = serializeDescriptor({ source: 'other protos', messages: {}, enums: {}, skippedFiles: [], unverifiable: {} });
  await writeFile(file, other);
  t.equal((await loadDescriptor(file)).source, fresh.source, 'a descriptor of other protos is rebuilt');
});

t.test('a cut-off descriptor is rebuilt rather than read', async (t) => {
  const shipped = await readFile(DESCRIPTOR_FILE);
  t.ok(DescriptorFile.open(shipped), 'the whole file opens');
  t.equal(DescriptorFile.open(shipped.subarray(0, shipped.length - 100)), undefined, 'a file that ends early does not');
  t.equal(DescriptorFile.open(shipped.subarray(0, 1000)), undefined, 'nor one cut inside the header');
  const file = join(dir, 'cut.bin');
  await writeFile(file, shipped.subarray(0, shipped.length - 100));
  const rebuilt = await loadDescriptor(file);
  t.same(
    rebuilt.readMessage('envoy.config.core.v3.SocketAddress')?.fields.find((f) => f.name === 'port_value'),
    PORT_VALUE,
  );
  t.same(await readFile(file), shipped, 'the rewritten file is the build-time one, byte for byte');
});

t.test('a missing descriptor is built; the build-time one is read as is', async (t) => {
  const built = await loadDescriptor(join(dir, 'missing.bin'));
  const shipped = await loadDescriptor(DESCRIPTOR_FILE);
  t.teardown(() => shipped.close());
  t.equal(shipped.source, built.source);
  t.same(shipped.messageNames(), built.messageNames());
  t.same(shipped.enumNames(), built.enumNames());
  t.ok(shipped.messageNames().length > 1000, `${shipped.messageNames().length} messages`);
  t.equal(shipped.entryCount(), shipped.messageNames().length + shipped.enumNames().length, 'the table counts every message and enum');
  t.same(
    shipped.readMessage('envoy.config.core.v3.SocketAddress')?.fields.find((f) => f.name === 'port_value'),
    PORT_VALUE,
  );
  t.equal(shipped.readMessage('envoy.config.nope.v3.Nope'), undefined);
  for (const near of [
    '__proto__',
    'envoy.config.core.v3.Addres',
    'envoy.config.core.v3.AddressX',
    'envoy.config.core.v3',
    'envoy.\u0163onfig.core.v3.Address',
    'envoy.config.core.v3.Address"',
    '',
    'zzz',
    ' ',
  ]) {
    t.equal(shipped.readMessage(near), undefined, `no message ${JSON.stringify(near)}`);
  }
  t.equal(shipped.readMessage('envoy.config.core.v3.TrafficDirection'), undefined, 'an enum is not a message');
  t.equal(shipped.readEnum('envoy.config.core.v3.Address'), undefined, 'nor a message an enum');
  // every entry of the index can be read, and is the message or enum it is filed under
  for (const name of shipped.messageNames()) if (shipped.readMessage(name)?.name !== name) t.fail(`message ${name} reads as another`);
  for (const name of shipped.enumNames()) if (shipped.readEnum(name)?.name !== name) t.fail(`enum ${name} reads as another`);
  const inMemory = DescriptorFile.open(await readFile(DESCRIPTOR_FILE))!;
  for (const name of shipped.messageNames()) if (inMemory.readMessage(name)?.name !== name) t.fail(`message ${name} reads as another from memory`);

  shipped.close();
  t.throws(() => shipped.readMessage('envoy.config.core.v3.Address'), /closed/, 'a closed file is not read');
});

t.test('validating a bootstrap parses only the entries it meets, once each', async (t) => {
  for (const [what, bootstrap] of [
    ['the typical bootstrap', typicalBootstrap()],
    ['a bootstrap with rendered inbounds and outbounds', renderSampleBootstrap()],
  ] as const) {
    const descriptor = await loadDescriptor();
    t.teardown(() => descriptor.close());
    const schema = new Schema(descriptor);
    t.same(schema.entries().parsed, 0, 'opening parses no entry');
    t.same(readDocument(schema, bootstrap, BOOTSTRAP_TYPE).issues, [], `${what} is valid`);
    const { parsed, indexed } = schema.entries();
    t.ok(parsed > 20 && parsed * 10 < indexed, `${what}: ${parsed} of ${indexed} entries parsed`);
    readDocument(schema, bootstrap, BOOTSTRAP_TYPE);
    t.equal(schema.entries().parsed, parsed, 'a second validation parses nothing more');
  }
});

/** How many of this process's file descriptors are open on the descriptor file. */
const descriptorFds = (): number =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === DESCRIPTOR_FILE;
    } catch {
      return false; // closed meanwhile (readdir's own descriptor)
    }
  }).length;

t.test('validateOnce answers like the shared types, and leaves the descriptor closed', async (t) => {
  const before = descriptorFds();
  t.same(await validateOnce(typicalBootstrap(), BOOTSTRAP_TYPE), []);
  t.equal(descriptorFds(), before, 'no descriptor left open');
  t.same(await validateOnce({ name: 'c', connect_timeout: 'soon' }, 'envoy.config.cluster.v3.Cluster'), [
    { path: 'connect_timeout', message: 'expected a duration string such as "5s" or "0.250s", got \'soon\'' },
  ]);
  t.same(await validateOnce({}, 'envoy.config.nope.v3.Nope'), [
    { path: '(document)', message: "type 'envoy.config.nope.v3.Nope' is not a message of Envoy's v3 API" },
  ]);
});
