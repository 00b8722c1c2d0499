// Prometheus expositions as data: a parser for the text format (0.0.4) and
// OpenMetrics 1.0, and a printer for either. Merging sources goes through
// this model so that every body served is valid: one HELP/TYPE per family,
// each series once, and in OpenMetrics the family names the spec wants
// (Envoy's `envoy_cluster_upstream_rq` and `envoy_cluster_upstream_rq_total`
// counters both map to family `envoy_cluster_upstream_rq`, so they are merged
// into one family rather than declared twice).

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export type Labels = Array<[name: string, value: string]>;

export interface Sample {
  name: string;
  labels: Labels;
  value: string;
  /** Milliseconds, as the text format has it. */
  timestampMs?: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export type Format = 'text' | 'openmetrics';

export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** OpenMetrics when the scraper asks for it (as Prometheus does by default), else the text format. */
export function negotiateFormat(accept: string | undefined): Format {
  return accept && /application\/openmetrics-text/i.test(accept) ? 'openmetrics' : 'text';
}

export function isOpenMetricsContentType(contentType: string | null | undefined): boolean {
  return !!contentType && /application\/openmetrics-text/i.test(contentType);
}

const TYPES: Record<string, MetricType> = {
  counter: 'counter',
  gauge: 'gauge',
  histogram: 'histogram',
  summary: 'summary',
  untyped: 'untyped',
  unknown: 'untyped',
};

const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: ['_total', '_created'],
  gauge: [],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['_sum', '_count', '_created'],
  untyped: [],
};

/** The family a sample name belongs to, given the families declared so far. */
function familyOf(sampleName: string, families: Map<string, Family>, openMetrics: boolean): Family | undefined {
  const exact = families.get(sampleName);
  if (exact && (!openMetrics || exact.type !== 'counter')) return exact;
  const cut = sampleName.lastIndexOf('_');
  if (cut > 0) {
    const parent = families.get(sampleName.slice(0, cut));
    if (parent && SUFFIXES[parent.type].includes(sampleName.slice(cut))) return parent;
  }
  return exact;
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

/**
 * Parses an exposition. Lines that are not valid are skipped (a scrape keeps
 * what it can); `openMetrics` selects OpenMetrics' rules (counter samples end
 * in _total, timestamps in seconds).
 */
export function parseExposition(text: string, openMetrics = false): Family[] {
  const families = new Map<string, Family>();
  const order: Family[] = [];
  const declare = (name: string): Family => {
    let family = families.get(name);
    if (!family) {
      family = { name, type: 'untyped', samples: [] };
      families.set(name, family);
      order.push(family);
    }
    return family;
  };
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length === 0) continue;
    if (line.charCodeAt(0) === 35 /* # */) {
      const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (!meta) continue;
      const family = declare(meta[2]!);
      if (meta[1] === 'HELP') family.help = unescapeHelp(meta[3] ?? '');
      else family.type = TYPES[(meta[3] ?? '').trim()] ?? 'untyped';
      continue;
    }
    const sample = parseSample(line, openMetrics);
    if (!sample) continue;
    (familyOf(sample.name, families, openMetrics) ?? declare(sample.name)).samples.push(sample);
  }
  const parsed = order.filter((f) => f.samples.length > 0);
  return openMetrics ? parsed.map(toTextConventions) : parsed;
}

/** The model keeps the text format's conventions: a counter family is named as its samples (`x_total`); `_created` samples are dropped. */
function toTextConventions(family: Family): Family {
  const samples = family.samples.filter((s) => !s.name.endsWith('_created'));
  if (family.type !== 'counter') return { ...family, samples };
  const total = `${family.name}_total`;
  return { ...family, name: samples.every((s) => s.name === total) ? total : family.name, samples };
}

function parseSample(line: string, openMetrics: boolean): Sample | undefined {
  let i = 0;
  const n = line.length;
  while (i < n && line.charCodeAt(i) === 32) i++;
  const nameStart = i;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 123 /* { */ || c === 32 || c === 9) break;
    i++;
  }
  const name = line.slice(nameStart, i);
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) return undefined;
  const labels: Labels = [];
  if (line.charCodeAt(i) === 123) {
    i++;
    for (;;) {
      while (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 44 /* , */) i++;
      if (i >= n) return undefined;
      if (line.charCodeAt(i) === 125 /* } */) {
        i++;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0) return undefined;
      const labelName = line.slice(i, eq).trim();
      i = eq + 1;
      while (line.charCodeAt(i) === 32) i++;
      if (line.charCodeAt(i) !== 34 /* " */) return undefined;
      i++;
      let value = '';
      let chunk = i;
      for (;;) {
        if (i >= n) return undefined;
        const c = line.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          value += line.slice(chunk, i);
          const next = line[i + 1];
          value += next === 'n' ? '\n' : (next ?? '');
          i += 2;
          chunk = i;
          continue;
        }
        i++;
      }
      value += line.slice(chunk, i);
      i++;
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(labelName)) return undefined;
      labels.push([labelName, value]);
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = rest[0];
  if (!value || (Number.isNaN(Number(value)) && !/^[+-]?(Inf|NaN)$/i.test(value))) return undefined;
  const sample: Sample = { name, labels, value };
  if (rest[1] !== undefined && rest[1] !== '#') {
    const ts = Number(rest[1]);
    if (Number.isFinite(ts)) sample.timestampMs = openMetrics ? Math.round(ts * 1000) : ts;
  }
  return sample;
}

