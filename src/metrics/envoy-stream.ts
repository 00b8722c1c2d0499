// Envoy's stats, filtered and labelled for `/meshmetric`, line by line and
// byte by byte: Envoy's answer is scanned in the pieces it came in, where
// they lie, and a line that is kept is copied into the response's chunks, so a scrape of
// thousands of series allocates almost nothing on V8's heap. Strings per line
// made V8 grow its young generation to 64 MB under repeated scrapes; that was
// most of the agent's memory while serving them. Strings are made only per
// family declaration and for the rare lines that need them (a timestamp, an
// extra label the line already carries, the Basic profile's label check).
// Families that must be merged (a name another source declares too, or two
// Envoy families with one OpenMetrics name, such as `envoy_cluster_upstream_rq`
// and `envoy_cluster_upstream_rq_total`) are returned as families for the
// shared merger.
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
const SUFFIXES: Record<string, readonly Buffer[]> = {
  histogram: ['_bucket', '_sum', '_count'].map((s) => Buffer.from(s)),
  summary: ['_sum', '_count'].map((s) => Buffer.from(s)),
};
const CHUNK = 32 * 1024;
const SLAB = 128 * 1024;
const NL = 10;
const HASH = 35;
const SPACE = 32;
const TAB = 9;
const CR = 13;
const LBRACE = 123;
const RBRACE = 125;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;

export interface EnvoyStreamOptions {
  format: Format;
  select: ProfileSelector;
  extraLabels: Labels;
  /** Family names (as printed in `format`) that other sources declare. */
  claimed: ReadonlySet<string>;
}

/**
 * A line cut by a piece boundary, put together here (reused from line to line
 * and scrape to scrape: a line is used synchronously and copied out, never
 * kept); one much larger than usual is let go, so one huge line is not kept.
 */
let carry = Buffer.allocUnsafeSlow(4096);

/**
 * Calls `line(buf, start, end)` for each line of the answer (without its
 * newline), where it lies in its piece; only a line that straddles pieces is
 * copied (into `carry`). The answer is never joined into one buffer.
 */
function forEachLine(pieces: readonly Buffer[], line: (buf: Buffer, start: number, end: number) => void): void {
  let held = 0; // bytes of an unfinished line in carry
  for (const piece of pieces) {
    let start = 0;
    for (let nl = piece.indexOf(NL); nl >= 0; nl = piece.indexOf(NL, start)) {
      if (held > 0) {
        hold(piece, start, nl, held);
        line(carry, 0, held + nl - start);
        held = 0;
      } else line(piece, start, nl);
      start = nl + 1;
    }
    if (start < piece.length) held = hold(piece, start, piece.length, held);
  }
  if (held > 0) line(carry, 0, held);
  if (carry.length > 1024 * 1024) carry = Buffer.allocUnsafeSlow(4096);
}

/** Appends piece[start, end) to the `held` bytes in carry (growing it); returns the new count. */
function hold(piece: Buffer, start: number, end: number, held: number): number {
  const need = held + end - start;
  if (need > carry.length) {
    const bigger = Buffer.allocUnsafeSlow(Math.max(need, 2 * carry.length));
    carry.copy(bigger, 0, 0, held);
    carry = bigger;
  }
  return held + piece.copy(carry, held, start, end);
}

/** Whether buf[start, end) holds `a` followed by `b` (b optional). */
function bytesAre(buf: Buffer, start: number, end: number, a: Buffer, b?: Buffer): boolean {
  const n = a.length;
  if (end - start !== n + (b ? b.length : 0)) return false;
  for (let i = 0; i < n; i++) if (buf[start + i] !== a[i]) return false;
  if (b) for (let i = 0; i < b.length; i++) if (buf[start + n + i] !== b[i]) return false;
  return true;
}

const TYPE_LINE = /^#\s+TYPE\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\w+)\s*$/;

/**
 * Slabs whose chunks the socket has all written, kept for the next scrapes.
 * Node frees a Buffer's memory only when V8 collects the Buffer, and a scrape
 * that makes little JavaScript garbage triggers few collections: fresh slabs
 * for every scrape piled up as dead memory (about 0.6 MB a scrape, ~10 MB of
 * RSS under a scrape a second) before a collection freed them.
 */
const spare: Buffer[] = [];
const SPARE_SLABS = 16;

/** A slab and how many of its chunks the socket still holds. */
interface Slab {
  buf: Buffer;
  pending: number;
  /** No more chunks will be cut from it. */
  full: boolean;
}

