// KDS on the mini-CP's store: what each side sends and how it applies what it
// receives: meshes and policies (any type) flow global → zones, Dataplanes and
// their insights zone → global. Synced resources carry Kuma's labels
// (kuma.io/origin, kuma.io/zone, kuma.io/display-name); on the global a zone's
// Dataplane is named <zone>.<name>.
import type { Dataplane } from '../dataplane/types.js';
import { resourceKey, versionOf, type GlobalStore, type KdsResource, type ZoneStore } from '../kds/resources.js';
import { checkDataplane } from './resource.js';
import { DISPLAY_NAME_LABEL, ORIGIN_GLOBAL, ORIGIN_LABEL, ORIGIN_ZONE, ZONE_LABEL, globalNameOf } from './mode.js';
import type { Store } from './store.js';
import { checkMeshMetrics } from './mesh-metrics.js';
import { isObject } from '../util/document.js';
import type { FieldError } from '../util/errors.js';

export const MESH_TYPE = 'Mesh';
export const DATAPLANE_TYPE = 'Dataplane';
export const DATAPLANE_INSIGHT_TYPE = 'DataplaneInsight';

const fromGlobal = (labels: Record<string, string> | undefined): boolean => labels?.[ORIGIN_LABEL] === ORIGIN_GLOBAL;

function parseKey(key: string): { type: string; mesh: string; name: string } | undefined {
  const first = key.indexOf('/');
  const second = key.indexOf('/', first + 1);
  if (first <= 0 || second < 0) return undefined;
  return { type: key.slice(0, first), mesh: key.slice(first + 1, second), name: key.slice(second + 1) };
}

const withKeys = (resources: KdsResource[]): Map<string, KdsResource> => new Map(resources.map((r) => [resourceKey(r), r]));

// ---- global → zones ----------------------------------------------------------------

/** A Mesh's spec as KDS carries it: the fields the store keeps beside its labels. */
function meshSpec(store: Store, mesh: string): Record<string, unknown> {
  const metrics = store.meshMetrics(mesh);
  return metrics ? { metrics } : {};
}

/** Every mesh and policy on the global, labelled as coming from it. */
export function globalResources(store: Store): Map<string, KdsResource> {
  const out: KdsResource[] = [];
  for (const mesh of store.meshes())
    out.push({ type: MESH_TYPE, mesh: '', name: mesh, labels: { ...store.meshLabels(mesh), [ORIGIN_LABEL]: ORIGIN_GLOBAL }, spec: meshSpec(store, mesh) });
  for (const p of store.listPolicies())
    out.push({ type: p.type, mesh: p.mesh, name: p.name, labels: { ...p.labels, [ORIGIN_LABEL]: ORIGIN_GLOBAL }, spec: p.spec });
  return withKeys(out);
}

/** What a zone holds from the global (for its first request after a (re)connect): the same resources, read back from its store. */
export function zoneHeldFromGlobal(store: Store): Record<string, string> {
  const held: KdsResource[] = [];
  for (const mesh of store.meshes()) {
    const labels = store.meshLabels(mesh);
    if (fromGlobal(labels)) held.push({ type: MESH_TYPE, mesh: '', name: mesh, labels: { ...labels }, spec: meshSpec(store, mesh) });
  }
  for (const p of store.listPolicies())
    if (fromGlobal(p.labels)) held.push({ type: p.type, mesh: p.mesh, name: p.name, labels: { ...p.labels }, spec: p.spec });
  return Object.fromEntries(held.map((r) => [resourceKey(r), versionOf(r)]));
}

