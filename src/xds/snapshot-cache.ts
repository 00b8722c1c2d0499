// The versioned snapshot cache between a generator and the ADS server, as
// go-control-plane separates them: the generator set()s each proxy's
// resources, the cache versions them per type and tells its listeners which
// types of which proxy moved; the server reads snapshots and watches proxies
// (a proxy is watched while it has an open stream). It knows nothing of how
// resources are made.
import { createHash } from 'node:crypto';
import type { AnyMessage } from './ads-proto.js';

/** One encoded resource; `version` changes whenever its bytes do. */
export interface Resource {
  name: string;
  version: string;
  any: AnyMessage;
  /** The resource as JSON, for the API's view of what a proxy ACKed. */
  json: unknown;
}

export type ResourceSet = Map<string, Resource>;

export interface Snapshot {
  /** type URL → resources by name. */
  resources: Map<string, ResourceSet>;
  /** type URL → version of that type's set. */
  versions: Map<string, string>;
}

export type UpdateListener = (proxyId: string, changedTypes: Set<string>) => void;

/** A version over a set of resources: changes whenever a member, or a member's version, does. */
export function versionOf(resources: Iterable<{ name: string; version: string }>): string {
  const parts = [...resources].map((r) => `${r.name}=${r.version}`).sort();
  return parts.length === 0 ? 'empty' : createHash('sha256').update(parts.join('\n')).digest('base64url').slice(0, 16);
}

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watched = new Map<string, number>();
  private readonly listeners = new Set<UpdateListener>();
  private readonly missListeners = new Set<(proxyId: string) => void>();
  /** Sets shared between snapshots (and kept unchanged) get their version computed once. */
  private readonly setVersions = new WeakMap<ResourceSet, string>();
  private filling: string | undefined;

  /** Told about every change of a watched proxy's snapshot, with the types whose version moved. */
  onUpdate(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Told when a watched proxy has no snapshot yet, as it is asked for: the generator set()s it then, if it can. */
  onMiss(listener: (proxyId: string) => void): () => void {
    this.missListeners.add(listener);
    return () => this.missListeners.delete(listener);
  }

  watch(proxyId: string): void {
    this.watched.set(proxyId, (this.watched.get(proxyId) ?? 0) + 1);
  }

  /** The last watcher gone, the proxy's snapshot is dropped (a proxy that comes back is generated afresh). */
  unwatch(proxyId: string): void {
    const count = (this.watched.get(proxyId) ?? 1) - 1;
    if (count > 0) {
      this.watched.set(proxyId, count);
      return;
    }
    this.watched.delete(proxyId);
    this.snapshots.delete(proxyId);
  }

  isWatched(proxyId: string): boolean {
    return this.watched.has(proxyId);
  }

  /** The proxy's snapshot, or undefined while there is nothing to send it yet. */
  get(proxyId: string): Snapshot | undefined {
    const cached = this.snapshots.get(proxyId);
    if (cached || !this.watched.has(proxyId)) return cached;
    // Filled while it is being asked for: the asker sends it, no update to announce.
    this.filling = proxyId;
    try {
      for (const listener of this.missListeners) listener(proxyId);
    } finally {
      this.filling = undefined;
    }
    return this.snapshots.get(proxyId);
  }

  /** Sets a watched proxy's resources (others are not kept); listeners hear of the types whose version moved. */
  set(proxyId: string, resources: Map<string, ResourceSet>): void {
    if (!this.watched.has(proxyId)) return;
    const before = this.snapshots.get(proxyId);
    const versions = new Map([...resources].map(([type, set]) => [type, this.versionOfSet(set)]));
    this.snapshots.set(proxyId, { resources, versions });
    const changed = new Set<string>();
    for (const type of new Set([...versions.keys(), ...(before?.versions.keys() ?? [])])) {
      if (before?.versions.get(type) !== versions.get(type)) changed.add(type);
    }
    if (changed.size > 0 && this.filling !== proxyId) for (const listener of this.listeners) listener(proxyId, changed);
  }

  private versionOfSet(set: ResourceSet): string {
    let version = this.setVersions.get(set);
    if (version === undefined) this.setVersions.set(set, (version = versionOf(set.values())));
    return version;
  }
}
