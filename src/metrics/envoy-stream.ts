// Envoy's stats, filtered and labelled for `/meshmetric`, line by line: a
// family that needs no merging is written as it is read, so a scrape of
// thousands of series creates a few strings per line instead of objects that
// outlive V8's young generation (that is what made the agent's memory grow
// with each scrape). Families that must be merged (a name another source
// declares too, or two Envoy families with one OpenMetrics name, such as
// `envoy_cluster_upstream_rq` and `envoy_cluster_upstream_rq_total`) are
// returned as families for the shared merger.
import {
  familyName,
  formatLabels,
  labelValue,
  parseLabels,
  type Family,
  type Format,
  type Labels,
  type MetricType,
  type Sample,
} from '../exposition/exposition.js';
import type { ProfileSelector } from './profiles.js';

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, readonly string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };
const CHUNK = 32 * 1024;

export interface EnvoyStreamOptions {
  format: Format;
  select: ProfileSelector;
  extraLabels: Labels;
  /** Family names (as printed in `format`) that other sources declare. */
  claimed: ReadonlySet<string>;
}

/** The lines of text pieces that may split lines anywhere. */
function* lines(pieces: readonly Buffer[]): Generator<string> {
  let rest = '';
  for (const piece of pieces) {
    const text = rest + piece.toString('utf8');
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      yield text.slice(start, end);
      start = end + 1;
    }
    rest = text.slice(start);
  }
  if (rest) yield rest;
}

const TYPE_LINE = /^#\s+TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)\s*$/;

/** Writes the families that need no merging; returns the others (extra labels not yet added). */
export function streamEnvoy(pieces: readonly Buffer[], opts: EnvoyStreamOptions, write: (chunk: string) => void): Family[] {
  const om = opts.format === 'openmetrics';
  // Pass 1: which printed names Envoy itself declares twice.
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const line of lines(pieces)) {
    if (line.charCodeAt(0) !== 35) continue;
    const m = TYPE_LINE.exec(line);
    if (!m) continue;
    const name = familyName({ name: m[1]!, type: (TYPES.has(m[2]!) ? m[2] : 'untyped') as MetricType }, opts.format);
    if (seen.has(name)) twice.add(name);
    seen.add(name);
  }

  const suffix = formatLabels(opts.extraLabels);
  const extraNames = opts.extraLabels.map(([k]) => k);
  const withExtra = (labels: string): string => {
    if (!suffix) return labels;
    if (!labels) return suffix;
    if (extraNames.some((k) => labels.includes(k) && labelValue(labels, k) !== undefined))
      return formatLabels([...parseLabels(labels).filter(([k]) => !extraNames.includes(k)), ...opts.extraLabels]);
    return `${labels},${suffix}`;
  };

  const diverted: Family[] = [];
  let out = '';
  let family: { name: string; type: MetricType; printed: string; selected: boolean; divert?: Family; started: boolean } | undefined;
  const flush = (): void => {
    if (out.length >= CHUNK) {
      write(out);
      out = '';
    }
  };
  for (const line of lines(pieces)) {
    if (!line) continue;
    if (line.charCodeAt(0) === 35 /* # */) {
      const m = TYPE_LINE.exec(line);
      if (!m) continue; // Envoy prints no HELP; other comments carry nothing
      const type = (TYPES.has(m[2]!) ? m[2] : 'untyped') as MetricType;
      const printed = familyName({ name: m[1]!, type }, opts.format);
      const selected = opts.select.family(m[1]!);
      family = { name: m[1]!, type, printed, selected, started: false };
      if (selected && (opts.claimed.has(printed) || twice.has(printed))) {
        family.divert = { name: m[1]!, type, samples: [] };
        diverted.push(family.divert);
      }
      continue;
    }
    // name{labels} value [timestamp]
    let i = 0;
    while (i < line.length && line.charCodeAt(i) !== 123 && line.charCodeAt(i) !== 32) i++;
    const name = line.slice(0, i);
    if (!family || (name !== family.name && !(SUFFIXES[family.type] ?? []).some((s) => name === family!.name + s))) {
      // A sample outside the family just declared: Envoy prints none; treat it as its own untyped family.
      family = { name, type: 'untyped', printed: name, selected: opts.select.family(name), started: false };
      if (family.selected && (opts.claimed.has(name) || twice.has(name))) {
        family.divert = { name, type: 'untyped', samples: [] };
        diverted.push(family.divert);
      }
    }
    if (!family.selected) continue;
    let labels = '';
    if (line.charCodeAt(i) === 123) {
      const start = i + 1;
      let quoted = false;
      for (i = start; i < line.length; i++) {
        const c = line.charCodeAt(i);
        if (quoted) {
          if (c === 92) i++;
          else if (c === 34) quoted = false;
        } else if (c === 34) quoted = true;
        else if (c === 125) break;
      }
      labels = line.slice(start, i);
      i++;
    }
    if (opts.select.sample && !opts.select.sample(labels)) continue;
    const rest = line.slice(i).trim();
    const space = rest.indexOf(' ');
    const value = space < 0 ? rest : rest.slice(0, space);
    const ts = space < 0 ? undefined : Number(rest.slice(space + 1));
    if (family.divert) {
      const sample: Sample = { name, labels, value };
      if (ts !== undefined && Number.isFinite(ts)) sample.timestampMs = ts;
      family.divert.samples.push(sample);
      continue;
    }
    if (!family.started) {
      out += `# TYPE ${family.printed} ${om && family.type === 'untyped' ? 'unknown' : family.type}\n`;
      family.started = true;
    }
    const printedName = om && family.type === 'counter' ? `${family.printed}_total` : name;
    const all = withExtra(labels);
    const time = ts === undefined || !Number.isFinite(ts) ? '' : ` ${om ? ts / 1000 : ts}`;
    out += all ? `${printedName}{${all}} ${value}${time}\n` : `${printedName} ${value}${time}\n`;
    flush();
  }
  if (out) write(out);
  return diverted;
}
