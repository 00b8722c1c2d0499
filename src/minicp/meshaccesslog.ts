// The MeshAccessLog policy's spec as Kuma's REST API takes it (PUT
// /meshes/{mesh}/meshaccesslogs/{name}): {targetRef, from|rules, to}, each
// entry's `default.backends[]`. The mini-CP implements the Tcp backend (the
// one kuma-dp's access-log pipe serves); File and OpenTelemetry backends,
// `rules[].matches` and source-specific `from` are refused with a 422 that
// says so, rather than accepted and ignored.
import type { FieldError } from '../util/errors.js';

export const MESH_ACCESS_LOG = 'MeshAccessLog';

export interface TargetRef {
  kind: 'Mesh' | 'MeshSubset' | 'MeshService' | 'Dataplane';
  name?: string;
  tags?: Record<string, string>;
}

export interface AccessLogFormat {
  type: 'Plain' | 'Json';
  plain?: string;
  json?: Array<{ key: string; value: string }>;
  omitEmptyValues?: boolean;
}

export interface TcpBackend {
  type: 'Tcp';
  tcp: { address: string; format?: AccessLogFormat };
}

export interface AccessLogConf {
  backends: TcpBackend[];
}

export interface MeshAccessLogSpec {
  targetRef?: TargetRef;
  /** Kuma 2.x's inbound rules; kuma-mini-cp takes `targetRef: {kind: Mesh}` (every source). */
  from?: Array<{ targetRef: TargetRef; default: AccessLogConf }>;
  /** Kuma 3's inbound rules; kuma-mini-cp takes them without `matches` (every source). */
  rules?: Array<{ default: AccessLogConf }>;
  to?: Array<{ targetRef: TargetRef; default: AccessLogConf }>;
}

/** A stored MeshAccessLog whose spec passed checkMeshAccessLogSpec. */
export interface MeshAccessLog {
  mesh: string;
  name: string;
  spec: MeshAccessLogSpec;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function onlyKeys(value: Obj, known: readonly string[], path: string, errors: FieldError[]): void {
  for (const key of Object.keys(value))
    if (!known.includes(key)) errors.push({ field: path ? `${path}.${key}` : key, message: `unknown field (known: ${known.join(', ')})` });
}

function checkStringMap(value: unknown, path: string, errors: FieldError[]): void {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) errors.push({ field: path, message: 'must map names to strings' });
}

const TOP_KINDS = ['Mesh', 'MeshSubset', 'MeshService', 'Dataplane'];

function checkTargetRef(value: unknown, path: string, kinds: readonly string[], errors: FieldError[]): void {
  if (!isObject(value)) {
    errors.push({ field: path, message: `must be an object {kind${kinds.length > 1 ? ', name' : ''}}` });
    return;
  }
  onlyKeys(value, ['kind', 'name', 'tags', 'namespace', 'labels', 'sectionName', 'proxyTypes'], path, errors);
  const kind = value.kind;
  if (typeof kind !== 'string' || !kinds.includes(kind)) {
    const all =
      kind === 'MeshServiceSubset' || kind === 'MeshExternalService' || kind === 'MeshMultiZoneService' || kind === 'MeshHTTPRoute' || kind === 'MeshGateway';
    errors.push({
      field: `${path}.kind`,
      message: `${all ? `'${kind}' is a Kuma kind that kuma-mini-cp does not implement here` : `must be one of ${kinds.join(', ')}`}${all ? `; use one of ${kinds.join(', ')}` : ''}`,
    });
    return;
  }
  if ((kind === 'MeshService' || kind === 'Dataplane') && (typeof value.name !== 'string' || value.name === ''))
    errors.push({ field: `${path}.name`, message: `is required for kind ${kind}` });
  if (kind === 'Mesh' && value.name !== undefined) errors.push({ field: `${path}.name`, message: 'must not be set for kind Mesh' });
  if (kind === 'MeshSubset') checkStringMap(value.tags, `${path}.tags`, errors);
  for (const unsupported of ['labels', 'sectionName', 'namespace', 'proxyTypes'])
    if (value[unsupported] !== undefined) errors.push({ field: `${path}.${unsupported}`, message: 'is not implemented by kuma-mini-cp' });
}

