// What kuma-cp configures for the components kuma-dp runs beside Envoy, per
// proxy: the MeshMetric policies that select it (merged as Kuma merges
// targetRef policies: broader first, then by name) become a Prometheus
// listener to the metrics socket and the `/meshmetric` document; with
// transparent proxying, the mesh's services get VIPs and a `/dns` document.
// Both documents are served by Envoy's `system_dynamicconfig` listener.
import { SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { dynamicConfigListener, meshMetricPrometheus } from '../render/observability.js';
import type { EnvoyResource } from '../render/resources.js';
import type { FieldError } from '../util/errors.js';
import { metricsHijackerSocketName } from '../util/socket-name.js';
import { registerPolicyType } from './policy-types.js';
import type { Store, StoredPolicy } from './store.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const TARGET_KINDS = ['Mesh', 'MeshSubset', 'MeshService', 'Dataplane'] as const;
const SPECIFICITY: Record<string, number> = { Mesh: 0, MeshSubset: 1, MeshService: 2, Dataplane: 3 };

/** MeshMetric's spec checks: what the generator relies on, each error naming its field. */
export function validateMeshMetric(spec: Obj): FieldError[] {
  const errors: FieldError[] = [];
  for (const key of Object.keys(spec))
    if (key !== 'targetRef' && key !== 'default') errors.push({ field: `spec.${key}`, message: 'unknown field (MeshMetric has targetRef and default)' });
  const ref = spec.targetRef;
  if (ref !== undefined && (!isObj(ref) || !TARGET_KINDS.includes(ref.kind as (typeof TARGET_KINDS)[number])))
    errors.push({ field: 'spec.targetRef.kind', message: `must be one of ${TARGET_KINDS.join(', ')}` });
  const conf = spec.default;
  if (conf === undefined) return errors;
  if (!isObj(conf)) return [...errors, { field: 'spec.default', message: 'must be an object (sidecar, applications, backends)' }];
  const apps = conf.applications;
  if (apps !== undefined) {
    if (!Array.isArray(apps)) errors.push({ field: 'spec.default.applications', message: 'must be a list' });
    else
      apps.forEach((a: unknown, i) => {
        if (!isObj(a) || typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port < 1 || a.port > 65535)
          errors.push({ field: `spec.default.applications[${i}].port`, message: 'must be a port number' });
      });
  }
  const backends = conf.backends;
  if (backends !== undefined) {
    if (!Array.isArray(backends)) errors.push({ field: 'spec.default.backends', message: 'must be a list' });
    else
      backends.forEach((b: unknown, i) => {
        if (!isObj(b) || (b.type !== 'Prometheus' && b.type !== 'OpenTelemetry'))
          errors.push({ field: `spec.default.backends[${i}].type`, message: 'must be Prometheus or OpenTelemetry' });
        const port = isObj(b) && isObj(b.prometheus) ? b.prometheus.port : undefined;
        if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535))
          errors.push({ field: `spec.default.backends[${i}].prometheus.port`, message: 'must be a port number' });
      });
  }
  const profiles = isObj(conf.sidecar) ? conf.sidecar.profiles : undefined;
  if (isObj(profiles) && Array.isArray(profiles.appendProfiles))
    profiles.appendProfiles.forEach((p: unknown, i) => {
      if (!isObj(p) || !['All', 'Basic', 'None'].includes(String(p.name)))
        errors.push({ field: `spec.default.sidecar.profiles.appendProfiles[${i}].name`, message: 'must be All, Basic or None' });
    });
  return errors;
}

registerPolicyType({ type: 'MeshMetric', plural: 'meshmetrics', validate: validateMeshMetric });

function tagsOf(dp: Dataplane): Array<Record<string, string>> {
  return (dp.networking.inbound ?? []).map((ib) => ib.tags ?? {});
}

function selects(policy: StoredPolicy, dp: Dataplane): boolean {
  const ref = isObj(policy.spec.targetRef) ? policy.spec.targetRef : { kind: 'Mesh' };
  const tagsMatch = (want: unknown): boolean => !isObj(want) || tagsOf(dp).some((tags) => Object.entries(want).every(([k, v]) => tags[k] === v));
  switch (ref.kind) {
    case 'Mesh':
      return true;
    case 'MeshSubset':
      return tagsMatch(ref.tags);
    case 'MeshService':
      return tagsOf(dp).some((tags) => tags[SERVICE_TAG] === ref.name);
    case 'Dataplane':
      if (typeof ref.name === 'string') return ref.name === dp.name;
      return isObj(ref.labels) && Object.entries(ref.labels).every(([k, v]) => dp.labels?.[k] === v);
    default:
      return false;
  }
}

/** Objects merge key by key; lists are replaced, except appendProfiles, which add up. */
function merge(into: Obj, from: Obj): Obj {
  const out: Obj = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const current = out[key];
    if (key === 'appendProfiles' && Array.isArray(current) && Array.isArray(value)) out[key] = [...(current as unknown[]), ...(value as unknown[])];
    else if (isObj(current) && isObj(value)) out[key] = merge(current, value);
    else out[key] = value;
  }
  return out;
}

