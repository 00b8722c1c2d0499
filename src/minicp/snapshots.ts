// What each proxy should have: per-proxy snapshots of listeners, clusters and
// endpoints, built from the store with the shared templates, encoded once
// (every resource goes through the strict encoder) and shared between proxies
// when identical. Changes are debounced and reported per proxy with only the
// types whose version moved, for the ADS server to push.
import { createHash } from 'node:crypto';
import { outboundService, PROTOCOL_TAG, SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { createLogger } from '../log/logger.js';
import { inboundResources, loadAssignment, outboundResources, serviceEndpoints, type EnvoyResource } from '../render/resources.js';
import type { Templates } from '../render/templates.js';
import { TYPE_URL, typeNameOf, type AnyMessage } from '../xds/ads-proto.js';
import { versionOf } from '../xds/ads-server.js';
import { dataplaneKey, type Store, type StoreChange } from './store.js';

const log = createLogger('minicp.snapshots');

export type Encode = (json: EnvoyResource, typeName: string) => Uint8Array;

export interface Resource {
  name: string;
  version: string;
  any: AnyMessage;
  json: EnvoyResource;
}

export type ResourceSet = Map<string, Resource>;

export interface Snapshot {
  resources: Map<string, ResourceSet>;
  versions: Map<string, string>;
}

/** The types a snapshot holds, in the order Envoy wants them pushed (clusters before their endpoints, listeners last). */
export const SNAPSHOT_TYPES = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener] as const;

export type UpdateListener = (proxyId: string, changedTypes: Set<string>) => void;

interface OwnResources {
  mesh: string;
  listeners: ResourceSet;
  clusters: ResourceSet;
  services: string[];
}

const hash = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('base64url').slice(0, 16);

const serviceKey = (mesh: string, service: string): string => `${mesh}/${service}`;

