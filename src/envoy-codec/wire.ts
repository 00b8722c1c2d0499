// Protobuf binary encoding of NMessage trees, and decoding of binary into
// proto3 JSON (proto field names, well-known types in their JSON forms),
// driven by the Descriptor; protobufjs supplies only the varint/fixed
// readers and writers.
import protobuf from 'protobufjs/minimal.js';
import type { FieldDesc, MessageDesc } from '../validate/descriptor.js';
import { WRAPPERS } from '../validate/json-reader.js';
import { Schema, WELL_KNOWN, typeNameOfUrl, type NMessage, type NScalarKey, type NValue } from '../validate/schema.js';

type Writer = protobuf.Writer;
type Reader = protobuf.Reader;
// protobufjs types its Long as bare bits; long.js (which it loads) has these too.
const Long = protobuf.util.Long as unknown as {
  fromString(text: string, unsigned?: boolean): protobuf.Long;
  fromValue(value: protobuf.Long | number): { toString(): string };
};

/** A decoded 64-bit integer as its decimal text, as proto3 JSON writes int64. */
function longText(value: protobuf.Long | number): string {
  return Long.fromValue(value).toString();
}

const WIRE: Record<string, number> = {
  double: 1,
  float: 5,
  int32: 0,
  uint32: 0,
  sint32: 0,
  fixed32: 5,
  sfixed32: 5,
  int64: 0,
  uint64: 0,
  sint64: 0,
  fixed64: 1,
  sfixed64: 1,
  bool: 0,
  string: 2,
  bytes: 2,
};

const wireOf = (field: FieldDesc): number => (field.kind === 'message' ? 2 : field.kind === 'enum' ? 0 : WIRE[field.type]!);
const packable = (field: FieldDesc): boolean => field.kind === 'enum' || (field.kind === 'scalar' && field.type !== 'string' && field.type !== 'bytes');

export function encodeMessage(msg: NMessage): Uint8Array {
  const w = protobuf.Writer.create();
  writeMessage(w, msg);
  return w.finish();
}

// Fields go out in declaration order, and proto3 scalars at their default value not at all, as protobuf's own serialisers do.
function writeMessage(w: Writer, msg: NMessage): void {
  for (const field of msg.desc.fields) {
    const value = msg.values.get(field);
    if (value === undefined) continue;
    if (field.mapKey !== undefined) {
      const keyField: FieldDesc = { name: 'key', json: 'key', id: 1, type: field.mapKey, kind: 'scalar' };
      const valueField: FieldDesc = { ...field, name: 'value', json: 'value', id: 2, mapKey: undefined, repeated: undefined };
      for (const [k, v] of value as Array<[NScalarKey, NValue]>) {
        w.uint32((field.id << 3) | 2).fork();
        writeField(w, keyField, k);
        writeField(w, valueField, v);
        w.ldelim();
      }
    } else if (field.repeated) {
      const items = value as NValue[];
      if (items.length === 0) continue;
      if (packable(field)) {
        w.uint32((field.id << 3) | 2).fork();
        for (const item of items) writeScalar(w, field, item);
        w.ldelim();
      } else {
        for (const item of items) writeField(w, field, item);
      }
    } else if (field.kind === 'message' || field.oneof !== undefined || field.optional || !isDefault(value)) {
      writeField(w, field, value);
    }
  }
}

function writeField(w: Writer, field: FieldDesc, value: NValue): void {
  if (field.kind === 'message' || (value !== null && typeof value === 'object' && 'desc' in value)) {
    // a message, or Any.value holding the message it carries
    w.uint32((field.id << 3) | 2).fork();
    writeMessage(w, value as NMessage);
    w.ldelim();
    return;
  }
  w.uint32((field.id << 3) | wireOf(field));
  writeScalar(w, field, value);
}

function writeScalar(w: Writer, field: FieldDesc, value: NValue): void {
  if (field.kind === 'enum') {
    w.int32(value as number);
    return;
  }
  const long = (unsigned: boolean) => Long.fromString((value as number | bigint | string).toString(), unsigned);
  switch (field.type) {
    case 'double':
      w.double(value as number);
      break;
    case 'float':
      w.float(value as number);
      break;
    case 'int32':
      w.int32(value as number);
      break;
    case 'uint32':
      w.uint32(value as number);
      break;
    case 'sint32':
      w.sint32(value as number);
      break;
    case 'fixed32':
      w.fixed32(value as number);
      break;
    case 'sfixed32':
      w.sfixed32(value as number);
      break;
    case 'int64':
      w.int64(long(false));
      break;
    case 'uint64':
      w.uint64(long(true));
      break;
    case 'sint64':
      w.sint64(long(false));
      break;
    case 'fixed64':
      w.fixed64(long(true));
      break;
    case 'sfixed64':
      w.sfixed64(long(false));
      break;
    case 'bool':
      w.bool(value as boolean);
      break;
    case 'string':
      w.string(value as string);
      break;
    case 'bytes':
      w.bytes(value as Uint8Array);
      break;
    default:
      throw new Error(`cannot encode scalar type ${field.type}`);
  }
}

