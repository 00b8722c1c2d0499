// A strict proto3 JSON reader, as Envoy's (protobuf's) JSON parser is when it
// loads a config: unknown fields, wrong types, bad enum names, malformed
// durations and unresolvable Any types are errors, each located by its path in
// the document. It reads into NMessage trees (see schema.ts) that the wire
// encoder writes, and checks protoc-gen-validate rules on the way (pgv.ts).
import type { FieldDesc, MessageDesc } from './descriptor.js';
import { checkFieldRules, checkOneofs } from './pgv.js';
import { Schema, WELL_KNOWN, typeNameOfUrl, type NMessage, type NScalarKey, type NValue } from './schema.js';

export interface ValidationIssue {
  path: string;
  message: string;
  /**
   * Set when the descriptor cannot judge: a field, enum value or type URL it does not know. Its API
   * snapshot may just be older than the Envoy that reads the config, so Envoy may accept it.
   * Unset: a definite violation of something the descriptor knows.
   */
  unknown?: true;
}

export class Reader {
  readonly issues: ValidationIssue[] = [];
  /** Any values of a type Envoy knows but whose .proto is not shipped: accepted unchecked, and cannot be encoded. */
  readonly unverified: ValidationIssue[] = [];
  constructor(readonly schema: Schema) {}

  issue(path: string, message: string): undefined {
    this.issues.push({ path: path || '(document)', message });
    return undefined;
  }

  /** Something the descriptor does not know (a newer Envoy may): reported, marked as not definite. */
  notKnown(path: string, message: string): undefined {
    this.issues.push({ path: path || '(document)', message, unknown: true });
    return undefined;
  }

  /** Reads `json` as a message of type `desc`; undefined when it is not even an object. */
  message(json: unknown, desc: MessageDesc, path: string, anyTypeUrl?: string): NMessage | undefined {
    if (desc.name.startsWith(WELL_KNOWN)) {
      const special = this.wellKnown(json, desc, path);
      if (special !== NOT_SPECIAL) return special;
    }
    if (!isObject(json)) return this.issue(path, `expected an object (${desc.name}), got ${describe(json)}`);
    const fields = this.schema.fieldsByKey(desc);
    const msg: NMessage = { desc, values: new Map() };
    const keyOf = new Map<FieldDesc, string>();
    const unreadable = new Set<FieldDesc>(); // already reported: no rule checks on top
    for (const [key, value] of Object.entries(json)) {
      if (key === '@type' && anyTypeUrl !== undefined) continue;
      const at = join(path, key);
      const field = fields.get(key);
      if (!field) {
        this.notKnown(at, `unknown field '${key}' in ${desc.name}${suggest(key, desc)}`);
        continue;
      }
      const previous = keyOf.get(field);
      if (previous !== undefined) {
        this.issue(at, `field '${field.name}' is set twice (also as '${previous}')`);
        continue;
      }
      if (value === null && field.type !== 'google.protobuf.Value') continue;
      keyOf.set(field, key);
      const read = this.field(value, field, at);
      if (read !== undefined) msg.values.set(field, read);
      else unreadable.add(field);
    }
    checkOneofs(this, msg, keyOf, path, !desc.rulesDisabled);
    if (!desc.rulesDisabled) {
      for (const field of desc.fields) {
        if (field.rules && !unreadable.has(field)) checkFieldRules(this, field, msg.values.get(field), join(path, keyOf.get(field) ?? field.name));
      }
    }
    return msg;
  }

  private field(json: unknown, field: FieldDesc, path: string): NValue | undefined {
    if (field.mapKey !== undefined) {
      if (!isObject(json)) return this.issue(path, `expected an object (map<${field.mapKey}, ${shortType(field)}>), got ${describe(json)}`);
      const entries: Array<[NScalarKey, NValue]> = [];
      for (const [key, value] of Object.entries(json)) {
        const at = mapPath(path, key);
        const k = this.mapKey(key, field.mapKey, at);
        const v = value === null && field.type !== 'google.protobuf.Value' ? undefined : this.single(value, field, at);
        if (k !== undefined && v !== undefined) entries.push([k, v]);
      }
      return entries;
    }
    if (field.repeated) {
      if (!Array.isArray(json)) return this.issue(path, `expected a list (repeated ${shortType(field)}), got ${describe(json)}`);
      const items: NValue[] = [];
      json.forEach((item, i) => {
        const at = `${path}[${i}]`;
        if (item === null) return void this.issue(at, 'null is not allowed in a list');
        const v = this.single(item, field, at);
        if (v !== undefined) items.push(v);
      });
      return items;
    }
    return this.single(json, field, path);
  }