/** The MeshMetric configuration in force for a Dataplane, or undefined when no policy selects it. */
export function meshMetricConf(store: Store, dp: Dataplane): Obj | undefined {
  const policies = store
    .listPolicies({ type: 'MeshMetric', mesh: dp.mesh })
    .filter((p) => selects(p, dp))
    .sort((a, b) => {
      const kind = (p: StoredPolicy): number => SPECIFICITY[String(isObj(p.spec.targetRef) ? p.spec.targetRef.kind : 'Mesh')] ?? 0;
      return kind(a) - kind(b) || a.name.localeCompare(b.name);
    });
  if (policies.length === 0) return undefined;
  return policies.reduce<Obj>((conf, p) => merge(conf, isObj(p.spec.default) ? p.spec.default : {}), {});
}

/** The `/meshmetric` document kuma-cp sends (dpapi.MeshMetricDpConfig). */
function meshMetricDocument(conf: Obj, dp: Dataplane, prometheus: boolean): string {
  const applications = (Array.isArray(conf.applications) ? conf.applications : []).filter(isObj).map((a) => ({
    ...(typeof a.name === 'string' ? { name: a.name } : {}),
    path: typeof a.path === 'string' ? a.path : '/metrics',
    port: a.port,
    address: typeof a.address === 'string' ? a.address : '',
  }));
  const extraLabels: Record<string, string> = { 'kuma.proxy_role': dp.networking.gateway ? 'gateway' : 'sidecar', mesh: dp.mesh };
  const zone = dp.labels?.['kuma.io/zone'];
  if (zone) extraLabels.zone = zone;
  const workload = dp.labels?.['kuma.io/workload'];
  if (workload) extraLabels['kuma.workload'] = workload;
  return JSON.stringify({
    observability: {
      metrics: {
        applications,
        backends: prometheus ? [{ type: 'Prometheus', name: null }] : [],
        sidecar: isObj(conf.sidecar) ? conf.sidecar : {},
        extraLabels,
      },
    },
  });
}

/**
 * VIPs for a mesh's services, from 240.0.0.0/4 as Kuma's default VIP range:
 * a service keeps its VIP while it exists; a freed VIP is reused last.
 */
export class VipAllocator {
  private readonly byMesh = new Map<string, { vips: Map<string, number>; next: number; free: number[] }>();

  /** Brings the mesh's assignments in line with its services; returns service → VIP. */
  assign(mesh: string, services: readonly string[]): Map<string, string> {
    let state = this.byMesh.get(mesh);
    if (!state) this.byMesh.set(mesh, (state = { vips: new Map(), next: 0, free: [] }));
    const wanted = new Set(services);
    for (const [service, index] of state.vips) {
      if (wanted.has(service)) continue;
      state.vips.delete(service);
      state.free.push(index);
    }
    for (const service of [...wanted].sort()) {
      if (state.vips.has(service)) continue;
      const index = state.next < 1 << 28 ? state.next++ : state.free.shift();
      if (index === undefined) continue; // 2^28 services: the range is full
      state.vips.set(service, index);
    }
    return new Map(
      [...state.vips].map(([service, index]) => [service, `${240 + (index >>> 24)}.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`]),
    );
  }
}

/** The `/dns` document (dpapi.DNSProxyConfig): `<service>.mesh` for each service of the mesh, TTL 30 as Kuma. */
export function dnsDocument(store: Store, vips: VipAllocator, dp: Dataplane): string {
  const services = new Set<string>();
  for (const other of store.list(dp.mesh)) for (const tags of tagsOf(other)) if (tags[SERVICE_TAG]) services.add(tags[SERVICE_TAG]);
  const assigned = vips.assign(dp.mesh, [...services]);
  const records = [...assigned].map(([service, vip]) => ({ name: `${service}.mesh`, ips: [vip] })).sort((a, b) => a.name.localeCompare(b.name));
  return JSON.stringify({ records, ttl: 30, extraLabels: { mesh: dp.mesh } });
}

/** The listeners and clusters for one proxy's MeshMetric and dynamic configuration; none until its work dir is known. */
export function observabilityResources(
  store: Store,
  vips: VipAllocator,
  dp: Dataplane,
  workdir: string,
): { listeners: EnvoyResource[]; clusters: EnvoyResource[] } {
  const out = { listeners: [] as EnvoyResource[], clusters: [] as EnvoyResource[] };
  if (!workdir) return out;
  const documents = new Map<string, string>();
  const conf = meshMetricConf(store, dp);
  if (conf) {
    const prometheus = (Array.isArray(conf.backends) ? conf.backends : []).filter((b): b is Obj => isObj(b) && b.type === 'Prometheus');
    const socket = metricsHijackerSocketName(workdir, dp.name, dp.mesh);
    for (const backend of prometheus) {
      const p = isObj(backend.prometheus) ? backend.prometheus : {};
      const { listener, cluster } = meshMetricPrometheus(
        {
          clientId: typeof p.clientId === 'string' && p.clientId ? p.clientId : 'default-backend',
          address: dp.networking.address,
          port: typeof p.port === 'number' ? p.port : 5670,
          path: typeof p.path === 'string' && p.path ? p.path : '/metrics',
        },
        socket,
      );
      out.listeners.push(listener);
      out.clusters.push(cluster);
    }
    if (prometheus.length > 0) documents.set('/meshmetric', meshMetricDocument(conf, dp, true));
  }
  if (dp.networking.transparentProxying) documents.set('/dns', dnsDocument(store, vips, dp));
  const dynconf = dynamicConfigListener(workdir, documents);
  if (dynconf) out.listeners.push(dynconf);
  return out;
}
