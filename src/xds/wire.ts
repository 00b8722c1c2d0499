// Discovery responses written straight to protobuf bytes. A resource is
// encoded once (as the Any, or delta Resource, entry it becomes) and every
// response that carries it reuses those bytes, so a push to a thousand
// proxies costs one copy per response, not a protobuf encoding per resource.
import type { AnyMessage } from './ads-proto.js';

const LENGTH_DELIMITED = 2;

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** One length-delimited field: tag, length, payload. */
function field(fieldNumber: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((fieldNumber << 3) | LENGTH_DELIMITED), varint(payload.length), payload]);
}

const stringField = (fieldNumber: number, value: string): Buffer => (value === '' ? Buffer.alloc(0) : field(fieldNumber, Buffer.from(value, 'utf8')));

/** google.protobuf.Any: type_url = 1, value = 2. */
function anyBytes(any: AnyMessage): Buffer {
  return Buffer.concat([stringField(1, any.type_url), field(2, any.value)]);
}

export interface EncodableResource {
  name: string;
  version: string;
  any: AnyMessage;
}

const sotwEntries = new WeakMap<EncodableResource, Buffer>();
const deltaEntries = new WeakMap<EncodableResource, Buffer>();

/** DiscoveryResponse.resources (field 2) entry for a resource. */
function sotwEntry(r: EncodableResource): Buffer {
  let entry = sotwEntries.get(r);
  if (!entry) sotwEntries.set(r, (entry = field(2, anyBytes(r.any))));
  return entry;
}

/** DeltaDiscoveryResponse.resources (field 2) entry: a Resource with version = 1, resource = 2, name = 3. */
function deltaEntry(r: EncodableResource): Buffer {
  let entry = deltaEntries.get(r);
  if (!entry) deltaEntries.set(r, (entry = field(2, Buffer.concat([stringField(1, r.version), field(2, anyBytes(r.any)), stringField(3, r.name)]))));
  return entry;
}

/**
 * Everything of a SotW response but its nonce, by type and version, so a push
 * of one version to many proxies encodes it once. A hit must carry the very
 * same resource objects, so a reused version string can never serve stale bytes.
 */
const sotwBodies = new Map<string, { resources: readonly EncodableResource[]; body: Buffer }>();
const MAX_CACHED_BODIES = 256;

/** DiscoveryResponse: version_info = 1, resources = 2, type_url = 4, nonce = 5. */
export function encodeDiscoveryResponse(version: string, resources: readonly EncodableResource[], typeUrl: string, nonce: string): Buffer {
  const key = `${typeUrl}\n${version}`;
  const hit = sotwBodies.get(key);
  let body: Buffer;
  if (hit && hit.resources.length === resources.length && hit.resources.every((r, i) => r === resources[i])) {
    body = hit.body;
  } else {
    body = Buffer.concat([stringField(1, version), ...resources.map(sotwEntry), stringField(4, typeUrl)]);
    if (!hit && sotwBodies.size >= MAX_CACHED_BODIES) sotwBodies.delete(sotwBodies.keys().next().value!);
    sotwBodies.set(key, { resources: [...resources], body });
  }
  return Buffer.concat([body, stringField(5, nonce)]);
}

/** DeltaDiscoveryResponse: system_version_info = 1, resources = 2, type_url = 4, nonce = 5, removed_resources = 6. */
export function encodeDeltaDiscoveryResponse(
  systemVersion: string,
  resources: readonly EncodableResource[],
  typeUrl: string,
  removed: readonly string[],
  nonce: string,
): Buffer {
  return Buffer.concat([
    stringField(1, systemVersion),
    ...resources.map(deltaEntry),
    stringField(4, typeUrl),
    stringField(5, nonce),
    ...removed.map((name) => stringField(6, name)),
  ]);
}

/** Reads the varint and length-delimited fields of a message in order; a handler returning false (or another wire type) stops it with false. */
export function readFields(bytes: Buffer, onField: (fieldNo: number, wireType: number, value: number | Buffer) => boolean): boolean {
  let pos = 0;
  const varintAt = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new RangeError('truncated varint');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (pos < bytes.length) {
    const tag = varintAt();
    const wireType = tag & 7;
    if (wireType === 0) {
      if (!onField(tag >>> 3, 0, varintAt())) return false;
    } else if (wireType === 2) {
      const length = varintAt();
      if (pos + length > bytes.length) throw new RangeError('truncated field');
      if (!onField(tag >>> 3, 2, bytes.subarray(pos, pos + length))) return false;
      pos += length;
    } else {
      return false;
    }
  }
  return true;
}

function status(bytes: Buffer): { code: number; message: string } | undefined {
  const out = { code: 0, message: '' };
  const ok = readFields(bytes, (no, wt, v) => {
    if (no === 1 && wt === 0) out.code = v as number;
    else if (no === 2 && wt === 2) out.message = (v as Buffer).toString('utf8');
    return true; // details (Any) are not read
  });
  return ok ? out : undefined;
}

/**
 * The requests a proxy sends after its first (ACKs, NACKs, subscription
 * changes) decoded without protobufjs; undefined for anything else (a node,
 * resource locators, initial versions...), which goes through the full decoder.
 */
export function decodeDiscoveryRequestFast(bytes: Buffer): Record<string, unknown> | undefined {
  const out = { version_info: '', node: null as unknown, resource_names: [] as string[], type_url: '', response_nonce: '', error_detail: null as unknown };
  const ok = readFields(bytes, (no, wt, v) => {
    if (wt !== 2) return false;
    const b = v as Buffer;
    if (no === 1) out.version_info = b.toString('utf8');
    else if (no === 3) out.resource_names.push(b.toString('utf8'));
    else if (no === 4) out.type_url = b.toString('utf8');
    else if (no === 5) out.response_nonce = b.toString('utf8');
    else if (no === 6) return (out.error_detail = status(b)) !== undefined;
    else return false;
    return true;
  });
  return ok ? out : undefined;
}

export function decodeDeltaDiscoveryRequestFast(bytes: Buffer): Record<string, unknown> | undefined {
  const out = {
    node: null as unknown,
    type_url: '',
    resource_names_subscribe: [] as string[],
    resource_names_unsubscribe: [] as string[],
    initial_resource_versions: {},
    response_nonce: '',
    error_detail: null as unknown,
  };
  const ok = readFields(bytes, (no, wt, v) => {
    if (wt !== 2) return false;
    const b = v as Buffer;
    if (no === 2) out.type_url = b.toString('utf8');
    else if (no === 3) out.resource_names_subscribe.push(b.toString('utf8'));
    else if (no === 4) out.resource_names_unsubscribe.push(b.toString('utf8'));
    else if (no === 6) out.response_nonce = b.toString('utf8');
    else if (no === 7) return (out.error_detail = status(b)) !== undefined;
    else return false;
    return true;
  });
  return ok ? out : undefined;
}
