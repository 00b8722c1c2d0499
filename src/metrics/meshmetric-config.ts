// The `/meshmetric` dynamic configuration (Kuma's dpapi.MeshMetricDpConfig):
// which applications to scrape beside Envoy, the sidecar's profiles and the
// extra labels. Parsed strictly enough that a bad body is rejected with the
// field named, and the previous configuration stays.
import type { Selector, SidecarProfiles } from './profiles.js';
import { CONTROL_PLANE_LIMITS, DocumentError, readJsonDocument } from '../util/document.js';

export interface ScrapedApplication {
  name?: string;
  address: string;
  port: number;
  path: string;
}

export interface MeshMetricConfig {
  applications: ScrapedApplication[];
  sidecar: { includeUnused: boolean; profiles?: SidecarProfiles };
  extraLabels: Record<string, string>;
}

/** Before any MeshMetric policy reaches the proxy: only Envoy, Basic profile, no extra labels. */
export const DEFAULT_MESHMETRIC: MeshMetricConfig = { applications: [], sidecar: { includeUnused: false }, extraLabels: {} };

const SELECTOR_TYPES = new Set(['Prefix', 'Regex', 'Exact', 'Contains']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(field: string, why: string): never {
  throw new Error(`/meshmetric: ${field} ${why}`);
}

function selectors(value: unknown, field: string): Selector[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) fail(field, 'must be a list');
  return value.map((s: unknown, i) => {
    if (!isObj(s) || typeof s.type !== 'string' || !SELECTOR_TYPES.has(s.type)) fail(`${field}[${i}].type`, 'must be one of Prefix, Regex, Exact, Contains');
    if (typeof s.match !== 'string') fail(`${field}[${i}].match`, 'must be a string');
    return { type: s.type as Selector['type'], match: s.match };
  });
}

export function parseMeshMetricConfig(body: string): MeshMetricConfig {
  let json: unknown;
  try {
    json = readJsonDocument(body, CONTROL_PLANE_LIMITS);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new Error(`/meshmetric: ${err.message}`);
  }
  const metrics = isObj(json) && isObj(json.observability) ? json.observability.metrics : undefined;
  if (!isObj(metrics)) fail('observability.metrics', 'is missing');
  const applications = (metrics.applications ?? []) as unknown;
  if (!Array.isArray(applications)) fail('observability.metrics.applications', 'must be a list');
  const apps = applications.map((a: unknown, i): ScrapedApplication => {
    const field = `observability.metrics.applications[${i}]`;
    if (!isObj(a)) fail(field, 'must be an object');
    if (typeof a.port !== 'number' || !Number.isInteger(a.port) || a.port < 1 || a.port > 65535) fail(`${field}.port`, 'must be a port number');
    const path = typeof a.path === 'string' && a.path ? a.path : '/metrics';
    const app: ScrapedApplication = { address: typeof a.address === 'string' ? a.address : '', port: a.port, path: path.startsWith('/') ? path : `/${path}` };
    if (typeof a.name === 'string' && a.name) app.name = a.name;
    return app;
  });
  const sidecar = isObj(metrics.sidecar) ? metrics.sidecar : {};
  const profilesJson = isObj(sidecar.profiles) ? sidecar.profiles : undefined;
  let profiles: SidecarProfiles | undefined;
  if (profilesJson) {
    profiles = {};
    const append = profilesJson.appendProfiles;
    if (append !== undefined && append !== null) {
      if (!Array.isArray(append)) fail('observability.metrics.sidecar.profiles.appendProfiles', 'must be a list');
      profiles.appendProfiles = append.map((p: unknown, i) => {
        if (!isObj(p) || typeof p.name !== 'string' || !['All', 'Basic', 'None'].includes(p.name))
          fail(`observability.metrics.sidecar.profiles.appendProfiles[${i}].name`, 'must be All, Basic or None');
        return { name: p.name };
      });
    }
    const include = selectors(profilesJson.include, 'observability.metrics.sidecar.profiles.include');
    const exclude = selectors(profilesJson.exclude, 'observability.metrics.sidecar.profiles.exclude');
    if (include) profiles.include = include;
    if (exclude) profiles.exclude = exclude;
  }
  const extraLabels: Record<string, string> = {};
  if (isObj(metrics.extraLabels)) for (const [k, v] of Object.entries(metrics.extraLabels)) if (typeof v === 'string') extraLabels[k] = v;
  return {
    applications: apps,
    sidecar: { includeUnused: sidecar.includeUnused === true, ...(profiles ? { profiles } : {}) },
    extraLabels,
  };
}

/**
 * The admin query for Envoy's stats. Kuma sends `usedonly` even when the
 * policy sets `includeUnused: true`; here includeUnused does what it says.
 */
export function envoyStatsPath(config: MeshMetricConfig | undefined): string {
  if (!config) return '/stats?format=prometheus&text_readouts=';
  return config.sidecar.includeUnused ? '/stats?format=prometheus&text_readouts=' : '/stats?format=prometheus&text_readouts=&usedonly=';
}
