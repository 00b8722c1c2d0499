// A compact, JSON-serialisable description of Envoy's v3 messages, enums and
// protoc-gen-validate rules, made from Envoy's .proto files (src/xds/proto-source.ts).
// Parsing ~360 .proto files takes about a second, so the build writes the
// result next to this module once, in a form read one entry at a time
// (descriptor-file.ts); an installation has only that file, not the protos.
import { existsSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DescriptorFile, serializeDescriptor } from './descriptor-file.js';
import { UserError } from '../util/errors.js';
import { installPath } from '../util/install-paths.js';
import { findProto, installedProtoSource, isBundledProto, loadProtoFiles, type ProtoSource } from '../xds/proto-source.js';

/** protoc-gen-validate rules of one field, as written in the proto (e.g. `{ string: { min_len: 1 } }`). */
export type Rules = Record<string, unknown>;

export type FieldKind = 'scalar' | 'enum' | 'message';

export interface FieldDesc {
  name: string;
  /** lowerCamelCase JSON name. */
  json: string;
  id: number;
  /** Scalar type ('uint32', 'string', ...) or the full name of a message or enum (the map's value type for maps). */
  type: string;
  kind: FieldKind;
  repeated?: true;
  /** Present for map fields: the key's scalar type. */
  mapKey?: string;
  oneof?: string;
  /** proto3 `optional`: the field has presence. */
  optional?: true;
  rules?: Rules;
}

export interface OneofDesc {
  name: string;
  required: boolean;
  fields: string[];
}

export interface MessageDesc {
  name: string;
  fields: FieldDesc[];
  oneofs?: OneofDesc[];
  /** `option (validate.disabled) = true`: no PGV rules are checked in this message. */
  rulesDisabled?: true;
}

export interface EnumDesc {
  name: string;
  values: Record<string, number>;
}

export interface Descriptor {
  /** What the descriptor was built from; a different value means it must be rebuilt. */
  source: string;
  messages: Record<string, MessageDesc>;
  enums: Record<string, EnumDesc>;
  /** Proto files left out because an import is not shipped (e.g. opencensus). */
  skippedFiles: string[];
  /** Messages declared in those files (name → file): Envoy knows them, we cannot check or encode them. */
  unverifiable: Record<string, string>;
}

const FORMAT_VERSION = 5;
export const DESCRIPTOR_FILE = installPath('dist', 'src', 'validate', 'envoy-descriptor.bin');

