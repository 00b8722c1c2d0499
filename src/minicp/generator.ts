// The generator: store → each proxy's resources, written into the snapshot
// cache (src/xds/snapshot-cache.ts), which versions them and tells the ADS
// server what moved. As go-control-plane separates them: this module knows
// Kuma's resources and nothing of streams; the cache knows versions and
// nothing of Kuma.
//
// Where resources are made:
//   - proxyResources(): a proxy's own listeners and clusters, from its
//     Dataplane (inbounds, outbounds) and the shared templates (src/render/);
//     rebuilt only when that Dataplane changes (or a provider changes the
//     protocol of a service it consumes).
//   - loadAssignment(): one ClusterLoadAssignment per service and mesh, shared
//     by every proxy that consumes the service.
// MeshAccessLog (meshaccesslog-plugin.ts) is applied in ownResources(), to the
// listeners it changes. A new policy (MeshMetric, ...) adds its generation to
// proxyResources() — as a filter on the listeners it changes, or extra
// clusters — and, if it is stored apart from Dataplanes, makes onStoreChange()
// mark the proxies it selects as pending so they are rebuilt. Everything
// generated passes through the ResourceEncoder (strict encoding, dedup).
import { outboundService, PROTOCOL_TAG, SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { createLogger } from '../log/logger.js';
import { inboundResources, loadAssignment, outboundResources, serviceEndpoints, type EnvoyResource } from '../render/resources.js';
import type { Templates } from '../render/templates.js';
import { TYPE_URL } from '../xds/ads-proto.js';
import type { Resource, ResourceSet, SnapshotCache } from '../xds/snapshot-cache.js';
import { serviceOf } from './bootstrap.js';
import { ResourceEncoder, type Encode } from './encoder.js';
import { checkMeshAccessLogSpec, MESH_ACCESS_LOG, type MeshAccessLog } from './meshaccesslog.js';
import { applyMeshAccessLogs } from './meshaccesslog-plugin.js';
import { dataplaneKey, type Store, type StoreChange } from './store.js';

const log = createLogger('minicp.generator');

export interface GeneratorOptions {
  store: Store;
  templates: Templates;
  encode: Encode;
  cache: SnapshotCache;
  /** Store changes within this window are generated together. */
  debounceMs?: number;
  /** Resources a proxy gets beside those of its Dataplane (MeshMetric, dynamic configuration), given its work dir ('' until known). */
  extra?: (dp: Dataplane, workdir: string) => { listeners: EnvoyResource[]; clusters: EnvoyResource[] };
}

interface OwnResources {
  mesh: string;
  listeners: ResourceSet;
  clusters: ResourceSet;
  services: string[];
}

const serviceKey = (mesh: string, service: string): string => `${mesh}/${service}`;

export class Generator {
  private readonly encoder: ResourceEncoder;
  private readonly own = new Map<string, OwnResources>();
  private readonly loadAssignments = new Map<string, Resource>();
  private readonly protocols = new Map<string, string>();
  private readonly consumers = new Map<string, Set<string>>();
  /** Proxies that consume the same services share one endpoint set (and its version). */
  private readonly endpointSets = new Map<string, ResourceSet>();
  private pendingProxies = new Set<string>();
  private pendingServices = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: Array<() => void>;
  /** Each proxy's work dir, from its node metadata (`workdir`): MeshAccessLog names its access-log pipe there. */
  private readonly workdirs = new Map<string, string>();

  constructor(private readonly opts: GeneratorOptions) {
    this.encoder = new ResourceEncoder(opts.encode);
    this.unsubscribe = [
      opts.store.onChange((change) => this.onStoreChange(change)),
      // A MeshAccessLog change rebuilds the listeners of every proxy in its mesh.
      opts.store.onResourceChange((change) => {
        if (change.kind !== 'policy' || change.type !== MESH_ACCESS_LOG) return;
        for (const dp of opts.store.list(change.mesh)) this.pendingProxies.add(dataplaneKey(change.mesh, dp.name));
        this.timer ??= setTimeout(() => this.flush(), opts.debounceMs ?? 50);
      }),
      // A proxy that connects is served from what was generated when its Dataplane changed.
      opts.cache.onMiss((proxyId) => this.fill(proxyId)),
    ];
    // Configuration is generated when Dataplanes change, not when proxies connect: a reconnecting fleet is served from cache.
    for (const dp of opts.store.list()) this.ownResources(dataplaneKey(dp.mesh, dp.name));
  }

  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
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
    let generated = 0;
    for (const proxyId of affected) {
      if (!this.opts.cache.isWatched(proxyId)) continue;
      const resources = this.proxyResources(proxyId);
      if (!resources) continue; // deleted: the proxy keeps its last configuration, as with Kuma
      generated++;
      this.opts.cache.set(proxyId, resources);
    }
    log.debug('snapshots generated', { changedDataplanes: proxies.size, changedServices: services.size, proxiesGenerated: generated });
    this.sweep();
  }

  /**
   * What a proxy's node metadata says about it, told on each of its streams
   * before it is served: a new work dir (a restarted kuma-dp) rebuilds its
   * listeners so MeshAccessLog names its new pipe.
   */
  proxyWorkdir(proxyId: string, workdir: string | undefined): void {
    if (workdir === undefined || workdir === this.workdirs.get(proxyId)) return;
    this.workdirs.set(proxyId, workdir);
    if (!this.own.has(proxyId)) return;
    this.forget(proxyId);
    if (this.opts.cache.isWatched(proxyId)) this.fill(proxyId);
  }

  private fill(proxyId: string): void {
    const resources = this.proxyResources(proxyId);
    if (resources) this.opts.cache.set(proxyId, resources);
  }

  /** Everything `<mesh>.<name>` gets, by type URL; undefined while the store has no such Dataplane. */
  private proxyResources(proxyId: string): Map<string, ResourceSet> | undefined {
    const own = this.ownResources(proxyId);
    if (!own) return undefined;
    return new Map<string, ResourceSet>([
      [TYPE_URL.cluster, own.clusters],
      [TYPE_URL.endpoint, this.endpointSet(own.mesh, own.services)],
      [TYPE_URL.listener, own.listeners],
    ]);
  }

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

  /** Regenerates these proxies' own resources (a policy they depend on changed), debounced as store changes are. */
  invalidate(proxyIds: Iterable<string>): void {
    for (const proxyId of proxyIds) this.pendingProxies.add(proxyId);
    this.timer ??= setTimeout(() => this.flush(), this.opts.debounceMs ?? 50);
  }

  private onStoreChange(change: StoreChange): void {
    this.pendingProxies.add(dataplaneKey(change.mesh, change.name));
    if (!change.after) this.workdirs.delete(dataplaneKey(change.mesh, change.name));
    for (const dp of [change.before, change.after]) {
      for (const ib of dp?.networking.inbound ?? []) {
        const service = ib.tags?.[SERVICE_TAG];
        if (service) this.pendingServices.add(serviceKey(change.mesh, service));
      }
    }
    this.timer ??= setTimeout(() => this.flush(), this.opts.debounceMs ?? 50);
  }

  private forget(proxyId: string): void {
    const own = this.own.get(proxyId);
    if (own) {
      for (const service of own.services) this.consumers.get(serviceKey(own.mesh, service))?.delete(proxyId);
    }
    this.own.delete(proxyId);
  }

  private dataplane(proxyId: string): Dataplane | undefined {
    const dot = proxyId.indexOf('.');
    if (dot <= 0) return undefined;
    return this.opts.store.get(proxyId.slice(0, dot), proxyId.slice(dot + 1))?.dataplane;
  }

  private ownResources(proxyId: string): OwnResources | undefined {
    const cached = this.own.get(proxyId);
    if (cached) return cached;
    const dp = this.dataplane(proxyId);
    if (!dp) return undefined;
    const { templates } = this.opts;
    const inbound = inboundResources(templates, dp);
    const outbound = outboundResources(templates, dp, { eds: true }, (service) => {
      const protocol = this.protocol(dp.mesh, service);
      return protocol ? { [PROTOCOL_TAG]: protocol } : undefined;
    });
    const services = [...new Set((dp.networking.outbound ?? []).map(outboundService))];
    const extra = this.opts.extra?.(dp, this.workdirs.get(proxyId) ?? '') ?? { listeners: [], clusters: [] };
    const logged = applyMeshAccessLogs(this.meshAccessLogs(dp.mesh), {
      dp,
      inboundListeners: inbound.listeners,
      outboundListeners: outbound.listeners,
      workdir: this.workdirs.get(proxyId) ?? '',
      identity: serviceOf(dp),
    });
    const own: OwnResources = {
      mesh: dp.mesh,
      listeners: this.resourceSet(TYPE_URL.listener, [...logged.inbound, ...logged.outbound, ...extra.listeners]),
      clusters: this.resourceSet(TYPE_URL.cluster, [...inbound.clusters, ...outbound.clusters, ...extra.clusters]),
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

  /** A mesh's MeshAccessLogs; one that came in unchecked (an old store file) and is not valid is left out, with a warning. */
  private meshAccessLogs(mesh: string): MeshAccessLog[] {
    return this.opts.store.listPolicies({ type: MESH_ACCESS_LOG, mesh }).flatMap((p) => {
      const errors = checkMeshAccessLogSpec(p.spec);
      if (errors.length === 0) return [{ mesh: p.mesh, name: p.name, spec: p.spec }];
      log.warn('MeshAccessLog not applied: its spec is invalid', { mesh, name: p.name, errors });
      return [];
    });
  }

  /** The protocol a service's providers declare (for outbounds that carry no tags), '' when none does. */
  private protocol(mesh: string, service: string): string {
    const key = serviceKey(mesh, service);
    let protocol = this.protocols.get(key);
    if (protocol === undefined) {
      protocol = '';
      search: for (const dp of this.opts.store.list(mesh)) {
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
      const { templates, store } = this.opts;
      cla = this.encoder.resource(TYPE_URL.endpoint, service, loadAssignment(templates, service, serviceEndpoints(store.list(mesh), service)));
      this.loadAssignments.set(key, cla);
    }
    return cla;
  }

  private resourceSet(typeUrl: string, jsons: EnvoyResource[]): ResourceSet {
    const set: ResourceSet = new Map();
    for (const json of jsons) {
      const name = json.name as string;
      set.set(name, this.encoder.resource(typeUrl, name, json));
    }
    return set;
  }

  /** Drops encodings no generated resource set uses any more. */
  private sweep(): void {
    let live = this.loadAssignments.size;
    for (const own of this.own.values()) live += own.listeners.size + own.clusters.size;
    this.encoder.sweep(() => {
      const keep = new Set<Resource>(this.loadAssignments.values());
      for (const own of this.own.values()) {
        for (const r of own.listeners.values()) keep.add(r);
        for (const r of own.clusters.values()) keep.add(r);
      }
      return keep;
    }, live);
  }
}