  private single(json: unknown, field: FieldDesc, path: string): NValue | undefined {
    if (field.kind === 'message') {
      const desc = this.schema.message(field.type);
      return desc ? this.message(json, desc, path) : this.notKnown(path, `type ${field.type} is not known`);
    }
    if (field.kind === 'enum') return this.enumValue(json, field.type, path);
    return this.scalar(json, field.type, path);
  }

  enumValue(json: unknown, enumName: string, path: string): number | undefined {
    const desc = this.schema.enum(enumName);
    if (!desc) return this.notKnown(path, `enum ${enumName} is not known`);
    if (typeof json === 'string') {
      if (Object.hasOwn(desc.values, json)) return desc.values[json];
      return this.notKnown(path, `'${json}' is not a value of enum ${enumName}; expected one of ${Object.keys(desc.values).join(', ')}`);
    }
    if (typeof json === 'number' && Number.isInteger(json) && json >= -(2 ** 31) && json < 2 ** 31) return json;
    if (enumName === 'google.protobuf.NullValue' && json === null) return 0;
    return this.issue(path, `expected an enum name of ${enumName}, got ${describe(json)}`);
  }

  scalar(json: unknown, type: string, path: string): NValue | undefined {
    switch (type) {
      case 'string':
        return typeof json === 'string' ? json : this.issue(path, `expected a string, got ${describe(json)}`);
      case 'bool':
        return typeof json === 'boolean' ? json : this.issue(path, `expected true or false, got ${describe(json)}`);
      case 'bytes':
        if (typeof json === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(json)) return new Uint8Array(Buffer.from(json, 'base64'));
        return this.issue(path, `expected base64-encoded bytes, got ${describe(json)}`);
      case 'double':
      case 'float':
        return this.float(json, type, path);
      default:
        return this.integer(json, type, path);
    }
  }

  private float(json: unknown, type: string, path: string): number | undefined {
    let n: number | undefined;
    if (typeof json === 'number') n = json;
    else if (typeof json === 'string') {
      if (json === 'NaN') n = NaN;
      else if (json === 'Infinity') n = Infinity;
      else if (json === '-Infinity') n = -Infinity;
      else if (json.trim() !== '' && Number.isFinite(Number(json))) n = Number(json);
    }
    if (n === undefined) return this.issue(path, `expected a number (${type}), got ${describe(json)}`);
    if (type === 'float' && Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) return this.issue(path, `${n} is out of range for a float`);
    return n;
  }

  private integer(json: unknown, type: string, path: string): number | bigint | undefined {
    const range = INT_RANGES[type];
    if (!range) return this.issue(path, `unsupported scalar type ${type}`);
    let n: bigint | undefined;
    if (typeof json === 'number' && Number.isInteger(json)) n = BigInt(json);
    else if (typeof json === 'string' && /^-?\d+$/.test(json)) n = BigInt(json);
    if (n === undefined) return this.issue(path, `expected an integer (${type}), got ${describe(json)}`);
    if (n < range[0] || n > range[1]) return this.issue(path, `${n} is out of range for ${type} (${range[0]}..${range[1]})`);
    return type.endsWith('64') ? n : Number(n);
  }

  private mapKey(key: string, type: string, path: string): NScalarKey | undefined {
    if (type === 'string') return key;
    if (type === 'bool') return key === 'true' ? true : key === 'false' ? false : this.issue(path, `map key '${key}' is not true or false`);
    return this.integer(key, type, path);
  }

