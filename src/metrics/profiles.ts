// MeshMetric's sidecar profiles (Basic by default, All, None) and
// include/exclude selectors, applied to Envoy's metric families as Kuma's
// ProfileMutatorGenerator applies them: the broadest appended profile wins,
// then exclude, then include decide per family; with Basic, series about
// Kuma's own clusters and listeners (system_*, _*, ads_cluster, ...) are dropped.
import { labelValue, type Family } from '../exposition/exposition.js';

export type SelectorType = 'Prefix' | 'Regex' | 'Exact' | 'Contains';

export interface Selector {
  type: SelectorType;
  match: string;
}

export interface SidecarProfiles {
  appendProfiles?: Array<{ name: string }>;
  include?: Selector[];
  exclude?: Selector[];
}

type Select = (value: string) => boolean;

const never: Select = () => false;
const always: Select = () => true;

export function selectorFunction(selector: Selector): Select {
  const { match } = selector;
  switch (selector.type) {
    case 'Contains':
      return (v) => v.includes(match);
    case 'Prefix':
      return (v) => v.startsWith(match);
    case 'Exact':
      return (v) => v === match;
    case 'Regex':
      try {
        // Go's MatchString finds the pattern anywhere in the value; so does RegExp.test.
        const re = new RegExp(match);
        return (v) => re.test(v);
      } catch {
        return never;
      }
    default:
      return never;
  }
}

const contains = (match: string): Selector => ({ type: 'Contains', match });
const prefix = (match: string): Selector => ({ type: 'Prefix', match });
const exact = (match: string): Selector => ({ type: 'Exact', match });

/** Kuma's Basic profile: the golden signals, what its dashboards use, and DNS. */
const BASIC: Select[] = [
  contains('rq_time'),
  contains('cx_length_ms'),
  contains('cx_count'),
  contains('_rq'),
  contains('bytes'),
  contains('timeout'),
  contains('health_check'),
  contains('lb_healthy_panic'),
  contains('cx_destroy'),
  exact('envoy_cluster_membership_degraded'),
  exact('envoy_cluster_membership_healthy'),
  contains('error'),
  contains('fail'),
  contains('reset'),
  contains('eject'),
  contains('overflow'),
  contains('cancelled'),
  contains('max_duration_reached'),
  contains('no_cluster'),
  contains('no_route'),
  contains('no_filter_chain'),
  contains('reject'),
  contains('denied'),
  contains('days_until_first_cert_expiring'),
  prefix('envoy_server'),
  prefix('envoy_control_plane'),
  contains('rbac'),
  contains('cx_active'),
  contains('cx_connect'),
  exact('envoy_cluster_ssl_handshake'),
  exact('envoy_cluster_membership_total'),
  contains('circuit_breakers'),
  contains('cx_total'),
  contains('ssl_handshake'),
  contains('ssl_context_update_by_sds'),
  prefix('envoy_dns_filter'),
  prefix('envoy_dns_cares'),
  prefix('kuma_dp_dns'),
].map(selectorFunction);

/** Names of Kuma's own Envoy resources, whose series Basic leaves out. */
const INTERNAL_ENTITY: Select[] = [
  prefix('system_'),
  prefix('_'),
  exact('ads_cluster'),
  exact('access_log_sink'),
  exact('kuma_envoy_admin'),
  exact('kuma_metrics_hijacker'),
  prefix('_kuma_metrics_opentelemetry'),
].map(selectorFunction);

const ENTITY_LABELS = ['envoy_cluster_name', 'envoy_http_conn_manager_prefix', 'envoy_listener_address'];

const ORDER: Record<string, number> = { All: 0, Basic: 1, None: 2 };

export type FamilyFilter = (families: Family[]) => Family[];

/** A profile's two questions: is a family selected (by name), and is a series kept (Basic leaves out Kuma's own resources)? */
export interface ProfileSelector {
  family(name: string): boolean;
  /** undefined when every series of a selected family is kept. */
  sample?: (labels: string) => boolean;
}

export function profileSelector(profiles: SidecarProfiles | undefined): ProfileSelector {
  let selectors = BASIC;
  let effective = 'Basic';
  const appended = (profiles?.appendProfiles ?? []).map((p) => p.name).filter((n) => n in ORDER);
  if (appended.length > 0) {
    appended.sort((a, b) => ORDER[a]! - ORDER[b]!);
    effective = appended[0]!;
    selectors = effective === 'All' ? [always] : effective === 'None' ? [never] : BASIC;
  }
  const exclude = (profiles?.exclude ?? []).map(selectorFunction);
  const include = (profiles?.include ?? []).map(selectorFunction);
  const family = (name: string): boolean => {
    let keep = selectors.some((s) => s(name));
    if (exclude.some((s) => s(name))) keep = false;
    if (include.some((s) => s(name))) keep = true;
    return keep;
  };
  if (effective !== 'Basic') return { family };
  const sample = (labels: string): boolean =>
    !ENTITY_LABELS.some((name) => {
      const value = labelValue(labels, name);
      return value !== undefined && INTERNAL_ENTITY.some((s) => s(value));
    });
  return { family, sample };
}

export function profileFilter(profiles: SidecarProfiles | undefined): FamilyFilter {
  const select = profileSelector(profiles);
  return (families) =>
    families.flatMap((family) => {
      if (!select.family(family.name)) return [];
      const keep = select.sample;
      if (!keep) return [family];
      const samples = family.samples.filter((s) => keep(s.labels));
      return samples.length === 0 ? [] : [samples.length === family.samples.length ? family : { ...family, samples }];
    });
}
