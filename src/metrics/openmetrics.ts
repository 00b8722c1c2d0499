// Prometheus text format (0.0.4) → OpenMetrics 1.0, for sources that only
// speak the former (Envoy's /stats/prometheus): counter families lose their
// _total suffix while their samples gain it, `untyped` becomes `unknown`,
// timestamps go from milliseconds to seconds, and free comments are dropped
// (OpenMetrics allows only HELP, TYPE and UNIT).

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$/;

export function textToOpenMetrics(text: string): string {
  const counters = new Set<string>();
  const help = new Map<string, string>();
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
      if (!meta) continue;
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === 'HELP') {
        help.set(name, rest);
        continue;
      }
      const type = rest === 'untyped' ? 'unknown' : rest;
      const family = type === 'counter' && name.endsWith('_total') ? name.slice(0, -6) : name;
      if (type === 'counter') counters.add(family);
      out.push(`# TYPE ${family} ${type}`);
      if (help.has(name)) out.push(`# HELP ${family} ${help.get(name)}`);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) continue;
    const [, name, labels = '', value, timestamp] = sample as unknown as [string, string, string | undefined, string, string | undefined];
    const renamed = counters.has(name) ? `${name}_total` : name;
    out.push(`${renamed}${labels} ${value}${timestamp ? ` ${Number(timestamp) / 1000}` : ''}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** Strips the terminating `# EOF` so expositions can be concatenated. */
export function withoutEof(openMetrics: string): string {
  return openMetrics
    .replace(/^# EOF\s*$/m, '')
    .replace(/\n+$/, '\n')
    .replace(/^\n$/, '');
}