  /** Any, Duration, Timestamp, Struct/Value/ListValue, FieldMask and the wrappers have their own JSON forms. */
  private wellKnown(json: unknown, desc: MessageDesc, path: string): NMessage | undefined | typeof NOT_SPECIAL {
    const local = desc.name.slice(WELL_KNOWN.length);
    switch (local) {
      case 'Any':
        return this.any(json, desc, path);
      case 'Duration':
        return this.duration(json, desc, path);
      case 'Timestamp':
        return this.timestamp(json, desc, path);
      case 'FieldMask': {
        if (typeof json !== 'string') return this.issue(path, `expected a field mask string ("a.b,c"), got ${describe(json)}`);
        const paths = json === '' ? [] : json.split(',').map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
        return withValues(desc, [['paths', paths]]);
      }
      case 'Struct':
        if (!isObject(json)) return this.issue(path, `expected an object (Struct), got ${describe(json)}`);
        return this.struct(json, desc, path);
      case 'Value':
        return this.value(json, desc, path);
      case 'ListValue':
        if (!Array.isArray(json)) return this.issue(path, `expected a list (ListValue), got ${describe(json)}`);
        return this.listValue(json, desc, path);
      default: {
        const wrapped = WRAPPERS[local];
        if (wrapped === undefined) return NOT_SPECIAL;
        if (isObject(json)) return this.issue(path, `expected a plain ${wrapped} (${local}), got an object`);
        const v = this.scalar(json, wrapped, path);
        return v === undefined ? undefined : withValues(desc, [['value', v]]);
      }
    }
  }

  private any(json: unknown, desc: MessageDesc, path: string): NMessage | undefined {
    if (!isObject(json)) return this.issue(path, `expected an object with "@type" (Any), got ${describe(json)}`);
    const url = json['@type'];
    const at = join(path, '@type');
    if (url === undefined) {
      if (Object.keys(json).length === 0) return { desc, values: new Map() };
      return this.issue(at, 'missing "@type" in an Any (e.g. "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")');
    }
    if (typeof url !== 'string') return this.issue(at, `expected a type URL string, got ${describe(url)}`);
    const typeName = typeNameOfUrl(url);
    if (!typeName) return this.issue(at, `'${url}' is not a type URL; expected type.googleapis.com/<message name>`);
    const inner = this.schema.message(typeName);
    if (!inner) {
      const file = this.schema.unverifiableFile(typeName);
      if (file)
        return void this.unverified.push({
          path,
          message: `${typeName} is defined in ${file}, whose imports the build's .proto files do not include; it was not checked and cannot be encoded`,
        });
      return this.notKnown(at, `'${url}' does not resolve: no message ${typeName} in Envoy's v3 API`);
    }
    let value: NMessage | undefined;
    if (inner.name.startsWith(WELL_KNOWN) && inner.name !== 'google.protobuf.Empty' && this.hasSpecialJson(inner)) {
      for (const key of Object.keys(json))
        if (key !== '@type' && key !== 'value') this.issue(join(path, key), `unknown field '${key}' in an Any holding ${typeName} (only "value")`);
      value = this.message(json.value, inner, join(path, 'value'));
    } else {
      value = this.message(json, inner, path, url);
      if (value && TYPED_STRUCTS.has(typeName)) this.typedStruct(json, path);
    }
    if (!value) return undefined;
    return withValues(desc, [
      ['type_url', url],
      ['value', value],
    ]);
  }

  private hasSpecialJson(desc: MessageDesc): boolean {
    const local = desc.name.slice(WELL_KNOWN.length);
    return ['Any', 'Duration', 'Timestamp', 'FieldMask', 'Struct', 'Value', 'ListValue'].includes(local) || local in WRAPPERS;
  }

  /** A TypedStruct carries its config as a Struct; Envoy converts it to `type_url`'s message, so check it as one. */
  private typedStruct(json: Record<string, unknown>, path: string): void {
    const url = json.type_url ?? json.typeUrl;
    if (typeof url !== 'string') return;
    const typeName = typeNameOfUrl(url);
    const target = typeName && this.schema.message(typeName);
    if (!target) return void this.notKnown(join(path, 'type_url'), `'${url}' does not resolve: no message ${typeName ?? url} in Envoy's v3 API`);
    this.message(json.value ?? {}, target, join(path, 'value'));
  }

  private duration(json: unknown, desc: MessageDesc, path: string): NMessage | undefined {
    const m = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
    if (!m) return this.issue(path, `expected a duration string such as "5s" or "0.250s", got ${describe(json)}`);
    const seconds = BigInt(m[2]!);
    if (seconds > 315_576_000_000n) return this.issue(path, `duration ${json as string} is out of range (at most 315576000000s)`);
    const sign = m[1] ? -1 : 1;
    const nanos = Number((m[3] ?? '').padEnd(9, '0'));
    return withValues(desc, [
      ['seconds', BigInt(sign) * seconds],
      ['nanos', sign * nanos],
    ]);
  }