/** Which proto files are loaded: Envoy's v3 API (config, extensions, discovery, types) and the xDS TypedStruct types. */
const ROOTS: Array<{ under: string; match: RegExp }> = [
  { under: 'envoy/config', match: /\/v3(alpha)?\// },
  { under: 'envoy/extensions', match: /\/v3(alpha)?\// },
  { under: 'envoy/service/discovery', match: /\/v3\// },
  { under: 'envoy/type', match: /\/v3\// },
  { under: 'xds/type', match: /\/v3\// },
  { under: 'udpa/type', match: /\/v1\// },
];

const FORMAT_SUFFIX = ` format ${FORMAT_VERSION}`;
const sourceTag = (source: ProtoSource): string => `${source.name}${FORMAT_SUFFIX}`;

function requireProtoSource(): ProtoSource {
  const source = installedProtoSource();
  if (!source) throw new UserError("Envoy's .proto files are not installed (a dev dependency): run 'npm run build' in a checkout");
  return source;
}

function listProtos(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) listProtos(path, out);
    else if (entry.endsWith('.proto')) out.push(path);
  }
  return out;
}

/** True when every file `file` imports (transitively) can be found. */
function importsResolve(source: ProtoSource, file: string, memo: Map<string, boolean>, visiting = new Set<string>()): boolean {
  if (isBundledProto(file) || visiting.has(file)) return true;
  const known = memo.get(file);
  if (known !== undefined) return known;
  visiting.add(file);
  const path = findProto(source, file);
  let ok = path !== undefined;
  if (path) {
    for (const m of readFileSync(path, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm)) {
      if (!importsResolve(source, m[1]!, memo, visiting)) {
        ok = false;
        break;
      }
    }
  }
  memo.set(file, ok);
  return ok;
}

const lowerCamel = (name: string): string => name.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

function mergeOptions(parsed: Array<Record<string, unknown>> | undefined, key: string): Rules | undefined {
  let merged: Rules | undefined;
  for (const entry of parsed ?? []) {
    if (!(key in entry)) continue;
    merged = deepMerge(merged ?? {}, entry[key] as Rules);
  }
  return merged;
}

function deepMerge(a: Rules, b: Rules): Rules {
  const out: Rules = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(prev as Rules, v as Rules) : v;
  }
  return out;
}

/** Parses the v3 .proto files with protobufjs (about a second); also used by tests to cross-check the wire codec. */
export async function loadProtoRoot(source = requireProtoSource()): Promise<{ root: import('protobufjs').Root; skippedFiles: string[] }> {
  const memo = new Map<string, boolean>();
  const files: string[] = [];
  const skippedFiles: string[] = [];
  for (const r of ROOTS) {
    const base = source.includeDirs.find((dir) => existsSync(join(dir, r.under)));
    if (!base) throw new Error(`${source.name} has no ${r.under}/ in ${source.includeDirs.join(', ')}`);
    for (const path of listProtos(join(base, r.under))) {
      const file = relative(base, path);
      if (!r.match.test(file)) continue;
      (importsResolve(source, file, memo) ? files : skippedFiles).push(file);
    }
  }
  return { root: await loadProtoFiles(source, files), skippedFiles };
}

/** Reduces the .proto files to a Descriptor. */
export async function buildDescriptor(source = requireProtoSource()): Promise<Descriptor> {
  const protobuf = (await import('protobufjs')).default;
  const { root, skippedFiles } = await loadProtoRoot(source);
  const messages: Record<string, MessageDesc> = {};
  const enums: Record<string, EnumDesc> = {};
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const item of ns.nestedArray) {
      if (item instanceof protobuf.Type) messages[item.fullName.slice(1)] = describeMessage(protobuf, item);
      else if (item instanceof protobuf.Enum) enums[item.fullName.slice(1)] = { name: item.fullName.slice(1), values: { ...item.values } };
      if (item instanceof protobuf.Namespace || item instanceof protobuf.Type) visit(item);
    }
  };
  visit(root);
  const unverifiable: Record<string, string> = {};
  for (const file of skippedFiles) {
    for (const name of declaredMessages(source, file)) if (!messages[name]) unverifiable[name] = file;
  }
  return { source: sourceTag(source), messages, enums, skippedFiles: skippedFiles.sort(), unverifiable };
}

/** The top-level messages a .proto file declares, by full name (read from its text: protobufjs cannot load it). */
function declaredMessages(source: ProtoSource, file: string): string[] {
  const path = findProto(source, file);
  if (!path) return [];
  const text = readFileSync(path, 'utf8');
  const pkg = /^package\s+([\w.]+)\s*;/m.exec(text)?.[1];
  return [...text.matchAll(/^message\s+(\w+)/gm)].map((m) => (pkg ? `${pkg}.${m[1]}` : m[1]!));
}

// protobufjs bundles google/protobuf/*.proto with camelCase field names; the protos themselves use snake_case.
const protoName = (type: import('protobufjs').Type, name: string): string =>
  type.fullName.startsWith('.google.protobuf.') ? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : name;

function describeMessage(protobuf: typeof import('protobufjs'), type: import('protobufjs').Type): MessageDesc {
  const fields = type.fieldsArray.map((f): FieldDesc => {
    const resolved = f.resolvedType;
    const kind: FieldKind = resolved instanceof protobuf.Enum ? 'enum' : resolved instanceof protobuf.Type ? 'message' : 'scalar';
    const name = protoName(type, f.name);
    const desc: FieldDesc = { name, json: lowerCamel(name), id: f.id, type: resolved ? resolved.fullName.slice(1) : f.type, kind };
    if (f.repeated) desc.repeated = true;
    if (f instanceof protobuf.MapField) desc.mapKey = f.keyType;
    const oneof = f.partOf;
    if (oneof && !oneof.name.startsWith('_')) desc.oneof = oneof.name;
    else if (oneof) desc.optional = true;
    const rules = mergeOptions(f.parsedOptions as Array<Record<string, unknown>> | undefined, '(validate.rules)');
    if (rules) desc.rules = rules;
    return desc;
  });
  const oneofs = type.oneofsArray
    .filter((o) => !o.name.startsWith('_'))
    .map((o): OneofDesc => ({ name: o.name, required: o.options?.['(validate.required)'] === true, fields: o.oneof.map((n) => protoName(type, n)) }));
  const msg: MessageDesc = { name: type.fullName.slice(1), fields };
  if (oneofs.length > 0) msg.oneofs = oneofs;
  if (type.options?.['(validate.disabled)'] === true || type.options?.['(validate.ignored)'] === true) msg.rulesDisabled = true;
  return msg;
}

/**
 * The descriptor written at build time, open for lookups (its entries are
 * read as they are asked for; close() it when done). Where the .proto files
 * are installed (a checkout), one that is missing, damaged or was made from
 * other protos is built now (and written for the next start, when the
 * directory is writable); an installation has no protos and takes the
 * shipped file as long as it is whole and of this format.
 */
export async function loadDescriptor(file = DESCRIPTOR_FILE): Promise<DescriptorFile> {
  const source = installedProtoSource();
  try {
    const cached = DescriptorFile.openFile(file);
    if (cached && (source ? cached.source === sourceTag(source) : cached.source.endsWith(FORMAT_SUFFIX))) return cached;
    cached?.close();
  } catch {
    // missing or unreadable: rebuild below
  }
  if (!source) throw new UserError(`Envoy's descriptor ${file} is missing, damaged or of another kuma-dp version: reinstall kuma-dp`);
  const bytes = serializeDescriptor(await buildDescriptor(source));
  try {
    writeBytes(bytes, file);
  } catch {
    // read-only install: keep it in memory only
  }
  return DescriptorFile.open(bytes)!;
}

export function writeDescriptor(descriptor: Descriptor, file = DESCRIPTOR_FILE): void {
  writeBytes(serializeDescriptor(descriptor), file);
}

/** Writes via a temporary file and a rename, so a concurrent reader never sees half a file. */
function writeBytes(bytes: Buffer, file: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, bytes);
  renameSync(temp, file);
}
