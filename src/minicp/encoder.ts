// Resources as the snapshot cache holds them: encoded once (every resource goes
// through the strict encoder, so nothing invalid reaches a proxy), versioned by
// a hash of their bytes, and shared between proxies when identical.
import { createHash } from 'node:crypto';
import type { EnvoyResource } from '../render/resources.js';
import { typeNameOf } from '../xds/ads-proto.js';
import type { Resource } from '../xds/snapshot-cache.js';

export type Encode = (json: EnvoyResource, typeName: string) => Uint8Array;

const hash = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('base64url').slice(0, 16);

export class ResourceEncoder {
  private readonly encoded = new Map<string, Resource>();

  constructor(private readonly encode: Encode) {}

  /** Encodes (and so validates) a resource once; identical resources share one encoding. */
  resource(typeUrl: string, name: string, json: EnvoyResource): Resource {
    const key = `${typeUrl}\n${JSON.stringify(json)}`;
    const hit = this.encoded.get(key);
    if (hit) return hit;
    const bytes = this.encode(json, typeNameOf(typeUrl));
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const resource: Resource = { name, version: hash(value), any: { type_url: typeUrl, value }, json };
    this.encoded.set(key, resource);
    return resource;
  }

  /** Drops encodings not in `live`, once the cache has grown well past what is live. */
  sweep(live: () => Set<Resource>, liveCount: number): void {
    if (this.encoded.size < 2 * liveCount + 1000) return;
    const keep = live();
    for (const [key, resource] of this.encoded) if (!keep.has(resource)) this.encoded.delete(key);
  }
}
