// Build step: reduce Envoy's .proto files (from @grpc/grpc-js-xds) to the
// descriptor the validator loads at run time (dist/src/validate/envoy-descriptor.bin, see src/validate/descriptor-file.ts).
// Runs after tsc; the descriptor is generated, never committed.
import { DESCRIPTOR_FILE, buildDescriptor, writeDescriptor } from '../dist/src/validate/descriptor.js';

const started = performance.now();
const descriptor = await buildDescriptor();
writeDescriptor(descriptor);
const ms = Math.round(performance.now() - started);
const counts = `${Object.keys(descriptor.messages).length} messages, ${Object.keys(descriptor.enums).length} enums`;
const skipped = descriptor.skippedFiles.length ? `; skipped (imports not shipped): ${descriptor.skippedFiles.join(', ')}` : '';
console.log(`build-protos: ${counts} -> ${DESCRIPTOR_FILE} in ${ms} ms${skipped}`);
