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
  /**
   * The labels as printed between the braces (`a="x",b="y"`, escaped; '' for
   * none). Kept as text: a scrape of thousands of series then costs no
   * parsing of labels nobody looks at; parseLabels() reads them when needed.
   */
  labels: string;
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
  const parser = new ExpositionParser(openMetrics);
  parser.push(text);
  return parser.end();
}

/**
 * The same parser, fed piece by piece (e.g. the chunks of an HTTP response),
 * so that a large exposition is never one large string: strings that size go
 * to V8's large-object space, which only a full collection frees, and a
 * scrape every few seconds would grow the agent's memory with them.
 */
export class ExpositionParser {
  private readonly families = new Map<string, Family>();
  private readonly order: Family[] = [];
  private rest = '';

  constructor(private readonly openMetrics = false) {}

  push(piece: string): void {
    const text = this.rest ? this.rest + piece : piece;
    const last = text.lastIndexOf('\n');
    if (last < 0) {
      this.rest = text;
      return;
    }
    this.rest = text.slice(last + 1);
    this.lines(text, last);
  }

  end(): Family[] {
    if (this.rest) this.lines(this.rest, this.rest.length);
    this.rest = '';
    const parsed = this.order.filter((f) => f.samples.length > 0);
    return this.openMetrics ? parsed.map(toTextConventions) : parsed;
  }

  private declare(name: string): Family {
    let family = this.families.get(name);
    if (!family) {
      family = { name, type: 'untyped', samples: [] };
      this.families.set(name, family);
      this.order.push(family);
    }
    return family;
  }

  /** The lines of text[0, stop). */
  private lines(text: string, stop: number): void {
    let start = 0;
    while (start < stop) {
      let end = text.indexOf('\n', start);
      if (end < 0 || end > stop) end = stop;
      const lineStart = start;
      start = end + 1;
      if (end === lineStart) continue;
      if (text.charCodeAt(lineStart) === 35 /* # */) {
        const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(text.slice(lineStart, end));
        if (!meta) continue;
        const family = this.declare(meta[2]!);
        if (meta[1] === 'HELP') family.help = unescapeHelp(meta[3] ?? '');
        else family.type = TYPES[(meta[3] ?? '').trim()] ?? 'untyped';
        continue;
      }
      const sample = parseSample(text, lineStart, end, this.openMetrics);
      if (!sample) continue;
      (familyOf(sample.name, this.families, this.openMetrics) ?? this.declare(sample.name)).samples.push(sample);
    }
  }
}

/** The model keeps the text format's conventions: a counter family is named as its samples (`x_total`); `_created` samples are dropped. */
function toTextConventions(family: Family): Family {
  const samples = family.samples.filter((s) => !s.name.endsWith('_created'));
  if (family.type !== 'counter') return { ...family, samples };
  const total = `${family.name}_total`;
  return { ...family, name: samples.every((s) => s.name === total) ? total : family.name, samples };
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** The sample on text[from, to) (one line). */
function parseSample(line: string, from: number, n: number, openMetrics: boolean): Sample | undefined {
  let i = from;
  while (i < n && line.charCodeAt(i) === 32) i++;
  const nameStart = i;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 123 /* { */ || c === 32 || c === 9) break;
    i++;
  }
  const name = line.slice(nameStart, i);
  if (!METRIC_NAME.test(name)) return undefined;
  let labels = '';
  if (line.charCodeAt(i) === 123) {
    const start = i + 1;
    let quoted = false;
    for (i = start; i < n; i++) {
      const c = line.charCodeAt(i);
      if (quoted) {
        if (c === 92 /* \ */) i++;
        else if (c === 34 /* " */) quoted = false;
      } else if (c === 34) quoted = true;
      else if (c === 125 /* } */) break;
    }
    if (i >= n) return undefined;
    labels = line.slice(start, i).trim();
    if (labels.endsWith(',')) labels = labels.slice(0, -1).trimEnd();
    i++;
  }
  while (i < n && (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9)) i++;
  let end = i;
  while (end < n && line.charCodeAt(end) !== 32 && line.charCodeAt(end) !== 9) end++;
  const value = line.slice(i, end);
  if (!value || (Number.isNaN(Number(value)) && !/^[+-]?(Inf|NaN)$/i.test(value))) return undefined;
  const sample: Sample = { name, labels, value };
  while (end < n && (line.charCodeAt(end) === 32 || line.charCodeAt(end) === 9)) end++;
  if (end < n && line.charCodeAt(end) !== 35 /* # */) {
    let tsEnd = end;
    while (tsEnd < n && line.charCodeAt(tsEnd) !== 32 && line.charCodeAt(tsEnd) !== 9) tsEnd++;
    const ts = Number(line.slice(end, tsEnd));
    if (Number.isFinite(ts)) sample.timestampMs = openMetrics ? Math.round(ts * 1000) : ts;
  }
  return sample;
}

/** The labels of a sample's label text, unescaped; a malformed text gives what could be read. */
export function parseLabels(text: string): Labels {
  const labels: Labels = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 44)) i++;
    const eq = text.indexOf('=', i);
    if (eq < 0) break;
    const name = text.slice(i, eq).trim();
    i = eq + 1;
    while (text.charCodeAt(i) === 32) i++;
    if (text.charCodeAt(i) !== 34) break;
    i++;
    let value = '';
    let chunk = i;
    while (i < n && text.charCodeAt(i) !== 34) {
      if (text.charCodeAt(i) === 92) {
        value += text.slice(chunk, i);
        const next = text[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
        chunk = i;
      } else i++;
    }
    value += text.slice(chunk, i);
    i++;
    labels.push([name, value]);
  }
  return labels;
}

