// The mini-CP's state: meshes and Dataplane resources, in memory and, with a
// file, persisted after every change (write to a temp file, fsync, rename),
// so a crash mid-write leaves the previous state intact.
import { EventEmitter } from 'node:events';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Dataplane } from '../dataplane/types.js';
import { validateDataplane } from '../dataplane/validate.js';
import { UserError, formatFieldErrors } from '../util/errors.js';

/** Who created a Dataplane: the API (kept until deleted) or a proxy's own bootstrap (removed when it disconnects). */
export type Origin = 'api' | 'proxy';

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
}

export const dataplaneKey = (mesh: string, name: string): string => `${mesh}.${name}`;

export class Store {
  private readonly events = new EventEmitter();
  private writing: Promise<void> = Promise.resolve();
  /** A write that has not started yet: changes made now ride on it. */
  private queued: Promise<void> | undefined;

  private constructor(
    private readonly file: string | undefined,
    private readonly meshSet: Set<string>,
    private readonly dataplanes: Map<string, StoredDataplane>,
  ) {}

  /** Opens the store; with `file`, loads it when it exists (every stored Dataplane is validated again). */
  static async open(file: string | undefined, initialMeshes: readonly string[] = ['default']): Promise<Store> {
    const meshes = new Set(initialMeshes);
    const dataplanes = new Map<string, StoredDataplane>();
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
            origin: entry.origin === 'proxy' ? 'proxy' : 'api',
          });
        }
      }
    }
    const store = new Store(file, meshes, dataplanes);
    if (file) await store.persist();
    return store;
  }

  meshes(): string[] {
    return [...this.meshSet].sort();
  }

  hasMesh(mesh: string): boolean {
    return this.meshSet.has(mesh);
  }

  async addMesh(mesh: string): Promise<boolean> {
    if (this.meshSet.has(mesh)) return false;
    this.meshSet.add(mesh);
    await this.persist();
    return true;
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
        const state: FileState = { version: 1, meshes: this.meshes(), dataplanes: [...this.dataplanes.values()] };
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