/**
 * The response's chunks, filled by copying: each chunk is a slice of a larger
 * slab, and the next chunk goes on in the same slab while it has room. A slab
 * is filled once; it goes back to the spares when the socket has written
 * every chunk cut from it (`write`'s callback), never before.
 */
class Output {
  private slab: Slab = Output.take(SLAB);
  private from = 0;
  private at = 0;
  constructor(private readonly write: (chunk: Uint8Array, written: () => void) => void) {}
  private static take(n: number): Slab {
    const buf = n <= SLAB ? spare.pop() : undefined;
    return { buf: buf ?? Buffer.allocUnsafeSlow(Math.max(SLAB, n)), pending: 0, full: false };
  }
  private static settle(slab: Slab): void {
    if (slab.full && slab.pending === 0 && slab.buf.length === SLAB && spare.length < SPARE_SLABS) spare.push(slab.buf);
  }
  private room(n: number): void {
    if (this.at + n <= this.slab.buf.length) return;
    this.flush();
    this.retire();
    this.slab = Output.take(n);
    this.from = this.at = 0;
  }
  private retire(): void {
    this.slab.full = true;
    Output.settle(this.slab);
  }
  bytes(src: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.at += src.copy(this.slab.buf, this.at, start, end);
  }
  byte(c: number): void {
    this.room(1);
    this.slab.buf[this.at++] = c;
  }
  text(s: string): void {
    this.room(s.length * 3);
    this.at += this.slab.buf.write(s, this.at);
  }
  /** Sends what is filled once a chunk's worth is there (or always, at the end). */
  flush(always = true): void {
    if (this.at === this.from || (!always && this.at - this.from < CHUNK)) return;
    const slab = this.slab;
    slab.pending++;
    this.write(slab.buf.subarray(this.from, this.at), () => {
      slab.pending--;
      Output.settle(slab);
    });
    this.from = this.at;
  }
  /** The last chunk is sent: the current slab takes no more. */
  end(): void {
    this.flush();
    this.retire();
  }
}

interface Current {
  name: string;
  bytes: Buffer;
  type: MetricType;
  /** The name as printed in the format, with `_total` for an OpenMetrics counter's samples. */
  sampleName?: Buffer;
  typeLine: string;
  selected: boolean;
  divert?: Family;
  started: boolean;
}

/**
 * Writes the families that need no merging; returns the others (extra labels
 * not yet added). `write` calls `written` once the socket has written the
 * chunk (or dropped it): its memory is reused after that.
 */
