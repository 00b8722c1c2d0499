// Counters and gauges under Envoy's names, rendered as /stats (text or JSON)
// and /stats/prometheus (with Envoy's tag extraction, e.g. cluster.<name>. →
// envoy_cluster_name="<name>").

type Kind = 'counter' | 'gauge';

interface Stat {
  kind: Kind;
  value: number;
  used: boolean;
}

/**
 * Envoy's default tag extractors for the names this stand-in emits: each
 * takes a tag value out of the name (cluster.<name>.upstream_rq_2xx becomes
 * cluster.upstream_rq_xx with envoy_cluster_name and envoy_response_code_class).
 */
const TAG_EXTRACTORS: Array<{ tag: string; regex: RegExp; replace: string }> = [
  { tag: 'envoy_response_code_class', regex: /_rq_(\d)xx$/, replace: '_rq_xx' },
  { tag: 'envoy_response_code', regex: /_rq_(\d{3})$/, replace: '_rq' },
  { tag: 'envoy_http_conn_manager_prefix', regex: /^http\.(.*?)\./, replace: 'http.' },
  { tag: 'envoy_listener_address', regex: /^listener\.((?:[_.\d]*|[_[\]a-fA-F\d:]*))\./, replace: 'listener.' },
  { tag: 'envoy_tcp_prefix', regex: /^tcp\.(.*?)\./, replace: 'tcp.' },
  { tag: 'envoy_cluster_name', regex: /^cluster\.(.*?)\./, replace: 'cluster.' },
];

/** Envoy's stat-name sanitising: ':' is not allowed in a stat name and becomes '_'. */
export const statSafe = (name: string): string => name.replace(/:/g, '_');

export class Stats {
  private readonly stats = new Map<string, Stat>();

  private get(name: string, kind: Kind): Stat {
    let stat = this.stats.get(name);
    if (!stat) {
      stat = { kind, value: 0, used: false };
      this.stats.set(name, stat);
    }
    return stat;
  }

  /** Declares a stat so it is listed (as 0) before it is first written, as Envoy does. */
  declare(name: string, kind: Kind): void {
    this.get(name, kind);
  }

  inc(name: string, by = 1): void {
    const s = this.get(name, 'counter');
    s.value += by;
    s.used = true;
  }

  set(name: string, value: number): void {
    const s = this.get(name, 'gauge');
    s.value = value;
    s.used = true;
  }

  add(name: string, by: number): void {
    const s = this.get(name, 'gauge');
    s.value += by;
    s.used = true;
  }

  value(name: string): number | undefined {
    return this.stats.get(name)?.value;
  }

  /** Drops every stat under a prefix (a removed listener's or cluster's). */
  removePrefix(prefix: string): void {
    for (const name of [...this.stats.keys()]) if (name.startsWith(prefix)) this.stats.delete(name);
  }

  private select(filter: RegExp | undefined, usedOnly: boolean): Array<[string, Stat]> {
    return [...this.stats.entries()]
      .filter(([name, s]) => (!filter || filter.test(name)) && (!usedOnly || s.used))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  text(filter?: RegExp, usedOnly = false): string {
    return this.select(filter, usedOnly)
      .map(([name, s]) => `${name}: ${s.value}\n`)
      .join('');
  }

  json(filter?: RegExp, usedOnly = false): string {
    return JSON.stringify({ stats: this.select(filter, usedOnly).map(([name, s]) => ({ name, value: s.value })) }, null, 2);
  }

  prometheus(filter?: RegExp, usedOnly = false): string {
    const families = new Map<string, { kind: Kind; samples: string[] }>();
    for (const [name, s] of this.select(filter, usedOnly)) {
      const { base, tags } = extractTags(name);
      const metric = `envoy_${base.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      const labels = tags.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
      const family = families.get(metric) ?? { kind: s.kind, samples: [] };
      family.samples.push(`${metric}${labels ? `{${labels}}` : ''} ${s.value}`);
      families.set(metric, family);
    }
    let out = '';
    for (const [metric, family] of [...families.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out += `# TYPE ${metric} ${family.kind}\n${family.samples.join('\n')}\n`;
    }
    return out;
  }
}

function extractTags(name: string): { base: string; tags: Array<[string, string]> } {
  let base = name;
  const tags: Array<[string, string]> = [];
  for (const { tag, regex, replace } of TAG_EXTRACTORS) {
    const m = regex.exec(base);
    if (!m || m[1] === undefined) continue;
    tags.push([tag, m[1]]);
    base = base.slice(0, m.index) + replace + base.slice(m.index + m[0].length);
  }
  return { base, tags };
}
