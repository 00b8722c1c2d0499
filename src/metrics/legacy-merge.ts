// The legacy (2.x `Mesh.metrics`) treatment of Envoy's stats, as Kuma's
// MergeClustersForPrometheus: clusters named `<prefix>-<16 hex digits>` are
// summed into `<prefix>`, and series about mesh traffic (not Kuma's own
// clusters and admin listeners) get `kuma_io_mesh_traffic="true"`.
import { formatLabels, labelValue, parseLabels, type Family, type Sample } from '../exposition/exposition.js';

const CLUSTER = 'envoy_cluster_name';
const HTTP_PREFIX = 'envoy_http_conn_manager_prefix';
const MESH_TRAFFIC = 'kuma_io_mesh_traffic="true"';
const MERGEABLE = /^(.*)-[0-9a-fA-F]{16}$/;
const NOT_MESH_CLUSTERS = new Set(['system_ads', 'system_access_log_sink', 'kuma_envoy_admin', 'kuma_metrics_hijacker']);
const NOT_MESH_HTTP = new Set(['admin', 'kuma_envoy_admin', 'kuma_metrics_prometheus']);

const withMeshTraffic = (s: Sample): Sample => ({ ...s, labels: s.labels ? `${s.labels},${MESH_TRAFFIC}` : MESH_TRAFFIC });

function sum(a: string, b: string): string {
  return String(Number(a) + Number(b));
}

/** The series identity without the value: name and sorted labels. */
function identity(s: Sample): string {
  return `${s.name}|${parseLabels(s.labels)
    .sort((x, y) => (x[0] < y[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(';')}`;
}

function mergeClusters(family: Family): Family {
  const merged = new Map<string, Sample>();
  for (const sample of family.samples) {
    const cluster = labelValue(sample.labels, CLUSTER)!;
    const prefix = MERGEABLE.exec(cluster)?.[1];
    const renamed: Sample =
      prefix === undefined ? sample : { ...sample, labels: formatLabels(parseLabels(sample.labels).map(([k, v]) => [k, k === CLUSTER ? prefix : v])) };
    const id = identity(renamed);
    const existing = merged.get(id);
    // Counters, gauges, untyped, histogram buckets, sums, counts and summary quantiles all add up.
    if (existing) existing.value = sum(existing.value, renamed.value);
    else merged.set(id, { ...renamed });
  }
  const samples = [...merged.values()].map((s) => {
    return NOT_MESH_CLUSTERS.has(labelValue(s.labels, CLUSTER)!) ? s : withMeshTraffic(s);
  });
  return { ...family, samples };
}

export function mergeEnvoyClusters(families: Family[]): Family[] {
  return families.map((family) => {
    const first = family.samples[0];
    if (!first) return family;
    if (labelValue(first.labels, CLUSTER) !== undefined) {
      if (family.samples.every((s) => labelValue(s.labels, CLUSTER) !== undefined)) return mergeClusters(family);
      return family;
    }
    if (labelValue(first.labels, HTTP_PREFIX) !== undefined) {
      return {
        ...family,
        samples: family.samples.map((s) => {
          const prefix = labelValue(s.labels, HTTP_PREFIX);
          return prefix !== undefined && !NOT_MESH_HTTP.has(prefix) ? withMeshTraffic(s) : s;
        }),
      };
    }
    return family;
  });
}
