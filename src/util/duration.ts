// Go-style durations ("300ms", "1m30s", "5m"), the format Kuma's flags and
// KUMA_* variables take.
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds; `what` names the flag or variable in the error. */
export function parseDuration(text: string, what: string): number {
  const input = text.trim();
  if (input === '0') return 0;
  let total = 0;
  let index = 0;
  while (index < input.length) {
    PART.lastIndex = index;
    const match = PART.exec(input);
    if (!match) break;
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? 0);
    index = PART.lastIndex;
  }
  if (input.length === 0 || index !== input.length) {
    throw new Error(`${what}: '${text}' is not a duration; use a number with a unit, e.g. 30s, 500ms, 5m, 1h30m`);
  }
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