type Raw = Map<FieldDesc, unknown>;

/** Thrown when binary input cannot be decoded; `path` locates it. */
export class DecodeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export function decodeToJson(schema: Schema, bytes: Uint8Array, desc: MessageDesc): Record<string, unknown> {
  const reader = protobuf.Reader.create(bytes);
  const raw = readMessage(schema, reader, reader.len, desc, '');
  return toJson(schema, desc, raw, '') as Record<string, unknown>;
}

function readMessage(schema: Schema, r: Reader, end: number, desc: MessageDesc, path: string): Raw {
  const fields = schema.fieldsById(desc);
  const raw: Raw = new Map();
  while (r.pos < end) {
    const tag = r.uint32();
    const field = fields.get(tag >>> 3);
    const wire = tag & 7;
    if (!field) {
      r.skipType(wire);
      continue;
    }
    const at = path ? `${path}.${field.name}` : field.name;
    if (field.mapKey !== undefined) {
      const entryEnd = r.uint32() + r.pos;
      let key: unknown;
      let value: unknown;
      while (r.pos < entryEnd) {
        const t = r.uint32();
        if (t >>> 3 === 1) key = readScalar(r, field.mapKey);
        else if (t >>> 3 === 2) value = readValue(schema, r, field, at);
        else r.skipType(t & 7);
      }
      const entries = (raw.get(field) as Array<[unknown, unknown]> | undefined) ?? [];
      entries.push([key ?? defaultScalar(field.mapKey), value]);
      raw.set(field, entries);
    } else if (field.repeated) {
      const items = (raw.get(field) as unknown[] | undefined) ?? [];
      if (wire === 2 && packable(field)) {
        const packedEnd = r.uint32() + r.pos;
        while (r.pos < packedEnd) items.push(readValue(schema, r, field, at));
      } else {
        items.push(readValue(schema, r, field, at));
      }
      raw.set(field, items);
    } else {
      raw.set(field, readValue(schema, r, field, at));
    }
  }
  return raw;
}

function readValue(schema: Schema, r: Reader, field: FieldDesc, path: string): unknown {
  if (field.kind === 'message') {
    const desc = schema.message(field.type);
    if (!desc) throw new DecodeError(path, `type ${field.type} is not known`);
    const len = r.uint32();
    return { desc, raw: readMessage(schema, r, r.pos + len, desc, path) };
  }
  return field.kind === 'enum' ? r.int32() : readScalar(r, field.type);
}

function readScalar(r: Reader, type: string): unknown {
  switch (type) {
    case 'double':
      return r.double();
    case 'float':
      return r.float();
    case 'int32':
      return r.int32();
    case 'uint32':
      return r.uint32();
    case 'sint32':
      return r.sint32();
    case 'fixed32':
      return r.fixed32();
    case 'sfixed32':
      return r.sfixed32();
    case 'int64':
      return longText(r.int64());
    case 'uint64':
      return longText(r.uint64());
    case 'sint64':
      return longText(r.sint64());
    case 'fixed64':
      return longText(r.fixed64());
    case 'sfixed64':
      return longText(r.sfixed64());
    case 'bool':
      return r.bool();
    case 'string':
      return r.string();
    case 'bytes':
      return r.bytes();
    default:
      throw new Error(`cannot decode scalar type ${type}`);
  }
}

function defaultScalar(type: string): unknown {
  if (type === 'string') return '';
  if (type === 'bool') return false;
  if (type === 'bytes') return new Uint8Array();
  return type.endsWith('64') ? '0' : 0;
}

interface RawMessage {
  desc: MessageDesc;
  raw: Raw;
}

function get(m: RawMessage, name: string): unknown {
  for (const [f, v] of m.raw) if (f.name === name) return v;
  return undefined;
}

function toJson(schema: Schema, desc: MessageDesc, raw: Raw, path: string): unknown {
  const m: RawMessage = { desc, raw };
  if (desc.name.startsWith(WELL_KNOWN)) {
    const special = wellKnownJson(schema, m, path);
    if (special !== NOT_SPECIAL) return special;
  }
  const out: Record<string, unknown> = {};
  for (const field of desc.fields) {
    if (!raw.has(field)) continue;
    const value = raw.get(field);
    const at = path ? `${path}.${field.name}` : field.name;
    if (field.mapKey !== undefined) {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of value as Array<[unknown, unknown]>) obj[String(k)] = v === undefined ? defaultJson(schema, field) : valueJson(schema, field, v, at);
      out[field.name] = obj;
    } else if (field.repeated) {
      out[field.name] = (value as unknown[]).map((v) => valueJson(schema, field, v, at));
    } else {
      if (field.kind !== 'message' && field.oneof === undefined && !field.optional && isDefault(value)) continue;
      out[field.name] = valueJson(schema, field, value, at);
    }
  }
  return out;
}