export function streamEnvoy(pieces: readonly Buffer[], opts: EnvoyStreamOptions, write: (chunk: Uint8Array, written: () => void) => void): Family[] {
  const om = opts.format === 'openmetrics';

  // Pass 1: which printed names Envoy itself declares twice.
  const seen = new Set<string>();
  const twice = new Set<string>();
  forEachLine(pieces, (buf, start, end) => {
    if (buf[start] !== HASH) return;
    const m = TYPE_LINE.exec(buf.toString('utf8', start, end));
    if (!m) return;
    const name = familyName({ name: m[1]!, type: (TYPES.has(m[2]!) ? m[2] : 'untyped') as MetricType }, opts.format);
    if (seen.has(name)) twice.add(name);
    seen.add(name);
  });

  const suffixText = formatLabels(opts.extraLabels);
  const suffix = Buffer.from(suffixText);
  const extraNames = opts.extraLabels.map(([k]) => k);
  const extraNameBytes = extraNames.map((k) => Buffer.from(k));
  const out = new Output(write);

  const declare = (name: string, type: MetricType): Current => {
    const printed = familyName({ name, type }, opts.format);
    const family: Current = {
      name,
      bytes: Buffer.from(name),
      type,
      typeLine: `# TYPE ${printed} ${om && type === 'untyped' ? 'unknown' : type}\n`,
      selected: opts.select.family(name),
      started: false,
    };
    if (om && type === 'counter') family.sampleName = Buffer.from(`${printed}_total`);
    if (family.selected && (opts.claimed.has(printed) || twice.has(printed))) {
      family.divert = { name, type, samples: [] };
      diverted.push(family.divert);
    }
    return family;
  };

  const diverted: Family[] = [];
  let family: Current | undefined;
  forEachLine(pieces, (buf, lineStart, end) => {
    if (end === lineStart) return;
    if (buf[lineStart] === HASH) {
      const m = TYPE_LINE.exec(buf.toString('utf8', lineStart, end));
      if (!m) return; // Envoy prints no HELP; other comments carry nothing
      family = declare(m[1]!, (TYPES.has(m[2]!) ? m[2] : 'untyped') as MetricType);
      return;
    }
    // name{labels} value [timestamp]
    let i = lineStart;
    while (i < end && buf[i] !== LBRACE && buf[i] !== SPACE) i++;
    const nameEnd = i;
    if (!family || !belongs(buf, lineStart, nameEnd, family)) {
      // A sample outside the family just declared: Envoy prints none; treat it as its own untyped family.
      family = declare(buf.toString('utf8', lineStart, nameEnd), 'untyped');
    }
    if (!family.selected) return;
    let labelsStart = i;
    let labelsEnd = i;
    if (buf[i] === LBRACE) {
      labelsStart = i + 1;
      let quoted = false;
      for (i = labelsStart; i < end; i++) {
        const c = buf[i];
        if (quoted) {
          if (c === BACKSLASH) i++;
          else if (c === QUOTE) quoted = false;
        } else if (c === QUOTE) quoted = true;
        else if (c === RBRACE) break;
      }
      labelsEnd = Math.min(i, end);
      i++;
    }
    if (opts.select.sample && !opts.select.sample(buf.toString('utf8', labelsStart, labelsEnd))) return;
    // The value and an optional timestamp: the rest of the line, trimmed.
    let restEnd = end;
    while (restEnd > i && isSpace(buf[restEnd - 1]!)) restEnd--;
    while (i < restEnd && isSpace(buf[i]!)) i++;
    let valueEnd = i;
    while (valueEnd < restEnd && buf[valueEnd] !== SPACE) valueEnd++;
    const ts = valueEnd < restEnd ? Number(buf.toString('utf8', valueEnd + 1, restEnd)) : undefined;
    if (family.divert) {
      const sample: Sample = {
        name: buf.toString('utf8', lineStart, nameEnd),
        labels: buf.toString('utf8', labelsStart, labelsEnd),
        value: buf.toString('utf8', i, valueEnd),
      };
      if (ts !== undefined && Number.isFinite(ts)) sample.timestampMs = ts;
      family.divert.samples.push(sample);
      return;
    }
    if (!family.started) {
      out.text(family.typeLine);
      family.started = true;
    }
    if (family.sampleName) out.bytes(family.sampleName, 0, family.sampleName.length);
    else out.bytes(buf, lineStart, nameEnd);
    if (labelsEnd > labelsStart || suffix.length > 0) {
      out.byte(LBRACE);
      if (suffix.length === 0) out.bytes(buf, labelsStart, labelsEnd);
      else if (labelsEnd === labelsStart) out.bytes(suffix, 0, suffix.length);
      else if (carriesExtra(buf, labelsStart, labelsEnd, extraNameBytes, extraNames))
        out.text(formatLabels([...parseLabels(buf.toString('utf8', labelsStart, labelsEnd)).filter(([k]) => !extraNames.includes(k)), ...opts.extraLabels]));
      else {
        out.bytes(buf, labelsStart, labelsEnd);
        out.byte(COMMA);
        out.bytes(suffix, 0, suffix.length);
      }
      out.byte(RBRACE);
    }
    out.byte(SPACE);
    out.bytes(buf, i, valueEnd);
    if (ts !== undefined && Number.isFinite(ts)) out.text(` ${om ? ts / 1000 : ts}`);
    out.byte(NL);
    out.flush(false);
  });
  out.end();
  return diverted;
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR || c === NL;
}

/** Whether the labels at buf[start, end) already carry one of the extra labels (the byte search first: no string for most lines). */
function carriesExtra(buf: Buffer, start: number, end: number, names: readonly Buffer[], texts: readonly string[]): boolean {
  for (let j = 0; j < names.length; j++)
    if (contains(buf, start, end, names[j]!) && labelValue(buf.toString('utf8', start, end), texts[j]!) !== undefined) return true;
  return false;
}

const NO_SUFFIXES: readonly Buffer[] = [];

/** Whether the sample name at buf[start, end) is the family's own or one of its type's suffixed names. */
function belongs(buf: Buffer, start: number, end: number, family: Current): boolean {
  if (bytesAre(buf, start, end, family.bytes)) return true;
  for (const s of SUFFIXES[family.type] ?? NO_SUFFIXES) if (bytesAre(buf, start, end, family.bytes, s)) return true;
  return false;
}

/** Whether buf[start, end) contains `what` (searching only there: indexOf would run on to the end of the answer). */
function contains(buf: Buffer, start: number, end: number, what: Buffer): boolean {
  const first = what[0];
  for (let i = start; i + what.length <= end; i++) {
    if (buf[i] !== first) continue;
    let j = 1;
    while (j < what.length && buf[i + j] === what[j]) j++;
    if (j === what.length) return true;
  }
  return false;
}
