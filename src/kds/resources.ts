// A Kuma resource as KDS carries it, its version, and the delta between what
// one side has and what its peer has (delta xDS's resync rule: the peer names
// the versions it holds, and gets what differs plus the names it must drop).
import { createHash } from 'node:crypto';
import type { FieldError } from '../util/errors.js';
import type { DeltaResponse, KumaResourceMessage } from './proto.js';
import { DocumentError, readJsonDocument } from '../util/document.js';

export interface KdsResource {
  type: string;
  /** '' for resources outside any mesh (Mesh itself). */
  mesh: string;
  name: string;
  labels: Record<string, string>;
  /** Everything else: a Mesh's or policy's settings, a Dataplane's networking, an insight's subscriptions. */
  spec: Record<string, unknown>;
}

/** A resource's KDS name: unique across types and meshes. */
export const resourceKey = (r: Pick<KdsResource, 'type' | 'mesh' | 'name'>): string => `${r.type}/${r.mesh}/${r.name}`;

/** JSON with object keys sorted, so equal resources hash alike whatever order they were built in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

export const versionOf = (r: KdsResource): string =>
  createHash('sha256')
    .update(canonical([r.type, r.mesh, r.name, r.labels, r.spec]))
    .digest('base64url')
    .slice(0, 16);

export const toMessage = (r: KdsResource, version: string): KumaResourceMessage => ({
  type: r.type,
  meta: { name: r.name, mesh: r.mesh, version, labels: r.labels },
  spec_json: JSON.stringify(r.spec),
});

/** Every resource of a delta response, with the field errors of those that are refused (each named by its index). */
export function resourcesOf(response: DeltaResponse): { resources: KdsResource[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const resources: KdsResource[] = [];
  for (const [i, entry] of (response.resources ?? []).entries()) {
    const parsed = fromMessage(entry.resource, `resources[${i}]`);
    errors.push(...parsed.errors);
    if (parsed.resource) resources.push(parsed.resource);
  }
  return { resources, errors };
}

/** A received resource, or what is wrong with it (the receiver NACKs with these). */
export function fromMessage(message: KumaResourceMessage | undefined, where: string): { resource?: KdsResource; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!message?.type) errors.push({ field: `${where}.type`, message: 'is empty' });
  if (!message?.meta?.name) errors.push({ field: `${where}.meta.name`, message: 'is empty' });
  let spec: unknown;
  try {
    // Anyone who reaches KDS can send this: the strict reader bounds it and names what it refuses.
    spec = readJsonDocument(message?.spec_json ?? '');
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    errors.push({ field: err.path ? `${where}.spec_json: ${err.path}` : `${where}.spec_json`, message: err.path ? err.reason : `is ${err.reason}` });
  }
  if (errors.length === 0 && (spec === null || typeof spec !== 'object' || Array.isArray(spec)))
    errors.push({ field: `${where}.spec_json`, message: 'must be a JSON object' });
  if (errors.length > 0 || !message) return { errors };
  return {
    resource: {
      type: message.type,
      mesh: message.meta.mesh ?? '',
      name: message.meta.name,
      labels: { ...message.meta.labels },
      spec: spec as Record<string, unknown>,
    },
    errors,
  };
}

/**
 * What the peer holds, and the responses that bring it to the current state.
 * Starts from the peer's initial_resource_versions; a version the peer does
 * not know ('' included) is sent again.
 */
export class PeerState {
  private readonly known: Map<string, string>;
  private nextNonce = 1;

  constructor(initial: Record<string, string> = {}) {
    this.known = new Map(Object.entries(initial));
  }

  /** The delta from what the peer has to `current`, or undefined when there is none; the peer is then assumed to have it. */
  delta(current: Map<string, KdsResource>, typeUrl: string): DeltaResponse | undefined {
    const resources: DeltaResponse['resources'] = [];
    const removed: string[] = [];
    for (const [key, resource] of current) {
      const version = versionOf(resource);
      if (this.known.get(key) === version) continue;
      resources.push({ name: key, version, resource: toMessage(resource, version) });
      this.known.set(key, version);
    }
    for (const key of [...this.known.keys()]) {
      if (current.has(key)) continue;
      removed.push(key);
      this.known.delete(key);
    }
    if (resources.length === 0 && removed.length === 0) return undefined;
    return { type_url: typeUrl, resources, removed_resources: removed, nonce: String(this.nextNonce++), system_version_info: '' };
  }
}

/** What one side sends: its current resources, and a way to hear that they may have changed. */
export interface KdsSource {
  resources(): Map<string, KdsResource>;
  onChange(listener: () => void): () => void;
}

/** Applies what arrives from the peer; returns what could not be applied (sent back as the NACK's detail). */
export type KdsApply = (resources: KdsResource[], removed: string[]) => Promise<FieldError[]>;

/** The global's view of its store: what it sends every zone, and what it keeps of each zone. */
export interface GlobalStore extends KdsSource {
  /** name → version of what the global holds from a zone (its first request on ZoneToGlobalSync). */
  heldFrom(zone: string): Record<string, string>;
  applyFrom(zone: string, resources: KdsResource[], removed: string[]): Promise<FieldError[]>;
  zoneOffline(zone: string, at: string): void;
}

/** A zone's view of its store: what it reports, what it holds from the global and how it applies the global's updates. */
export interface ZoneStore extends KdsSource {
  heldFromGlobal(): Record<string, string>;
  applyFromGlobal: KdsApply;
  /** The Envoy configuration this zone serves a proxy (for the global's config requests); undefined when it has none. */
  configOf(mesh: string, name: string): unknown;
}