function valueJson(schema: Schema, field: FieldDesc, v: unknown, path: string): unknown {
  if (field.kind === 'message') {
    const m = v as RawMessage;
    return toJson(schema, m.desc, m.raw, path);
  }
  if (field.kind === 'enum') {
    const desc = schema.enum(field.type);
    return (desc && schema.enumName(desc, v as number)) ?? v;
  }
  return scalarJson(field.type, v);
}

function defaultJson(schema: Schema, field: FieldDesc): unknown {
  if (field.kind === 'message') return {};
  if (field.kind === 'enum') return valueJson(schema, field, 0, '');
  return scalarJson(field.type, defaultScalar(field.type));
}

function scalarJson(type: string, v: unknown): unknown {
  // bytes are always read as Uint8Array (r.bytes() or the empty default)
  if (type === 'bytes' && v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if ((type === 'double' || type === 'float') && !Number.isFinite(v)) return String(v);
  if (type === 'float') return shortestFloat32(v as number);
  return v;
}

/** The shortest decimal that reads back as the same 32-bit float (0.1, not 0.10000000149011612), as protobuf prints floats. */
function shortestFloat32(v: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === v) return candidate;
  }
  return Number(v.toPrecision(9));
}

function isDefault(v: unknown): boolean {
  return v === 0 || v === 0n || v === '' || v === false || v === '0' || (v instanceof Uint8Array && v.length === 0);
}

const NOT_SPECIAL = Symbol('not a well-known JSON form');

function wellKnownJson(schema: Schema, m: RawMessage, path: string): unknown {
  const local = m.desc.name.slice(WELL_KNOWN.length);
  switch (local) {
    case 'Any': {
      const url = (get(m, 'type_url') as string | undefined) ?? '';
      if (url === '') return {};
      const typeName = typeNameOfUrl(url);
      const inner = typeName && schema.message(typeName);
      if (!inner) throw new DecodeError(path, `Any type '${url}' does not resolve to a message of Envoy's v3 API`);
      const bytes = (get(m, 'value') as Uint8Array | undefined) ?? new Uint8Array();
      const r = protobuf.Reader.create(bytes);
      const json = toJson(schema, inner, readMessage(schema, r, r.len, inner, path), path);
      const innerLocal = inner.name.slice(WELL_KNOWN.length);
      const special = inner.name.startsWith(WELL_KNOWN) && (innerLocal in WRAPPERS || SPECIAL_JSON.has(innerLocal));
      return special ? { '@type': url, value: json } : { '@type': url, ...(json as Record<string, unknown>) };
    }
    case 'Duration':
      return formatDuration(BigInt((get(m, 'seconds') as string | undefined) ?? '0'), (get(m, 'nanos') as number | undefined) ?? 0);
    case 'Timestamp': {
      const seconds = Number((get(m, 'seconds') as string | undefined) ?? '0');
      const nanos = (get(m, 'nanos') as number | undefined) ?? 0;
      const iso = new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
      return `${iso}${
        nanos
          ? `.${String(nanos)
              .padStart(9, '0')
              .replace(/(\d{3})(0{3}){1,2}$/, '$1')}`
          : ''
      }Z`;
    }
    case 'FieldMask':
      return ((get(m, 'paths') as string[] | undefined) ?? []).map((p) => p.replace(/_([a-z])/g, (_x, c: string) => c.toUpperCase())).join(',');
    case 'Struct': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of (get(m, 'fields') as Array<[string, RawMessage | undefined]> | undefined) ?? []) out[k] = v ? wellKnownJson(schema, v, path) : null;
      return out;
    }
    case 'ListValue':
      return ((get(m, 'values') as RawMessage[] | undefined) ?? []).map((v) => wellKnownJson(schema, v, path));
    case 'Value': {
      for (const [f, v] of m.raw) {
        if (f.name === 'null_value') return null;
        if (f.name === 'struct_value' || f.name === 'list_value') return wellKnownJson(schema, v as RawMessage, path);
        return v;
      }
      return null;
    }
    default: {
      const wrapped = WRAPPERS[local];
      if (wrapped === undefined) return NOT_SPECIAL;
      return scalarJson(wrapped, get(m, 'value') ?? defaultScalar(wrapped));
    }
  }
}

const SPECIAL_JSON = new Set(['Any', 'Duration', 'Timestamp', 'FieldMask', 'Struct', 'Value', 'ListValue']);

function formatDuration(seconds: bigint, nanos: number): string {
  const negative = seconds < 0n || nanos < 0;
  const s = seconds < 0n ? -seconds : seconds;
  const n = Math.abs(nanos);
  const frac =
    n === 0
      ? ''
      : `.${String(n)
          .padStart(9, '0')
          .replace(/(\d{3})(0{3}){1,2}$/, '$1')}`;
  return `${negative ? '-' : ''}${s}${frac}s`;
}