function checkFormat(value: unknown, path: string, errors: FieldError[]): void {
  if (!isObject(value)) {
    errors.push({ field: path, message: 'must be an object {type: Plain|Json, plain | json, omitEmptyValues}' });
    return;
  }
  onlyKeys(value, ['type', 'plain', 'json', 'omitEmptyValues'], path, errors);
  if (value.omitEmptyValues !== undefined && typeof value.omitEmptyValues !== 'boolean')
    errors.push({ field: `${path}.omitEmptyValues`, message: 'must be a boolean' });
  if (value.type === 'Plain') {
    if (typeof value.plain !== 'string' || value.plain === '') errors.push({ field: `${path}.plain`, message: 'must be a non-empty string for type Plain' });
  } else if (value.type === 'Json') {
    const json = value.json;
    if (!Array.isArray(json) || json.length === 0) {
      errors.push({ field: `${path}.json`, message: 'must be a non-empty list of {key, value} for type Json' });
      return;
    }
    json.forEach((kv: unknown, i) => {
      const at = `${path}.json[${i}]`;
      if (!isObject(kv)) return errors.push({ field: at, message: 'must be {key, value}' });
      onlyKeys(kv, ['key', 'value'], at, errors);
      if (typeof kv.key !== 'string' || kv.key === '') errors.push({ field: `${at}.key`, message: 'key cannot be empty' });
      if (typeof kv.value !== 'string' || kv.value === '') errors.push({ field: `${at}.value`, message: 'value cannot be empty' });
    });
  } else errors.push({ field: `${path}.type`, message: "must be 'Plain' or 'Json'" });
}

function checkConf(value: unknown, path: string, errors: FieldError[]): void {
  if (!isObject(value)) {
    errors.push({ field: path, message: 'must be an object {backends: [...]}' });
    return;
  }
  onlyKeys(value, ['backends'], path, errors);
  if (!Array.isArray(value.backends)) {
    errors.push({ field: `${path}.backends`, message: 'must be defined (a list; an empty list turns access logs off)' });
    return;
  }
  value.backends.forEach((b: unknown, i) => {
    const at = `${path}.backends[${i}]`;
    if (!isObject(b)) return errors.push({ field: at, message: 'must be an object {type: Tcp, tcp: {address}}' });
    onlyKeys(b, ['type', 'tcp', 'file', 'openTelemetry'], at, errors);
    if (b.type === 'File' || b.type === 'OpenTelemetry')
      return errors.push({ field: `${at}.type`, message: `${b.type} backends are not implemented by kuma-mini-cp; use type Tcp` });
    if (b.type !== 'Tcp') return errors.push({ field: `${at}.type`, message: "must be 'Tcp' (Kuma also has File and OpenTelemetry)" });
    if (!isObject(b.tcp)) return errors.push({ field: `${at}.tcp`, message: 'must be defined for type Tcp: {address, format}' });
    onlyKeys(b.tcp, ['address', 'format'], `${at}.tcp`, errors);
    const address = b.tcp.address;
    // Kuma's validator also takes a bare host, but a collector without a port can never be dialled.
    if (typeof address !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(address))
      errors.push({ field: `${at}.tcp.address`, message: 'tcp backend requires a valid address: host:port, e.g. 127.0.0.1:5000' });
    if (b.tcp.format !== undefined) checkFormat(b.tcp.format, `${at}.tcp.format`, errors);
  });
}

function checkEntries(value: unknown, path: string, withTargetRef: readonly string[] | undefined, errors: FieldError[]): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    errors.push({ field: path, message: 'must be a list' });
    return;
  }
  value.forEach((entry: unknown, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(entry)) return errors.push({ field: at, message: `must be an object {${withTargetRef ? 'targetRef, ' : ''}default}` });
    if (withTargetRef) {
      onlyKeys(entry, ['targetRef', 'default'], at, errors);
      checkTargetRef(entry.targetRef, `${at}.targetRef`, withTargetRef, errors);
    } else {
      onlyKeys(entry, ['matches', 'default'], at, errors);
      if (Array.isArray(entry.matches) ? entry.matches.length > 0 : entry.matches !== undefined)
        errors.push({ field: `${at}.matches`, message: 'is not implemented by kuma-mini-cp (rules apply to every source)' });
    }
    checkConf(entry.default, `${at}.default`, errors);
  });
}

/** Field errors of a MeshAccessLog spec (paths under `spec`); none when the mini-CP can apply it. */
export function checkMeshAccessLogSpec(spec: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  if (spec.targetRef !== undefined) checkTargetRef(spec.targetRef, 'spec.targetRef', TOP_KINDS, errors);
  checkEntries(spec.from, 'spec.from', ['Mesh'], errors);
  checkEntries(spec.rules, 'spec.rules', undefined, errors);
  checkEntries(spec.to, 'spec.to', ['Mesh', 'MeshService'], errors);
  if (spec.default !== undefined) errors.push({ field: 'spec.default', message: "MeshAccessLog has no top-level 'default'; put it in from, rules or to" });
  const count = (v: unknown): number => (Array.isArray(v) ? v.length : 0);
  if (count(spec.from) + count(spec.rules) + count(spec.to) === 0)
    errors.push({ field: 'spec', message: "at least one of 'from', 'rules' or 'to' has to be defined" });
  if (count(spec.rules) > 0 && count(spec.to) > 0) errors.push({ field: 'spec', message: "'to' must be empty when 'rules' is defined (as Kuma 3)" });
  if (count(spec.rules) > 0 && count(spec.from) > 0) errors.push({ field: 'spec', message: "'from' (Kuma 2.x) and 'rules' (Kuma 3) cannot both be defined" });
  return errors;
}
