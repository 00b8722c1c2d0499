// The mini-CP's state: meshes and Dataplane resources, in memory and, with a
// file, persisted after every change (write to a temp file, fsync, rename),
// so a crash mid-write leaves the previous state intact.
import { EventEmitter } from 'node:events';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Dataplane } from '../dataplane/types.js';
import { validateDataplane } from '../dataplane/validate.js';
import { UserError, formatFieldErrors } from '../util/errors.js';

/**
 * Who created a Dataplane: the API (kept until deleted), a proxy's own
 * bootstrap (removed when it disconnects), or KDS (a zone's Dataplane on the
 * global, kept in step with that zone).
 */
export type Origin = 'api' | 'proxy' | 'kds';

/** A mesh-scoped policy of any type (MeshAccessLog, MeshMetric, ...): the store keeps its spec as given. */
export interface StoredPolicy {
  type: string;
  mesh: string;
  name: string;
  labels?: Record<string, string>;
  spec: Record<string, unknown>;
  creationTime?: string;
  modificationTime?: string;
}

/** A change to a mesh or a policy (Dataplanes have their own, richer, change events). */
export interface ResourceChange {
  kind: 'mesh' | 'policy';
  type: string;
  mesh: string;
  name: string;
}

export interface StoredDataplane {
  dataplane: Dataplane;
  origin: Origin;
}

export interface StoreChange {
  mesh: string;
  name: string;
  before: Dataplane | undefined;
  after: Dataplane | undefined;
}

interface FileState {
  version: 1;
  meshes: string[];
  dataplanes: StoredDataplane[];
  /** Labels of meshes that have any (e.g. kuma.io/origin on a zone); absent in older files. */
  meshLabels?: Record<string, Record<string, string>>;
  policies?: StoredPolicy[];
}

const policyKey = (type: string, mesh: string, name: string): string => `${type}/${mesh}/${name}`;
const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());

export const dataplaneKey = (mesh: string, name: string): string => `${mesh}.${name}`;

export class Store {
  private readonly events = new EventEmitter();
  private writing: Promise<void> = Promise.resolve();
  /** A write that has not started yet: changes made now ride on it. */
  private queued: Promise<void> | undefined;

  private readonly meshLabelMap = new Map<string, Record<string, string>>();
  private readonly policies = new Map<string, StoredPolicy>();

  private constructor(
    private readonly file: string | undefined,
    private readonly meshSet: Set<string>,
    private readonly dataplanes: Map<string, StoredDataplane>,
  ) {}