/** Applies the global's meshes and policies on a zone; returns what could not be applied. Never removes what the zone made itself. */
export async function applyOnZone(store: Store, resources: KdsResource[], removed: string[]): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  // Meshes first: a policy needs its mesh; removals of policies before their mesh.
  const ordered = [...resources].sort((a, b) => Number(b.type === MESH_TYPE) - Number(a.type === MESH_TYPE));
  for (const r of ordered) {
    if (r.type === MESH_TYPE) {
      const problems = checkMeshMetrics(r.spec.metrics, 'spec.metrics');
      if (problems.length > 0) errors.push(...problems.map((p) => ({ field: `${resourceKey(r)}: ${p.field}`, message: p.message })));
      else await store.addMesh(r.name, r.labels, isObject(r.spec.metrics) ? r.spec.metrics : undefined);
    } else if (r.type === DATAPLANE_TYPE || r.type === DATAPLANE_INSIGHT_TYPE)
      errors.push({ field: resourceKey(r), message: 'zones do not take Dataplanes from the global' });
    else if (!store.hasMesh(r.mesh)) errors.push({ field: resourceKey(r), message: `mesh '${r.mesh}' does not exist here` });
    else await store.putPolicy({ type: r.type, mesh: r.mesh, name: r.name, labels: r.labels, spec: r.spec });
  }
  const keys = removed.map((key) => ({ key, parsed: parseKey(key) }));
  for (const { key, parsed } of keys.sort((a, b) => Number(a.parsed?.type === MESH_TYPE) - Number(b.parsed?.type === MESH_TYPE))) {
    if (!parsed) {
      errors.push({ field: key, message: 'is not <type>/<mesh>/<name>' });
      continue;
    }
    if (parsed.type === MESH_TYPE) {
      if (fromGlobal(store.meshLabels(parsed.name))) await store.deleteMesh(parsed.name);
    } else if (fromGlobal(store.getPolicy(parsed.type, parsed.mesh, parsed.name)?.labels)) {
      await store.deletePolicy(parsed.type, parsed.mesh, parsed.name);
    }
  }
  return errors;
}

// ---- zones → global ----------------------------------------------------------------

/** A Dataplane as its zone sends it: networking (and metrics, probes) as spec, Kuma's zone labels. */
function dataplaneResource(dp: Dataplane, zone: string): KdsResource {
  const spec: Record<string, unknown> = { networking: dp.networking };
  if (dp.metrics) spec.metrics = dp.metrics;
  if (dp.probes) spec.probes = dp.probes;
  return { type: DATAPLANE_TYPE, mesh: dp.mesh, name: dp.name, labels: { ...dp.labels, [ORIGIN_LABEL]: ORIGIN_ZONE, [ZONE_LABEL]: zone }, spec };
}

/** Everything a zone reports to the global: its Dataplanes and, for each, its insight (ADS subscriptions). */
export function zoneResources(store: Store, zone: string, insightOf: (dp: Dataplane) => Record<string, unknown> | undefined): Map<string, KdsResource> {
  const out: KdsResource[] = [];
  for (const dp of store.list()) {
    out.push(dataplaneResource(dp, zone));
    const insight = insightOf(dp);
    if (insight) out.push({ type: DATAPLANE_INSIGHT_TYPE, mesh: dp.mesh, name: dp.name, labels: {}, spec: insight });
  }
  return withKeys(out);
}

/**
 * A zone's Dataplanes and insights as the global keeps them. Dataplanes live
 * in the store (named <zone>.<name>); insights only in memory, as the zone
 * sends them again after every reconnect.
 */
export class ZoneState {
  /** zone → resource key → version, for what arrived since this process started. */
  private readonly versions = new Map<string, Map<string, string>>();
  /** `${mesh}/${global name}` → insight. */
  private readonly insights = new Map<string, Record<string, unknown>>();

  constructor(private readonly store: Store) {}

  /** What the global holds for a zone: its stored Dataplanes (versions known only if received by this process) and insights. */
  held(zone: string): Record<string, string> {
    const versions = this.versions.get(zone) ?? new Map<string, string>();
    const held: Record<string, string> = {};
    for (const dp of this.store.list()) {
      if (dp.labels?.[ZONE_LABEL] !== zone || this.store.get(dp.mesh, dp.name)?.origin !== 'kds') continue;
      const key = resourceKey({ type: DATAPLANE_TYPE, mesh: dp.mesh, name: dp.labels[DISPLAY_NAME_LABEL] ?? dp.name });
      held[key] = versions.get(key) ?? '';
    }
    for (const [key, version] of versions) if (key.startsWith(`${DATAPLANE_INSIGHT_TYPE}/`)) held[key] = version;
    return held;
  }

  insight(mesh: string, globalName: string): Record<string, unknown> | undefined {
    return this.insights.get(`${mesh}/${globalName}`);
  }