/** The value of one label, or undefined; reads only that label (no allocation unless it is there). */
export function labelValue(text: string, name: string): string | undefined {
  let at = text.startsWith(name) && text.charCodeAt(name.length) === 61 /* = */ ? 0 : -1;
  for (let from = 0; at < 0;) {
    const hit = text.indexOf(name, from);
    if (hit < 0) return undefined;
    if (text.charCodeAt(hit - 1) === 44 /* , */ && text.charCodeAt(hit + name.length) === 61) at = hit;
    else from = hit + 1;
  }
  const start = at + name.length + 2; // past `="`
  let end = start;
  let escaped = false;
  for (; end < text.length; end++) {
    const c = text.charCodeAt(end);
    if (c === 92) {
      escaped = true;
      end++;
    } else if (c === 34) break;
  }
  return escaped ? (parseLabels(text.slice(at, end + 1))[0]?.[1] ?? '') : text.slice(start, end);
}

function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** Label pairs as a sample's label text. */
export function formatLabels(labels: Labels): string {
  let out = '';
  for (let i = 0; i < labels.length; i++) {
    const [k, v] = labels[i]!;
    out += `${i ? ',' : ''}${k}="${escapeLabelValue(v)}"`;
  }
  return out;
}

/** A series' identity within a family (label order as the source prints it). */
const seriesKey = (s: Sample): string => `${s.name}{${s.labels}}`;

/** The name a family goes by in `format` (OpenMetrics counters drop _total). */
export function familyName(family: Pick<Family, 'name' | 'type'>, format: Format): string {
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
  const byName = new Map<string, Entry>();
  const families: Family[] = [];
  const dropped: string[] = [];
  for (const source of sources) {
    for (const family of source) {
      const name = familyName(family, format);
      const existing = byName.get(name);
      if (!existing) {
        const merged: Family = { name, type: family.type, samples: [] };
        if (family.help !== undefined) merged.help = family.help;
        const entry: Entry = { family: merged };
        byName.set(name, entry);
        families.push(merged);
        addSamples(entry, family, name, format);
      } else if (existing.family.type === family.type) {
        // A second contribution to one family: from now on each series is checked against those already in.
        existing.seen ??= new Set(existing.family.samples.map(seriesKey));
        addSamples(existing, family, name, format);
      } else {
        dropped.push(family.name);
      }
    }
  }
  return { families, dropped };
}

interface Entry {
  family: Family;
  /** Series keys, kept once the family has more than one contribution. */
  seen?: Set<string>;
}

function addSamples(entry: Entry, from: Family, name: string, format: Format): void {
  const { seen } = entry;
  for (const sample of from.samples) {
    const renamed = sampleName(sample, from, name, format);
    const out = renamed === sample.name ? sample : { ...sample, name: renamed };
    if (seen) {
      const key = seriesKey(out);
      if (seen.has(key)) continue;
      seen.add(key);
    }
    entry.family.samples.push(out);
  }
}

/** Prints families (already merged with mergeFamilies for `format`). */
export function renderExposition(families: readonly Family[], format: Format): string {
  let out = '';
  renderChunks(families, format, (chunk) => (out += chunk));
  return out;
}

/** Prints families in pieces of about `chunkSize` characters, for a response written as it is made (no one large string). */
export function renderChunks(families: readonly Family[], format: Format, write: (chunk: string) => void, chunkSize = 32 * 1024): void {
  let out = '';
  const om = format === 'openmetrics';
  for (const family of families) {
    if (family.samples.length === 0) continue;
    if (family.help !== undefined) {
      const help = om
        ? family.help.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))
        : family.help.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
      out += `# HELP ${family.name} ${help}\n`;
    }
    out += `# TYPE ${family.name} ${om && family.type === 'untyped' ? 'unknown' : family.type}\n`;
    for (const s of family.samples) {
      const ts = s.timestampMs === undefined ? '' : ` ${om ? s.timestampMs / 1000 : s.timestampMs}`;
      out += s.labels ? `${s.name}{${s.labels}} ${s.value}${ts}\n` : `${s.name} ${s.value}${ts}\n`;
      if (out.length >= chunkSize) {
        write(out);
        out = '';
      }
    }
  }
  if (om) out += '# EOF\n';
  if (out) write(out);
}

/** Sets (or adds) labels on every sample, e.g. MeshMetric's extra labels. */
export function withLabels(families: Family[], extra: Labels): Family[] {
  if (extra.length === 0) return families;
  const suffix = formatLabels(extra);
  const names = extra.map(([k]) => k);
  for (const family of families) {
    for (const sample of family.samples) {
      const text = sample.labels;
      if (text === '') sample.labels = suffix;
      else if (names.some((k) => text.includes(k) && labelValue(text, k) !== undefined))
        sample.labels = formatLabels([...parseLabels(text).filter(([k]) => !names.includes(k)), ...extra]);
      else sample.labels = `${text},${suffix}`;
    }
  }
  return families;
}

/** A label name Prometheus accepts: other characters (`kuma.workload`) become `_`, as OpenTelemetry's exporter does. */
export function sanitizeLabelName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(clean) ? `_${clean}` : clean;
}