  private timestamp(json: unknown, desc: MessageDesc, path: string): NMessage | undefined {
    const m = typeof json === 'string' ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(json) : null;
    const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
    if (!m || Number.isNaN(ms)) return this.issue(path, `expected an RFC 3339 timestamp such as "2024-01-01T00:00:00Z", got ${describe(json)}`);
    return withValues(desc, [
      ['seconds', BigInt(ms / 1000)],
      ['nanos', Number((m[2] ?? '').padEnd(9, '0'))],
    ]);
  }

  private struct(json: Record<string, unknown>, desc: MessageDesc, path: string): NMessage {
    const valueDesc = this.schema.message('google.protobuf.Value')!;
    const entries: Array<[NScalarKey, NValue]> = [];
    for (const [key, value] of Object.entries(json)) {
      const v = this.value(value, valueDesc, mapPath(path, key));
      if (v) entries.push([key, v]);
    }
    return withValues(desc, [['fields', entries]]);
  }

  private listValue(json: unknown[], desc: MessageDesc, path: string): NMessage {
    const valueDesc = this.schema.message('google.protobuf.Value')!;
    const items: NValue[] = [];
    json.forEach((item, i) => {
      const v = this.value(item, valueDesc, `${path}[${i}]`);
      if (v) items.push(v);
    });
    return withValues(desc, [['values', items]]);
  }

  private value(json: unknown, desc: MessageDesc, path: string): NMessage | undefined {
    if (json === null) return withValues(desc, [['null_value', 0]]);
    if (typeof json === 'number') return withValues(desc, [['number_value', json]]);
    if (typeof json === 'string') return withValues(desc, [['string_value', json]]);
    if (typeof json === 'boolean') return withValues(desc, [['bool_value', json]]);
    if (Array.isArray(json)) return withValues(desc, [['list_value', this.listValue(json, this.schema.message('google.protobuf.ListValue')!, path)]]);
    if (isObject(json)) return withValues(desc, [['struct_value', this.struct(json, this.schema.message('google.protobuf.Struct')!, path)]]);
    return this.issue(path, `expected a JSON value, got ${describe(json)}`);
  }
}

const NOT_SPECIAL = Symbol('not a well-known JSON form');

const TYPED_STRUCTS = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

/** The scalar each google.protobuf wrapper holds. */
export const WRAPPERS: Record<string, string> = {
  DoubleValue: 'double',
  FloatValue: 'float',
  Int64Value: 'int64',
  UInt64Value: 'uint64',
  Int32Value: 'int32',
  UInt32Value: 'uint32',
  BoolValue: 'bool',
  StringValue: 'string',
  BytesValue: 'bytes',
};

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

function withValues(desc: MessageDesc, values: Array<[string, NValue]>): NMessage {
  const map = new Map<FieldDesc, NValue>();
  for (const [name, value] of values) {
    const field = desc.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${desc.name} has no field ${name}`);
    map.set(field, value);
  }
  return { desc, values: map };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || v === undefined) return `${typeof v} ${String(v)}`;
  return typeof v; // a symbol or a function: no parser gives one
}

export const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
const mapPath = (path: string, key: string): string => (/^[A-Za-z_][\w]*$/.test(key) ? join(path, key) : `${path}[${JSON.stringify(key)}]`);

function shortType(field: FieldDesc): string {
  return field.kind === 'scalar' ? field.type : field.type.slice(field.type.lastIndexOf('.') + 1);
}

/** ", did you mean 'x'?" for a key one edit away (or a case/underscore variant) from a field's name. */
function suggest(key: string, desc: MessageDesc): string {
  const plain = (s: string) => s.replace(/_/g, '').toLowerCase();
  const camel = /[A-Z]/.test(key);
  const near = desc.fields.find((f) => plain(f.name) === plain(key) || editDistanceAtMost1(camel ? f.json : f.name, key));
  return near ? `; did you mean '${camel ? near.json : near.name}'?` : '';
}

/** True when b is a, or a with one character added, removed, replaced, or two neighbours swapped. */
function editDistanceAtMost1(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const restA = a.slice(i);
  const restB = b.slice(i);
  if (restA.length === restB.length && restA.length >= 2 && restA[0] === restB[1] && restA[1] === restB[0] && restA.slice(2) === restB.slice(2)) return true;
  return restA.slice(1) === restB.slice(1) || restA.slice(1) === restB || restA === restB.slice(1);
}