  /** Applies one zone's update; returns what could not be applied. */
  async apply(zone: string, resources: KdsResource[], removed: string[]): Promise<FieldError[]> {
    const errors: FieldError[] = [];
    let versions = this.versions.get(zone);
    if (!versions) this.versions.set(zone, (versions = new Map<string, string>()));
    for (const r of resources) {
      const key = resourceKey(r);
      const globalName = globalNameOf(zone, r.name);
      if (r.type === DATAPLANE_INSIGHT_TYPE) {
        this.insights.set(`${r.mesh}/${globalName}`, r.spec);
      } else if (r.type === DATAPLANE_TYPE) {
        const checked = checkDataplane({
          ...r.spec,
          type: DATAPLANE_TYPE,
          mesh: r.mesh,
          name: globalName,
          labels: { ...r.labels, [ORIGIN_LABEL]: ORIGIN_ZONE, [ZONE_LABEL]: zone, [DISPLAY_NAME_LABEL]: r.name },
        });
        if (!checked.ok) {
          errors.push(...checked.errors.map((e) => ({ field: `${key}: ${e.field}`, message: e.message })));
          continue;
        }
        if (!this.store.hasMesh(r.mesh)) {
          errors.push({ field: key, message: `mesh '${r.mesh}' does not exist on the global` });
          continue;
        }
        const existing = this.store.get(r.mesh, globalName);
        if (existing && existing.origin !== 'kds') {
          errors.push({ field: key, message: `the global has a Dataplane '${globalName}' of its own` });
          continue;
        }
        await this.store.put(checked.dataplane, 'kds');
      } else {
        errors.push({ field: key, message: `zones report only ${DATAPLANE_TYPE} and ${DATAPLANE_INSIGHT_TYPE}` });
        continue;
      }
      versions.set(key, versionOf(r));
    }
    for (const key of removed) {
      versions.delete(key);
      const parsed = parseKey(key);
      if (!parsed) continue;
      const globalName = globalNameOf(zone, parsed.name);
      if (parsed.type === DATAPLANE_INSIGHT_TYPE || parsed.type === DATAPLANE_TYPE) this.insights.delete(`${parsed.mesh}/${globalName}`);
      if (parsed.type === DATAPLANE_TYPE && this.store.get(parsed.mesh, globalName)?.origin === 'kds') await this.store.delete(parsed.mesh, globalName);
    }
    return errors;
  }

  /** The zone's stream is gone: its proxies' last known subscriptions end now, as far as the global can tell. */
  markZoneOffline(zone: string, at: string): void {
    const prefix = globalNameOf(zone, '');
    for (const [key, insight] of this.insights) {
      if (!key.slice(key.indexOf('/') + 1).startsWith(prefix)) continue;
      const subscriptions = (insight.subscriptions as Array<Record<string, unknown>> | undefined) ?? [];
      const last = subscriptions[subscriptions.length - 1];
      if (last && !last.disconnectTime) this.insights.set(key, { ...insight, subscriptions: [...subscriptions.slice(0, -1), { ...last, disconnectTime: at }] });
    }
    // What this process received may be stale by the time the zone is back: it is sent again, in full.
    this.versions.delete(zone);
  }
}

/** The global's store as KDS sees it. */
export function globalKdsStore(store: Store, zones: ZoneState): GlobalStore {
  return {
    resources: () => globalResources(store),
    onChange: (listener) => store.onResourceChange(listener),
    heldFrom: (zone) => zones.held(zone),
    applyFrom: (zone, resources, removed) => zones.apply(zone, resources, removed),
    zoneOffline: (zone, at) => zones.markZoneOffline(zone, at),
  };
}

/** A zone's store as KDS sees it: Dataplanes and their insights out, meshes and policies in. */
export function zoneKdsStore(
  store: Store,
  zone: string,
  insightOf: (dp: Dataplane) => Record<string, unknown> | undefined,
  configOf: (mesh: string, name: string) => unknown,
): ZoneStore {
  return {
    configOf,
    resources: () => zoneResources(store, zone, insightOf),
    onChange: (listener) => store.onChange(listener),
    heldFromGlobal: () => zoneHeldFromGlobal(store),
    applyFromGlobal: (resources, removed) => applyOnZone(store, resources, removed),
  };
}