function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function labelsText(labels: Labels): string {
  if (labels.length === 0) return '';
  let out = '{';
  for (let i = 0; i < labels.length; i++) {
    const [k, v] = labels[i]!;
    out += `${i ? ',' : ''}${k}="${escapeLabelValue(v)}"`;
  }
  return out + '}';
}

const seriesKey = (s: Sample): string => {
  if (s.labels.length === 0) return s.name;
  const sorted = s.labels.length > 1 ? [...s.labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : s.labels;
  let key = s.name;
  for (const [k, v] of sorted) key += `\u0000${k}\u0001${v}`;
  return key;
};

/** The name a family goes by in `format` (OpenMetrics counters drop _total). */
function familyName(family: Family, format: Format): string {
  return format === 'openmetrics' && family.type === 'counter' && family.name.endsWith('_total') ? family.name.slice(0, -6) : family.name;
}

/** A sample's name in `format`: in OpenMetrics a counter's samples end in _total. */
function sampleName(sample: Sample, family: Family, name: string, format: Format): string {
  return format === 'openmetrics' && family.type === 'counter' ? `${name}_total` : sample.name;
}

/**
 * Merges families from several sources into one list that declares each
 * family once (under its `format` name), each series once (the first source
 * wins), and drops a family whose type clashes with one already declared.
 */
export function mergeFamilies(sources: readonly Family[][], format: Format): { families: Family[]; dropped: string[] } {
  const byName = new Map<string, { family: Family; seen: Set<string> }>();
  const families: Family[] = [];
  const dropped: string[] = [];
  for (const source of sources) {
    for (const family of source) {
      const name = familyName(family, format);
      const existing = byName.get(name);
      if (!existing) {
        const merged: Family = { name, type: family.type, samples: [] };
        if (family.help !== undefined) merged.help = family.help;
        const entry = { family: merged, seen: new Set<string>() };
        byName.set(name, entry);
        families.push(merged);
        addSamples(entry, family, name, format);
      } else if (existing.family.type === family.type) {
        addSamples(existing, family, name, format);
      } else {
        dropped.push(family.name);
      }
    }
  }
  return { families, dropped };
}

function addSamples(entry: { family: Family; seen: Set<string> }, from: Family, name: string, format: Format): void {
  for (const sample of from.samples) {
    const renamed = sampleName(sample, from, name, format);
    const out = renamed === sample.name ? sample : { ...sample, name: renamed };
    const key = seriesKey(out);
    if (entry.seen.has(key)) continue;
    entry.seen.add(key);
    entry.family.samples.push(out);
  }
}

/** Prints families (already merged with mergeFamilies for `format`). */
export function renderExposition(families: readonly Family[], format: Format): string {
  const parts: string[] = [];
  const om = format === 'openmetrics';
  for (const family of families) {
    if (family.samples.length === 0) continue;
    if (family.help !== undefined) {
      const help = om
        ? family.help.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
        : family.help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
      parts.push(`# HELP ${family.name} ${help}\n`);
    }
    parts.push(`# TYPE ${family.name} ${om && family.type === 'untyped' ? 'unknown' : family.type}\n`);
    for (const s of family.samples) {
      const ts = s.timestampMs === undefined ? '' : ` ${om ? s.timestampMs / 1000 : s.timestampMs}`;
      parts.push(`${s.name}${labelsText(s.labels)} ${s.value}${ts}\n`);
    }
  }
  if (om) parts.push('# EOF\n');
  return parts.join('');
}

/** Sets (or adds) labels on every sample, e.g. MeshMetric's extra labels. */
export function withLabels(families: Family[], extra: Labels): Family[] {
  if (extra.length === 0) return families;
  const names = new Set(extra.map(([k]) => k));
  for (const family of families) {
    for (const sample of family.samples) sample.labels = [...sample.labels.filter(([k]) => !names.has(k)), ...extra];
  }
  return families;
}

/** A label name Prometheus accepts: other characters (`kuma.workload`) become `_`, as OpenTelemetry's exporter does. */
export function sanitizeLabelName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}
