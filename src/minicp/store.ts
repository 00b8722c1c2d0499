// The mini-CP's state: meshes (with their labels and metrics), Dataplane resources and
// policies of any type, in memory and, with a file, on disk.
//
// Every change is a transaction (update()): it is checked, applied to a
// draft, and committed only once the draft is on disk (temp file, fsync,
// rename, directory fsync). A change that fails its checks, cannot be
// serialized, or cannot be saved leaves memory and disk as they were: they
// always agree. Transactions that arrive while a write is under way share the
// next write, so a burst of registrations costs a few writes, not one each.
//
// The file is read with the strict reader and checked entry by entry; one
// that is not a store is refused with its name and what is wrong, never
// overwritten.
import { EventEmitter } from 'node:events';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Dataplane } from '../dataplane/types.js';
import { validateDataplane, validateMeshName, validateResourceName } from '../dataplane/validate.js';
import { DocumentError, STORE_FILE_LIMITS, childPath, isObject, readJsonDocument } from '../util/document.js';
import { createLogger } from '../log/logger.js';
import { UserError, formatFieldErrors, type FieldError } from '../util/errors.js';
import { checkDataplane } from './resource.js';
import { checkMeshMetrics, type MeshMetrics } from './mesh-metrics.js';

/**
 * Who created a Dataplane: the API (kept until deleted), a proxy's own
 * bootstrap (removed when it disconnects), or KDS (a zone's Dataplane on the
 * global, kept in step with that zone).
 */
export type Origin = 'api' | 'proxy' | 'kds';

export interface StoredDataplane {
  readonly dataplane: Dataplane;
  readonly origin: Origin;
}

export interface StoreChange {
  mesh: string;
  name: string;
  before: Dataplane | undefined;
  after: Dataplane | undefined;
}

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

const log = createLogger('minicp.store');

/** A change refused by its checks: the caller's input is wrong (the API answers 422). */
export class StoreRejection extends Error {
  constructor(
    message: string,
    readonly errors: FieldError[],
  ) {
    super(`${message}: ${formatFieldErrors(errors)}`);
    this.name = 'StoreRejection';
  }
}

/** The store file could not be written; nothing changed (the API answers 503). */
export class StoreWriteError extends Error {
  constructor(file: string, cause: Error) {
    super(`the store file ${file} cannot be written (${(cause as NodeJS.ErrnoException).code ?? cause.message}); nothing was changed`);
    this.name = 'StoreWriteError';
  }
}

/** What a transaction reads and changes; it sees its own changes. Synchronous, so nothing else interleaves. */
export interface StoreTx {
  hasMesh(mesh: string): boolean;
  /** Creates a mesh; with `labels`, replaces its labels and its `metrics` (none when not given). True when it did not exist. */
  addMesh(mesh: string, labels?: Record<string, string>, metrics?: MeshMetrics): boolean;
  /** Removes a mesh and its policies (its Dataplanes stay until they are deleted, as proxies may still run). */
  deleteMesh(mesh: string): boolean;
  get(mesh: string, name: string): StoredDataplane | undefined;
  /** Creates or replaces a Dataplane (checked again here); an identical one changes nothing. */
  put(dp: Dataplane, origin: Origin): { created: boolean; changed: boolean };
  delete(mesh: string, name: string): boolean;
  getPolicy(type: string, mesh: string, name: string): StoredPolicy | undefined;
  /** Creates or replaces a policy (the caller has checked its spec); an identical one changes nothing. */
  putPolicy(policy: StoredPolicy): { created: boolean; changed: boolean };
  deletePolicy(type: string, mesh: string, name: string): boolean;
}

interface State {
  meshes: Set<string>;
  meshLabels: Map<string, Record<string, string>>;
  /** Kuma's Mesh.metrics, as given (checked by checkMeshMetrics). */
  meshMetrics: Map<string, MeshMetrics>;
  dataplanes: Map<string, StoredDataplane>;
  policies: Map<string, StoredPolicy>;
}

const copyState = (state: State): State => ({
  meshes: new Set(state.meshes),
  meshLabels: new Map(state.meshLabels),
  meshMetrics: new Map(state.meshMetrics),
  dataplanes: new Map(state.dataplanes),
  policies: new Map(state.policies),
});