  /** Opens the store; with `file`, loads it when it exists (every stored Dataplane is validated again). */
  static async open(file: string | undefined, initialMeshes: readonly string[] = ['default']): Promise<Store> {
    const meshes = new Set(initialMeshes);
    const dataplanes = new Map<string, StoredDataplane>();
    let loadedLabels: FileState['meshLabels'];
    let loadedPolicies: FileState['policies'];
    if (file) {
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`--store-file ${file} cannot be read: ${(err as Error).message}`);
      }
      if (text !== undefined) {
        let state: FileState;
        try {
          state = JSON.parse(text) as FileState;
        } catch (err) {
          throw new UserError(`--store-file ${file} is not valid JSON (${(err as Error).message}); move it away to start with an empty store`);
        }
        if (state.version !== 1 || !Array.isArray(state.meshes) || !Array.isArray(state.dataplanes)) {
          throw new UserError(`--store-file ${file} is not a kuma-mini-cp store (expected {version: 1, meshes, dataplanes})`);
        }
        for (const mesh of state.meshes) meshes.add(mesh);
        for (const [i, entry] of state.dataplanes.entries()) {
          const errors = validateDataplane(entry.dataplane);
          if (errors.length > 0) throw new UserError(`--store-file ${file}: dataplanes[${i}] is invalid: ${formatFieldErrors(errors)}`);
          dataplanes.set(dataplaneKey(entry.dataplane.mesh, entry.dataplane.name), {
            dataplane: entry.dataplane,
            origin: entry.origin === 'proxy' || entry.origin === 'kds' ? entry.origin : 'api',
          });
        }
        loadedLabels = state.meshLabels;
        loadedPolicies = state.policies;
      }
    }
    const store = new Store(file, meshes, dataplanes);
    for (const [mesh, labels] of Object.entries(loadedLabels ?? {})) if (meshes.has(mesh)) store.meshLabelMap.set(mesh, { ...labels });
    for (const [i, policy] of (loadedPolicies ?? []).entries()) {
      if (typeof policy?.type !== 'string' || typeof policy.mesh !== 'string' || typeof policy.name !== 'string' || typeof policy.spec !== 'object')
        throw new UserError(`--store-file ${file}: policies[${i}] is not a policy ({type, mesh, name, spec})`);
      store.policies.set(policyKey(policy.type, policy.mesh, policy.name), policy);
    }
    if (file) await store.persist();
    return store;
  }

  meshes(): string[] {
    return [...this.meshSet].sort();
  }

  hasMesh(mesh: string): boolean {
    return this.meshSet.has(mesh);
  }

  /** Creates a mesh (or replaces its labels); true when it did not exist. */
  async addMesh(mesh: string, labels?: Record<string, string>): Promise<boolean> {
    const existed = this.meshSet.has(mesh);
    if (existed && (labels === undefined || sameLabels(labels, this.meshLabelMap.get(mesh)))) return false;
    this.meshSet.add(mesh);
    if (labels && Object.keys(labels).length > 0) this.meshLabelMap.set(mesh, { ...labels });
    else if (labels) this.meshLabelMap.delete(mesh);
    await this.persist();
    this.emitResource({ kind: 'mesh', type: 'Mesh', mesh, name: mesh });
    return !existed;
  }

  meshLabels(mesh: string): Record<string, string> | undefined {
    return this.meshLabelMap.get(mesh);
  }

  /** Removes a mesh and its policies (its Dataplanes stay until they are deleted, as proxies may still run). */
  async deleteMesh(mesh: string): Promise<boolean> {
    if (!this.meshSet.delete(mesh)) return false;
    this.meshLabelMap.delete(mesh);
    const gone = [...this.policies.values()].filter((p) => p.mesh === mesh);
    for (const p of gone) this.policies.delete(policyKey(p.type, p.mesh, p.name));
    await this.persist();
    for (const p of gone) this.emitResource({ kind: 'policy', type: p.type, mesh: p.mesh, name: p.name });
    this.emitResource({ kind: 'mesh', type: 'Mesh', mesh, name: mesh });
    return true;
  }

  getPolicy(type: string, mesh: string, name: string): StoredPolicy | undefined {
    return this.policies.get(policyKey(type, mesh, name));
  }

  /** Policies of one type and/or mesh (all when neither is given), sorted by type, mesh and name. */
  listPolicies(filter: { type?: string; mesh?: string } = {}): StoredPolicy[] {
    return [...this.policies.values()]
      .filter((p) => (filter.type === undefined || p.type === filter.type) && (filter.mesh === undefined || p.mesh === filter.mesh))
      .sort((a, b) => policyKey(a.type, a.mesh, a.name).localeCompare(policyKey(b.type, b.mesh, b.name)));
  }

  /** Creates or replaces a policy (the caller has validated it); an identical one changes nothing. */
  async putPolicy(policy: StoredPolicy): Promise<{ created: boolean; changed: boolean }> {
    const key = policyKey(policy.type, policy.mesh, policy.name);
    const previous = this.policies.get(key);
    const given: StoredPolicy = {
      type: policy.type,
      mesh: policy.mesh,
      name: policy.name,
      ...(policy.labels ? { labels: policy.labels } : {}),
      spec: policy.spec,
    };
    if (previous) {
      const before: StoredPolicy = {
        type: previous.type,
        mesh: previous.mesh,
        name: previous.name,
        ...(previous.labels ? { labels: previous.labels } : {}),
        spec: previous.spec,
      };
      if (JSON.stringify(before) === JSON.stringify(given)) return { created: false, changed: false };
    }
    const now = new Date().toISOString();
    this.policies.set(key, { ...given, creationTime: previous?.creationTime ?? now, modificationTime: now });
    await this.persist();
    this.emitResource({ kind: 'policy', type: policy.type, mesh: policy.mesh, name: policy.name });
    return { created: previous === undefined, changed: true };
  }

  async deletePolicy(type: string, mesh: string, name: string): Promise<boolean> {
    if (!this.policies.delete(policyKey(type, mesh, name))) return false;
    await this.persist();
    this.emitResource({ kind: 'policy', type, mesh, name });
    return true;
  }

  onResourceChange(listener: (change: ResourceChange) => void): () => void {
    this.events.on('resource', listener);
    return () => this.events.off('resource', listener);
  }

  private emitResource(change: ResourceChange): void {
    this.events.emit('resource', change);
  }

  get(mesh: string, name: string): StoredDataplane | undefined {
    return this.dataplanes.get(dataplaneKey(mesh, name));
  }

  list(mesh?: string): Dataplane[] {
    const all = [...this.dataplanes.values()].map((s) => s.dataplane);
    return (mesh === undefined ? all : all.filter((dp) => dp.mesh === mesh)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  size(): number {
    return this.dataplanes.size;
  }

  /**
   * Creates or replaces a Dataplane (the caller has validated it). An
   * identical resource changes nothing and notifies no one.
   */
  async put(dp: Dataplane, origin: Origin): Promise<{ created: boolean; changed: boolean }> {
    const key = dataplaneKey(dp.mesh, dp.name);
    const previous = this.dataplanes.get(key);
    const now = new Date().toISOString();
    const { creationTime: _c, modificationTime: _m, ...spec } = dp;
    if (previous) {
      const { creationTime: _pc, modificationTime: _pm, ...previousSpec } = previous.dataplane;
      if (JSON.stringify(previousSpec) === JSON.stringify(spec)) {
        // An API write takes ownership of a proxy-registered Dataplane.
        if (origin === 'api' && previous.origin === 'proxy') {
          previous.origin = 'api';
          await this.persist();
        }
        return { created: false, changed: false };
      }
    }
    const stored: Dataplane = { ...spec, creationTime: previous?.dataplane.creationTime ?? now, modificationTime: now } as Dataplane;
    this.dataplanes.set(key, { dataplane: stored, origin: previous?.origin === 'api' ? 'api' : origin });
    await this.persist();
    this.emit({ mesh: dp.mesh, name: dp.name, before: previous?.dataplane, after: stored });
    return { created: previous === undefined, changed: true };
  }

  async delete(mesh: string, name: string): Promise<boolean> {
    const key = dataplaneKey(mesh, name);
    const previous = this.dataplanes.get(key);
    if (!previous) return false;
    this.dataplanes.delete(key);
    await this.persist();
    this.emit({ mesh, name, before: previous.dataplane, after: undefined });
    return true;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /** Resolves once every write so far has reached the disk. */
  flushed(): Promise<void> {
    return this.writing;
  }

  private emit(change: StoreChange): void {
    this.events.emit('change', change);
  }

  /**
   * Resolves once the current state is on disk. Writes never overlap, and
   * changes that arrive while one is under way share the next one, so a burst
   * of registrations costs a few writes, not one per Dataplane.
   */
  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    if (this.queued) return this.queued;
    const queued = this.writing
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined; // from here on, a change needs the next write
        const state: FileState = {
          version: 1,
          meshes: this.meshes(),
          dataplanes: [...this.dataplanes.values()],
          meshLabels: Object.fromEntries(this.meshLabelMap),
          policies: [...this.policies.values()],
        };
        return writeAtomically(file, JSON.stringify(state, null, 2) + '\n');
      });
    this.queued = queued;
    this.writing = queued;
    return queued;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  // The rename itself is durable only once the directory is synced.
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
