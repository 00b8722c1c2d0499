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
 * Everything of a SotW response but its nonce, by type and version: a version
 * names its content, so a push of one version to many proxies encodes it once.
 */
const sotwBodies = new Map<string, Buffer>();
const MAX_CACHED_BODIES = 256;

/** DiscoveryResponse: version_info = 1, resources = 2, type_url = 4, nonce = 5. */
export function encodeDiscoveryResponse(version: string, resources: readonly EncodableResource[], typeUrl: string, nonce: string): Buffer {
  const key = `${typeUrl}\n${version}`;
  let body = sotwBodies.get(key);
  if (!body) {
    body = Buffer.concat([stringField(1, version), ...resources.map(sotwEntry), stringField(4, typeUrl)]);
    if (sotwBodies.size >= MAX_CACHED_BODIES) sotwBodies.delete(sotwBodies.keys().next().value!);
    sotwBodies.set(key, body);
  }
  return Buffer.concat([body, stringField(5, nonce)]);
}

/** DeltaDiscoveryResponse: system_version_info = 1, resources = 2, type_url = 4, nonce = 5, removed_resources = 6. */
export function encodeDeltaDiscoveryResponse(systemVersion: string, resources: readonly EncodableResource[], typeUrl: string, removed: readonly string[], nonce: string): Buffer {
  return Buffer.concat([stringField(1, systemVersion), ...resources.map(deltaEntry), stringField(4, typeUrl), stringField(5, nonce), ...removed.map((name) => stringField(6, name))]);
}