export const dataplaneKey = (mesh: string, name: string): string => `${mesh}.${name}`;
const policyKey = (type: string, mesh: string, name: string): string => `${type}/${mesh}/${name}`;
const sameLabels = (a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean =>
  JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
/** A policy as compared for "unchanged": without the times the store sets. */
const policyIdentity = (p: StoredPolicy): string =>
  JSON.stringify({ type: p.type, mesh: p.mesh, name: p.name, ...(p.labels ? { labels: p.labels } : {}), spec: p.spec });

/** Each stored entry's JSON, computed once when it is stored: a write joins them, and an entry that cannot be serialized is refused alone. */
const serialized = new WeakMap<object, string>();
function serialize(entry: object, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(entry);
  } catch (err) {
    throw new StoreRejection(`${what} cannot be stored`, [{ field: '', message: (err as Error).message }]);
  }
  serialized.set(entry, text);
  return text;
}

/** A Dataplane without the times the store sets. */
function specOf(dp: Dataplane): Omit<Dataplane, 'creationTime' | 'modificationTime'> {
  const spec: Partial<Dataplane> = { ...dp };
  delete spec.creationTime;
  delete spec.modificationTime;
  return spec as Omit<Dataplane, 'creationTime' | 'modificationTime'>;
}
const withoutTimes = (dp: Dataplane): string => JSON.stringify(specOf(dp));

interface Pending {
  run(tx: StoreTx): unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export class Store {
  private readonly events = new EventEmitter();
  private readonly queue: Pending[] = [];
  /** True while drain() runs; cleared by drain itself in the same tick it sees an empty queue, so no change is left waiting. */
  private running = false;
  private draining: Promise<void> = Promise.resolve();
  private written: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string | undefined,
    private state: State,
    private readonly now: () => Date,
  ) {}

