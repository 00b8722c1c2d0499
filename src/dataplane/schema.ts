// The shape of a Dataplane resource, checked strictly: a field this schema
// does not know is an error that names it, as Kuma's protojson decoding does.
import { childPath } from '../util/document.js';
import type { FieldError } from '../util/errors.js';

export type Schema =
  | { kind: 'string' | 'number' | 'boolean' | 'any' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'array'; items: Schema }
  | { kind: 'map'; values: Schema }
  | { kind: 'object'; fields: Record<string, Schema> };

const str: Schema = { kind: 'string' };
const num: Schema = { kind: 'number' };
const bool: Schema = { kind: 'boolean' };
const any: Schema = { kind: 'any' };
const tags: Schema = { kind: 'map', values: str };
const obj = (fields: Record<string, Schema>): Schema => ({ kind: 'object', fields });

/** Also accepts the proto (snake_case) spelling of each camelCase name, as protojson does. */
function withProtoNames(fields: Record<string, Schema>): Record<string, Schema> {
  const all: Record<string, Schema> = { ...fields };
  for (const [name, schema] of Object.entries(fields)) {
    all[name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = schema;
  }
  return all;
}
const pobj = (fields: Record<string, Schema>): Schema => obj(withProtoNames(fields));

const inbound = pobj({
  port: num,
  servicePort: num,
  serviceAddress: str,
  address: str,
  name: str,
  protocol: str,
  state: { kind: 'enum', values: ['Ready', 'NotReady', 'Ignored'] },
  tags,
  health: obj({ ready: bool }),
  serviceProbe: pobj({ interval: str, timeout: str, unhealthyThreshold: num, healthyThreshold: num, tcp: obj({}) }),
});

const outbound = pobj({
  port: num,
  address: str,
  tags,
  backendRef: obj({ kind: str, name: str, port: num, labels: tags }),
});

export const dataplaneSchema: Schema = pobj({
  type: str,
  mesh: str,
  name: str,
  labels: tags,
  creationTime: str,
  modificationTime: str,
  kri: str,
  networking: pobj({
    address: str,
    advertisedAddress: str,
    advertisedPort: num,
    inbound: { kind: 'array', items: inbound },
    outbound: { kind: 'array', items: outbound },
    gateway: obj({ tags, type: { kind: 'enum', values: ['DELEGATED', 'BUILTIN'] } }),
    transparentProxying: pobj({
      redirectPortInbound: num,
      redirectPortOutbound: num,
      redirectPortInboundV6: num,
      directAccessServices: { kind: 'array', items: str },
      ipFamilyMode: { kind: 'enum', values: ['UnSpecified', 'DualStack', 'IPv4', 'IPv6'] },
      reachableServices: { kind: 'array', items: str },
      reachableBackends: any,
    }),
    admin: obj({ port: num }),
  }),
  metrics: obj({ name: str, type: str, conf: any }),
  probes: pobj({ port: num, endpoints: { kind: 'array', items: pobj({ inboundPort: num, inboundPath: str, path: str }) } }),
});

/**
 * Checks `value` against `schema`; returns every mismatch with its path.
 * `null` for an object's field means "not set" (as protojson reads it); a
 * `null` list item or map value is an error. Field names are looked up as
 * own properties only, so `constructor` or `__proto__` are unknown fields.
 */
export function checkShape(value: unknown, schema: Schema, path: string, errors: FieldError[] = []): FieldError[] {
  const fail = (message: string): FieldError[] => {
    errors.push({ field: path, message });
    return errors;
  };
  if (value === undefined) return errors;
  if (value === null) return schema.kind === 'any' ? errors : fail(`must be ${expected(schema)}, got null`);
  switch (schema.kind) {
    case 'any':
      return errors;
    case 'string':
      return typeof value === 'string' ? errors : fail(`must be a string, got ${typeName(value)}`);
    case 'number':
      return typeof value === 'number' ? errors : fail(`must be a number, got ${typeName(value)}`);
    case 'boolean':
      return typeof value === 'boolean' ? errors : fail(`must be true or false, got ${typeName(value)}`);
    case 'enum':
      return typeof value === 'string' && schema.values.includes(value)
        ? errors
        : fail(`must be one of ${schema.values.join(', ')}, got ${JSON.stringify(value)}`);
    case 'array':
      if (!Array.isArray(value)) return fail(`must be a list, got ${typeName(value)}`);
      value.forEach((item, i) => checkShape(item, schema.items, `${path}[${i}]`, errors));
      return errors;
    case 'map':
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return fail(`must be an object, got ${typeName(value)}`);
      for (const [key, item] of Object.entries(value)) {
        const itemPath = childPath(path, key);
        if (schema.kind === 'map') {
          checkShape(item, schema.values, itemPath, errors);
        } else if (Object.hasOwn(schema.fields, key)) {
          if (item !== null) checkShape(item, schema.fields[key]!, itemPath, errors);
        } else {
          errors.push({ field: itemPath, message: 'unknown field' });
        }
      }
      return errors;
    }
  }
}

function expected(schema: Schema): string {
  switch (schema.kind) {
    case 'array':
      return 'a list';
    case 'map':
    case 'object':
      return 'an object';
    case 'enum':
      return `one of ${schema.values.join(', ')}`;
    case 'boolean':
      return 'true or false';
    default:
      return `a ${schema.kind}`;
  }
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Copies a value checkShape accepted, with every object field under its
 * camelCase name and null fields left out (map keys such as tags stay as given).
 */
export function toCamelCase(value: unknown, schema: Schema): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return schema.kind === 'array' ? value.map((v) => toCamelCase(v, schema.items)) : value;
  if (schema.kind !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null || !Object.hasOwn(schema.fields, key)) continue;
    out[camel(key)] = toCamelCase(item, schema.fields[key]!);
  }
  return out;
}
