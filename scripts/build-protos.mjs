// Build step: Envoy's .proto files → what kuma-dp and kuma-mini-cp use at run
// time without them (the package below is a dev dependency):
//   dist/src/validate/envoy-descriptor.bin  the validator's descriptor (src/validate/descriptor-file.ts)
//   dist/src/xds/ads-proto.json             the ADS service for gRPC (src/xds/ads-proto.ts)
//   dist/src/xds/proto-source.json          where the protos were, for a checkout's rebuild and the tests
// Runs after tsc; none of it is committed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DESCRIPTOR_FILE, buildDescriptor, writeDescriptor } from '../dist/src/validate/descriptor.js';
import { ADS_DEFINITION_FILE, writeAdsDefinition } from '../dist/src/xds/ads-proto.js';
import { writeProtoSource } from '../dist/src/xds/proto-source.js';

// The one place that names where Envoy's .proto files come from: the package, and its folders that imports resolve against.
const PROTO_PACKAGE = '@grpc/grpc-js-xds';
const packageDir = dirname(createRequire(import.meta.url).resolve(`${PROTO_PACKAGE}/package.json`));
const source = {
  name: `${PROTO_PACKAGE}@${JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')).version}`,
  includeDirs: ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((dir) => join(packageDir, 'deps', dir)),
};

const started = performance.now();
writeProtoSource(source);
const descriptor = await buildDescriptor(source);
writeDescriptor(descriptor);
await writeAdsDefinition(source);
const ms = Math.round(performance.now() - started);
const counts = `${Object.keys(descriptor.messages).length} messages, ${Object.keys(descriptor.enums).length} enums`;
const skipped = descriptor.skippedFiles.length ? `; skipped (imports not shipped): ${descriptor.skippedFiles.join(', ')}` : '';
console.log(`build-protos: ${counts} -> ${DESCRIPTOR_FILE}, ADS service -> ${ADS_DEFINITION_FILE}, from ${source.name} in ${ms} ms${skipped}`);