  /** Opens the store; with `file`, loads it when it exists (every entry is checked again). */
  static async open(file: string | undefined, initialMeshes: readonly string[] = ['default'], now: () => Date = () => new Date()): Promise<Store> {
    const state: State = { meshes: new Set(initialMeshes), meshLabels: new Map(), meshMetrics: new Map(), dataplanes: new Map(), policies: new Map() };
    if (file) {
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserError(`--store-file ${file} cannot be read: ${(err as Error).message}`);
      }
      if (text !== undefined) loadFile(file, text, state);
    }
    for (const entry of state.dataplanes.values()) serialize(entry, 'Dataplane');
    for (const entry of state.policies.values()) serialize(entry, entry.type);
    const store = new Store(file, state, now);
    if (file) {
      try {
        await writeAtomically(file, store.fileText(state));
      } catch (err) {
        throw new UserError(`--store-file ${file} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    return store;
  }

  meshes(): string[] {
    return [...this.state.meshes].sort();
  }

  hasMesh(mesh: string): boolean {
    return this.state.meshes.has(mesh);
  }

  meshLabels(mesh: string): Record<string, string> | undefined {
    return this.state.meshLabels.get(mesh);
  }

  /** The mesh's `metrics` section as given, or undefined when it has none. */
  meshMetrics(mesh: string): MeshMetrics | undefined {
    return this.state.meshMetrics.get(mesh);
  }

  get(mesh: string, name: string): StoredDataplane | undefined {
    return this.state.dataplanes.get(dataplaneKey(mesh, name));
  }

  list(mesh?: string): Dataplane[] {
    const all = [...this.state.dataplanes.values()].map((s) => s.dataplane);
    return (mesh === undefined ? all : all.filter((dp) => dp.mesh === mesh)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  size(): number {
    return this.state.dataplanes.size;
  }

  getPolicy(type: string, mesh: string, name: string): StoredPolicy | undefined {
    return this.state.policies.get(policyKey(type, mesh, name));
  }

  /** Policies of one type and/or mesh (all when neither is given), sorted by type, mesh and name. */
  listPolicies(filter: { type?: string; mesh?: string } = {}): StoredPolicy[] {
    return [...this.state.policies.values()]
      .filter((p) => (filter.type === undefined || p.type === filter.type) && (filter.mesh === undefined || p.mesh === filter.mesh))
      .sort((a, b) => policyKey(a.type, a.mesh, a.name).localeCompare(policyKey(b.type, b.mesh, b.name)));
  }

  addMesh(mesh: string, labels?: Record<string, string>, metrics?: MeshMetrics): Promise<boolean> {
    return this.update((tx) => tx.addMesh(mesh, labels, metrics));
  }

  deleteMesh(mesh: string): Promise<boolean> {
    return this.update((tx) => tx.deleteMesh(mesh));
  }

  put(dp: Dataplane, origin: Origin): Promise<{ created: boolean; changed: boolean }> {
    return this.update((tx) => tx.put(dp, origin));
  }

  delete(mesh: string, name: string): Promise<boolean> {
    return this.update((tx) => tx.delete(mesh, name));
  }

  putPolicy(policy: StoredPolicy): Promise<{ created: boolean; changed: boolean }> {
    return this.update((tx) => tx.putPolicy(policy));
  }

  deletePolicy(type: string, mesh: string, name: string): Promise<boolean> {
    return this.update((tx) => tx.deletePolicy(type, mesh, name));
  }

  /**
   * Runs `change` as one transaction: it resolves with its result once the
   * change is committed (on disk, then in memory, then announced), or rejects
   * with what `change` threw (StoreRejection for refused input) or with a
   * StoreWriteError, and then nothing changed.
   */
  update<T>(change: (tx: StoreTx) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: change, resolve: (value) => resolve(value as T), reject });
      if (!this.running) {
        this.running = true;
        this.draining = this.drain();
      }
    });
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  onResourceChange(listener: (change: ResourceChange) => void): () => void {
    this.events.on('resource', listener);
    return () => this.events.off('resource', listener);
  }

  /** Resolves once every change so far is committed (or refused). */
  async flushed(): Promise<void> {
    while (this.running) await this.draining;
    await this.written;
  }

  private async drain(): Promise<void> {
    try {
      await this.drainQueue();
    } finally {
      this.running = false;
      // A caller resumed by the last batch may have queued its next change before this line ran
      // (it saw `running` still true and started no drain): pick it up, or it would wait forever.
      if (this.queue.length > 0) {
        this.running = true;
        this.draining = this.drain();
      }
    }
  }

  private async drainQueue(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      const draft = copyState(this.state);
      const done: Array<{ pending: Pending; result: unknown; tx: Transaction }> = [];
      let dirty = false;
      for (const pending of batch) {
        const tx = new Transaction(draft, this.now());
        try {
          const result = pending.run(tx);
          tx.commitTo(draft);
          dirty ||= tx.dirty;
          done.push({ pending, result, tx });
        } catch (err) {
          pending.reject(err);
        }
      }
      if (dirty && this.file) {
        const file = this.file;
        const writing = writeAtomically(file, this.fileText(draft));
        this.written = writing.catch(() => undefined);
        try {
          await writing;
        } catch (err) {
          const failure = new StoreWriteError(file, err as Error);
          for (const { pending } of done) pending.reject(failure);
          continue;
        }
      }
      this.state = draft;
      for (const { pending, result, tx } of done) {
        for (const change of tx.changes) this.announce('change', change);
        for (const change of tx.resourceChanges) this.announce('resource', change);
        pending.resolve(result);
      }
    }
  }

  /** A listener's failure is its own: it must not stop the store from committing. */
  private announce(event: string, change: StoreChange | ResourceChange): void {
    try {
      this.events.emit(event, change);
    } catch (err) {
      log.error('a store change listener failed', { event, mesh: change.mesh, name: change.name, error: err as Error });
    }
  }

  private fileText(state: State): string {
    const lines = (entries: Iterable<object>): string => [...entries].map((entry) => `    ${serialized.get(entry) ?? JSON.stringify(entry)}`).join(',\n');
    return (
      `{\n  "version": 1,\n  "meshes": ${JSON.stringify([...state.meshes].sort())},\n` +
      `  "meshLabels": ${JSON.stringify(Object.fromEntries(state.meshLabels))},\n` +
      `  "meshMetrics": ${JSON.stringify(Object.fromEntries(state.meshMetrics))},\n` +
      `  "dataplanes": [\n${lines(state.dataplanes.values())}\n  ],\n` +
      `  "policies": [\n${lines(state.policies.values())}\n  ]\n}\n`
    );
  }
}

/** One transaction's changes, kept apart from the draft until the transaction has run to its end. */
class Transaction implements StoreTx {
  readonly meshesAdded = new Set<string>();
  readonly meshesDeleted = new Set<string>();
  readonly labels = new Map<string, Record<string, string> | null>();
  readonly metrics = new Map<string, MeshMetrics | null>();
  readonly dataplanes = new Map<string, StoredDataplane | null>();
  readonly policies = new Map<string, StoredPolicy | null>();
  readonly changes: StoreChange[] = [];
  readonly resourceChanges: ResourceChange[] = [];
  dirty = false;

  constructor(
    private readonly base: State,
    private readonly now: Date,
  ) {}

  hasMesh(mesh: string): boolean {
    if (this.meshesDeleted.has(mesh)) return false;
    return this.meshesAdded.has(mesh) || this.base.meshes.has(mesh);
  }

  private meshLabels(mesh: string): Record<string, string> | undefined {
    const own = this.labels.get(mesh);
    return own === null ? undefined : (own ?? this.base.meshLabels.get(mesh));
  }

  private meshMetrics(mesh: string): MeshMetrics | undefined {
    const own = this.metrics.get(mesh);
    return own === null ? undefined : (own ?? this.base.meshMetrics.get(mesh));
  }

  addMesh(mesh: string, labels?: Record<string, string>, metrics?: MeshMetrics): boolean {
    const errors: FieldError[] = [];
    validateMeshName(mesh, 'name', errors);
    if (labels !== undefined) errors.push(...checkMeshMetrics(metrics));
    if (errors.length > 0) throw new StoreRejection('the mesh is not valid', errors);
    const existed = this.hasMesh(mesh);
    const sameMetrics = JSON.stringify(metrics) === JSON.stringify(this.meshMetrics(mesh));
    if (existed && (labels === undefined || (sameLabels(labels, this.meshLabels(mesh)) && sameMetrics))) return false;
    this.meshesDeleted.delete(mesh);
    this.meshesAdded.add(mesh);
    if (labels && Object.keys(labels).length > 0) this.labels.set(mesh, { ...labels });
    else if (labels) this.labels.set(mesh, null);
    if (labels !== undefined) this.metrics.set(mesh, metrics ?? null);
    this.dirty = true;
    this.resourceChanges.push({ kind: 'mesh', type: 'Mesh', mesh, name: mesh });
    return !existed;
  }

  deleteMesh(mesh: string): boolean {
    if (!this.hasMesh(mesh)) return false;
    this.meshesAdded.delete(mesh);
    this.meshesDeleted.add(mesh);
    this.labels.set(mesh, null);
    this.metrics.set(mesh, null);
    const policies = new Map([...this.base.policies, ...this.policies]);
    for (const [key, policy] of policies) {
      if (policy?.mesh !== mesh) continue;
      this.policies.set(key, null);
      this.resourceChanges.push({ kind: 'policy', type: policy.type, mesh, name: policy.name });
    }
    this.dirty = true;
    this.resourceChanges.push({ kind: 'mesh', type: 'Mesh', mesh, name: mesh });
    return true;
  }

  get(mesh: string, name: string): StoredDataplane | undefined {
    const key = dataplaneKey(mesh, name);
    const own = this.dataplanes.get(key);
    return own === null ? undefined : (own ?? this.base.dataplanes.get(key));
  }

  put(dp: Dataplane, origin: Origin): { created: boolean; changed: boolean } {
    const errors = validateDataplane(dp);
    if (errors.length > 0) throw new StoreRejection('the Dataplane is not valid', errors);
    const key = dataplaneKey(dp.mesh, dp.name);
    const previous = this.get(dp.mesh, dp.name);
    if (previous && withoutTimes(previous.dataplane) === withoutTimes(dp)) {
      // An API write takes ownership of a proxy-registered Dataplane.
      if (origin === 'api' && previous.origin === 'proxy') this.setDataplane(key, { dataplane: previous.dataplane, origin: 'api' });
      return { created: false, changed: false };
    }
    const time = this.now.toISOString();
    const stored = { ...specOf(dp), creationTime: previous?.dataplane.creationTime ?? time, modificationTime: time } as Dataplane;
    this.setDataplane(key, { dataplane: stored, origin: previous?.origin === 'api' ? 'api' : origin });
    this.changes.push({ mesh: dp.mesh, name: dp.name, before: previous?.dataplane, after: stored });
    return { created: previous === undefined, changed: true };
  }

  delete(mesh: string, name: string): boolean {
    const previous = this.get(mesh, name);
    if (!previous) return false;
    this.dataplanes.set(dataplaneKey(mesh, name), null);
    this.dirty = true;
    this.changes.push({ mesh, name, before: previous.dataplane, after: undefined });
    return true;
  }

  getPolicy(type: string, mesh: string, name: string): StoredPolicy | undefined {
    const key = policyKey(type, mesh, name);
    const own = this.policies.get(key);
    return own === null ? undefined : (own ?? this.base.policies.get(key));
  }

  putPolicy(policy: StoredPolicy): { created: boolean; changed: boolean } {
    const errors: FieldError[] = [];
    validateMeshName(policy.mesh, 'mesh', errors);
    validateResourceName(policy.name, 'name', errors);
    if (!isObject(policy.spec)) errors.push({ field: 'spec', message: 'must be an object' });
    if (errors.length > 0) throw new StoreRejection(`the ${policy.type} is not valid`, errors);
    const previous = this.getPolicy(policy.type, policy.mesh, policy.name);
    const given: StoredPolicy = {
      type: policy.type,
      mesh: policy.mesh,
      name: policy.name,
      ...(policy.labels ? { labels: policy.labels } : {}),
      spec: policy.spec,
    };
    if (previous && policyIdentity(previous) === policyIdentity(given)) return { created: false, changed: false };
    const time = this.now.toISOString();
    const stored: StoredPolicy = { ...given, creationTime: previous?.creationTime ?? time, modificationTime: time };
    serialize(stored, policy.type); // refused here, alone, when it cannot be written
    this.policies.set(policyKey(policy.type, policy.mesh, policy.name), stored);
    this.dirty = true;
    this.resourceChanges.push({ kind: 'policy', type: policy.type, mesh: policy.mesh, name: policy.name });
    return { created: previous === undefined, changed: true };
  }

  deletePolicy(type: string, mesh: string, name: string): boolean {
    if (!this.getPolicy(type, mesh, name)) return false;
    this.policies.set(policyKey(type, mesh, name), null);
    this.dirty = true;
    this.resourceChanges.push({ kind: 'policy', type, mesh, name });
    return true;
  }

  private setDataplane(key: string, entry: StoredDataplane): void {
    serialize(entry, 'Dataplane'); // refused here, alone, when it cannot be written
    this.dataplanes.set(key, entry);
    this.dirty = true;
  }

  commitTo(draft: State): void {
    for (const mesh of this.meshesDeleted) draft.meshes.delete(mesh);
    for (const mesh of this.meshesAdded) draft.meshes.add(mesh);
    const apply = <V>(changes: Map<string, V | null>, target: Map<string, V>): void => {
      for (const [key, value] of changes) {
        if (value === null) target.delete(key);
        else target.set(key, value);
      }
    };
    apply(this.labels, draft.meshLabels);
    apply(this.metrics, draft.meshMetrics);
    apply(this.dataplanes, draft.dataplanes);
    apply(this.policies, draft.policies);
  }
}

/** Reads the store file into `state`, refusing (with the file's name, the path and a hint) anything that is not a store. */
function loadFile(file: string, text: string, state: State): void {
  const refuse = (path: string, reason: string): never => {
    throw new UserError(
      `--store-file ${file}: ${path ? `${path}: ` : ''}${reason}. It is not a kuma-mini-cp store as written by this version ({"version": 1, "meshes": [...], "dataplanes": [...]}); ` +
        'fix it, or move it away to start with an empty store (kuma-mini-cp never overwrites a store file it cannot read)',
    );
  };
  let doc: unknown;
  try {
    doc = readJsonDocument(text, STORE_FILE_LIMITS);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    return refuse(err.path, err.path ? err.reason : `is ${err.reason}`);
  }
  if (!isObject(doc)) return refuse('', 'is not a JSON object');
  if (doc.version !== 1) return refuse('version', `must be 1, got ${JSON.stringify(doc.version)}`);
  const list = (field: string, optional = false): unknown[] => {
    const value = doc[field];
    if ((value === undefined || value === null) && optional) return [];
    return Array.isArray(value) ? value : refuse(field, 'must be a list');
  };
  const stringMap = (value: unknown, at: string): Record<string, string> | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) return refuse(at, 'must be an object of strings');
    return { ...(value as Record<string, string>) };
  };
  for (const [i, mesh] of list('meshes').entries()) {
    const errors: FieldError[] = [];
    validateMeshName(mesh, childPath('meshes', i), errors);
    if (errors.length > 0) refuse('', formatFieldErrors(errors));
    state.meshes.add(mesh as string);
  }
  const labels = doc.meshLabels;
  if (labels !== undefined && labels !== null) {
    if (!isObject(labels)) refuse('meshLabels', 'must be an object');
    for (const [mesh, value] of Object.entries(labels as Record<string, unknown>)) {
      const map = stringMap(value, childPath('meshLabels', mesh));
      if (map && state.meshes.has(mesh)) state.meshLabels.set(mesh, map);
    }
  }
  const metrics = doc.meshMetrics;
  if (metrics !== undefined && metrics !== null) {
    if (!isObject(metrics)) refuse('meshMetrics', 'must be an object');
    for (const [mesh, value] of Object.entries(metrics as Record<string, unknown>)) {
      const errors = checkMeshMetrics(value, childPath('meshMetrics', mesh));
      if (errors.length > 0) refuse('', formatFieldErrors(errors));
      if (value !== null && state.meshes.has(mesh)) state.meshMetrics.set(mesh, value as MeshMetrics);
    }
  }
  for (const [i, entry] of list('dataplanes').entries()) {
    const at = childPath('dataplanes', i);
    if (!isObject(entry)) return refuse(at, 'must be an object {dataplane, origin}');
    if (entry.origin !== 'api' && entry.origin !== 'proxy' && entry.origin !== 'kds')
      refuse(`${at}.origin`, `must be 'api', 'proxy' or 'kds', got ${JSON.stringify(entry.origin)}`);
    const checked = checkDataplane(entry.dataplane);
    if (!checked.ok) return refuse(`${at}.dataplane`, `is not a valid Dataplane: ${formatFieldErrors(checked.errors)}`);
    const dp = checked.dataplane;
    state.dataplanes.set(dataplaneKey(dp.mesh, dp.name), { dataplane: dp, origin: entry.origin as Origin });
  }
  for (const [i, entry] of list('policies', true).entries()) {
    const at = childPath('policies', i);
    if (!isObject(entry)) return refuse(at, 'must be a policy {type, mesh, name, spec}');
    const { type, mesh, name, spec } = entry;
    if (typeof type !== 'string' || type === '') refuse(`${at}.type`, 'must be a policy type');
    const errors: FieldError[] = [];
    validateMeshName(mesh, `${at}.mesh`, errors);
    validateResourceName(name, `${at}.name`, errors);
    if (errors.length > 0) refuse('', formatFieldErrors(errors));
    if (!isObject(spec)) refuse(`${at}.spec`, 'must be an object');
    const policy: StoredPolicy = {
      type: type as string,
      mesh: mesh as string,
      name: name as string,
      spec: spec as Record<string, unknown>,
      ...(entry.labels !== undefined && entry.labels !== null ? { labels: stringMap(entry.labels, `${at}.labels`) } : {}),
      ...(typeof entry.creationTime === 'string' ? { creationTime: entry.creationTime } : {}),
      ...(typeof entry.modificationTime === 'string' ? { modificationTime: entry.modificationTime } : {}),
    };
    state.policies.set(policyKey(policy.type, policy.mesh, policy.name), policy);
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
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