export class SnapshotCache {
  private readonly encoded = new Map<string, Resource>();
  private readonly own = new Map<string, OwnResources>();
  private readonly loadAssignments = new Map<string, Resource>();
  private readonly protocols = new Map<string, string>();
  private readonly consumers = new Map<string, Set<string>>();
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watched = new Map<string, number>();
  private readonly listeners = new Set<UpdateListener>();
  private pendingProxies = new Set<string>();
  private pendingServices = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: Store,
    private readonly templates: Templates,
    private readonly encode: Encode,
    private readonly debounceMs = 50,
  ) {
    this.unsubscribe = store.onChange((change) => this.onStoreChange(change));
    // Configuration is generated when Dataplanes change, not when proxies connect: a reconnecting fleet is served from cache.
    for (const dp of store.list()) this.ownResources(dataplaneKey(dp.mesh, dp.name));
  }

  close(): void {
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  onUpdate(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Proxies with an open stream: only these get updates reported (and their snapshots kept). */
  watch(proxyId: string): void {
    this.watched.set(proxyId, (this.watched.get(proxyId) ?? 0) + 1);
  }

  unwatch(proxyId: string): void {
    const count = (this.watched.get(proxyId) ?? 1) - 1;
    if (count > 0) {
      this.watched.set(proxyId, count);
      return;
    }
    this.watched.delete(proxyId);
    this.snapshots.delete(proxyId);
  }

  /** The snapshot for `<mesh>.<name>`, or undefined while the store has no such Dataplane. */
  get(proxyId: string): Snapshot | undefined {
    const cached = this.snapshots.get(proxyId);
    if (cached) return cached;
    const own = this.ownResources(proxyId);
    if (!own) return undefined;
    const endpoints = this.endpointSet(own.mesh, own.services);
    const resources = new Map<string, ResourceSet>([
      [TYPE_URL.cluster, own.clusters],
      [TYPE_URL.endpoint, endpoints],
      [TYPE_URL.listener, own.listeners],
    ]);
    const versions = new Map([...resources].map(([type, set]) => [type, this.versionOfSet(set)]));
    const snapshot = { resources, versions };
    if (this.watched.has(proxyId)) this.snapshots.set(proxyId, snapshot);
    return snapshot;
  }

  private readonly setVersions = new WeakMap<ResourceSet, string>();
  /** Proxies that consume the same services share one endpoint set (and its version). */
  private readonly endpointSets = new Map<string, ResourceSet>();

  private endpointSet(mesh: string, services: string[]): ResourceSet {
    const key = `${mesh}\n${services.join('\n')}`;
    let set = this.endpointSets.get(key);
    if (!set) {
      set = new Map();
      for (const service of services) {
        const cla = this.loadAssignment(mesh, service);
        set.set(cla.name, cla);
      }
      this.endpointSets.set(key, set);
    }
    return set;
  }

  /** A proxy's own listeners and clusters are rebuilt only when its Dataplane changes: their version is computed once. */
  private versionOfSet(set: ResourceSet): string {
    let version = this.setVersions.get(set);
    if (version === undefined) this.setVersions.set(set, (version = versionOf(set.values())));
    return version;
  }

  /** Applies pending changes now instead of after the debounce (tests, shutdown). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const proxies = this.pendingProxies;
    const services = this.pendingServices;
    this.pendingProxies = new Set();
    this.pendingServices = new Set();
    if (proxies.size === 0 && services.size === 0) return;

    const affected = new Set<string>();
    for (const proxyId of proxies) {
      this.forget(proxyId);
      affected.add(proxyId);
    }
    if (services.size > 0) this.endpointSets.clear();
    for (const key of services) {
      this.loadAssignments.delete(key);
      const consumers = [...(this.consumers.get(key) ?? [])];
      const before = this.protocols.get(key);
      this.protocols.delete(key);
      const slash = key.indexOf('/');
      // A provider changing the service's protocol changes its consumers' outbound listeners too.
      if (before !== undefined && before !== this.protocol(key.slice(0, slash), key.slice(slash + 1))) for (const proxyId of consumers) this.forget(proxyId);
      for (const proxyId of consumers) affected.add(proxyId);
    }
    for (const proxyId of proxies) this.ownResources(proxyId);
    let notified = 0;
    for (const proxyId of affected) {
      if (!this.watched.has(proxyId)) continue;
      const before = this.snapshots.get(proxyId);
      this.snapshots.delete(proxyId);
      const after = this.get(proxyId);
      if (!after) continue; // deleted: the proxy keeps its last configuration, as with Kuma
      const changed = new Set<string>();
      for (const type of SNAPSHOT_TYPES) if (before?.versions.get(type) !== after.versions.get(type)) changed.add(type);
      if (changed.size === 0) continue;
      notified++;
      for (const listener of this.listeners) listener(proxyId, changed);
    }
    log.debug('snapshots updated', { changedDataplanes: proxies.size, changedServices: services.size, proxiesNotified: notified });
    this.sweep();
  }

  private onStoreChange(change: StoreChange): void {
    this.pendingProxies.add(dataplaneKey(change.mesh, change.name));
    for (const dp of [change.before, change.after]) {
      for (const ib of dp?.networking.inbound ?? []) {
        const service = ib.tags?.[SERVICE_TAG];
        if (service) this.pendingServices.add(serviceKey(change.mesh, service));
      }
    }
    this.timer ??= setTimeout(() => this.flush(), this.debounceMs);
  }

  private forget(proxyId: string): void {
    const own = this.own.get(proxyId);
    if (own) {
      for (const service of own.services) this.consumers.get(serviceKey(own.mesh, service))?.delete(proxyId);
    }
    this.own.delete(proxyId);
    this.snapshots.delete(proxyId);
  }

  private dataplane(proxyId: string): Dataplane | undefined {
    const dot = proxyId.indexOf('.');
    if (dot <= 0) return undefined;
    return this.store.get(proxyId.slice(0, dot), proxyId.slice(dot + 1))?.dataplane;
  }

  private ownResources(proxyId: string): OwnResources | undefined {
    const cached = this.own.get(proxyId);
    if (cached) return cached;
    const dp = this.dataplane(proxyId);
    if (!dp) return undefined;
    const inbound = inboundResources(this.templates, dp);
    const outbound = outboundResources(this.templates, dp, { eds: true }, (service) => {
      const protocol = this.protocol(dp.mesh, service);
      return protocol ? { [PROTOCOL_TAG]: protocol } : undefined;
    });
    const services = [...new Set((dp.networking.outbound ?? []).map(outboundService))];
    const own: OwnResources = {
      mesh: dp.mesh,
      listeners: this.resourceSet(TYPE_URL.listener, [...inbound.listeners, ...outbound.listeners]),
      clusters: this.resourceSet(TYPE_URL.cluster, [...inbound.clusters, ...outbound.clusters]),
      services,
    };
    this.own.set(proxyId, own);
    for (const service of services) {
      const key = serviceKey(dp.mesh, service);
      let set = this.consumers.get(key);
      if (!set) this.consumers.set(key, (set = new Set()));
      set.add(proxyId);
    }
    return own;
  }

  /** The protocol a service's providers declare (for outbounds that carry no tags), '' when none does. */
  private protocol(mesh: string, service: string): string {
    const key = serviceKey(mesh, service);
    let protocol = this.protocols.get(key);
    if (protocol === undefined) {
      protocol = '';
      search: for (const dp of this.store.list(mesh)) {
        for (const ib of dp.networking.inbound ?? []) {
          if (ib.tags?.[SERVICE_TAG] === service && ib.tags[PROTOCOL_TAG]) {
            protocol = ib.tags[PROTOCOL_TAG];
            break search;
          }
        }
      }
      this.protocols.set(key, protocol);
    }
    return protocol;
  }

  private loadAssignment(mesh: string, service: string): Resource {
    const key = serviceKey(mesh, service);
    let cla = this.loadAssignments.get(key);
    if (!cla) {
      cla = this.resource(TYPE_URL.endpoint, service, loadAssignment(this.templates, service, serviceEndpoints(this.store.list(mesh), service)));
      this.loadAssignments.set(key, cla);
    }
    return cla;
  }

  private resourceSet(typeUrl: string, jsons: EnvoyResource[]): ResourceSet {
    const set: ResourceSet = new Map();
    for (const json of jsons) {
      const name = json.name as string;
      set.set(name, this.resource(typeUrl, name, json));
    }
    return set;
  }

  /** Encodes (and so validates) a resource once; identical resources share one encoding. */
  private resource(typeUrl: string, name: string, json: EnvoyResource): Resource {
    const key = `${typeUrl}\n${JSON.stringify(json)}`;
    const hit = this.encoded.get(key);
    if (hit) return hit;
    const bytes = this.encode(json, typeNameOf(typeUrl));
    const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const resource: Resource = { name, version: hash(value), any: { type_url: typeUrl, value }, json };
    this.encoded.set(key, resource);
    return resource;
  }

  /** Drops encodings no cached snapshot uses any more, once the cache has grown well past what is live. */
  private sweep(): void {
    let live = this.loadAssignments.size;
    for (const own of this.own.values()) live += own.listeners.size + own.clusters.size;
    if (this.encoded.size < 2 * live + 1000) return;
    const keep = new Set<Resource>(this.loadAssignments.values());
    for (const own of this.own.values()) {
      for (const r of own.listeners.values()) keep.add(r);
      for (const r of own.clusters.values()) keep.add(r);
    }
    for (const [key, resource] of this.encoded) if (!keep.has(resource)) this.encoded.delete(key);
  }
}
