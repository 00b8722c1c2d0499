// Envoy's .proto files, as the build found them. scripts/build-protos.mjs
// names the package they come from (a dev dependency) and turns them into
// what runs without them: the validator's descriptor and the ADS service
// definition. It records here where they were, so that a checkout can rebuild
// those files and tests can read the protos; an installation has no .proto
// files and never needs them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { installPath } from '../util/install-paths.js';

export interface ProtoSource {
  /** package@version the files come from; recorded in what is built from them. */
  name: string;
  /** The roots imports are resolved against (Envoy's API, xds, googleapis, protoc-gen-validate). */
  includeDirs: string[];
}

export const PROTO_SOURCE_FILE = installPath('dist', 'src', 'xds', 'proto-source.json');

export function writeProtoSource(source: ProtoSource, file = PROTO_SOURCE_FILE): void {
  writeFileSync(file, JSON.stringify(source) + '\n');
}

/** The build's proto source when its files are still there (a checkout with dev dependencies); undefined in an installation. */
export function installedProtoSource(file = PROTO_SOURCE_FILE): ProtoSource | undefined {
  try {
    const source = JSON.parse(readFileSync(file, 'utf8')) as ProtoSource;
    return source.includeDirs.length > 0 && source.includeDirs.every((dir) => existsSync(dir)) ? source : undefined;
  } catch {
    return undefined;
  }
}

// protobufjs bundles these; the npm package ships no copy of them.
const BUNDLED = new Set(
  ['any', 'api', 'descriptor', 'duration', 'empty', 'field_mask', 'source_context', 'struct', 'timestamp', 'type', 'wrappers'].map(
    (n) => `google/protobuf/${n}.proto`,
  ),
);

export const isBundledProto = (file: string): boolean => BUNDLED.has(file);

/** Where an import such as 'envoy/config/core/v3/base.proto' is, if anywhere. */
export function findProto(source: ProtoSource, file: string): string | undefined {
  for (const dir of source.includeDirs) {
    const path = join(dir, file);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** The given .proto files (and their imports) parsed by protobufjs, field names as written. */
export async function loadProtoFiles(source: ProtoSource, files: string[]): Promise<import('protobufjs').Root> {
  const protobuf = (await import('protobufjs')).default;
  const require = createRequire(import.meta.url);
  const bundledDescriptor = require('protobufjs/google/protobuf/descriptor.json') as {
    nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
  };
  protobuf.common('descriptor', bundledDescriptor.nested.google.nested.protobuf.nested as Record<string, protobuf.INamespace>);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (BUNDLED.has(target) ? target : (findProto(source, target) ?? target));
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}
