// Redaction of secrets in what the programs print (log lines, error
// messages, API error bodies): by field name at any depth, and by the look
// of the value wherever it appears in text.

/** Field names whose values are never printed, whatever the caller passes. */
const SECRET_KEY = /token|password|secret|authorization|private.?key/i;

/** Values that look like secrets whatever their field is called: JWTs, PEM private keys, bearer credentials. */
const SECRET_VALUE = [
  /\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]+/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\b(Bearer|Basic)\s+[\w.~+/=-]{8,}/gi,
];
const REDACTED = '[redacted]';
/** Deeper than any field a log line needs; beyond it the value is summarized, so logging is never unbounded. */
const MAX_LOG_DEPTH = 8;

/** A string with any secret-looking part replaced. */
export function redactText(text: string): string {
  let out = text;
  for (const pattern of SECRET_VALUE) out = out.replace(pattern, REDACTED);
  return out;
}

/**
 * A copy of `value` safe to log: fields named like secrets (at any depth),
 * secret-looking strings, and errors' messages redacted; cycles and deep
 * nesting cut short.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) return redactText(value.message);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_LOG_DEPTH) return Array.isArray(value) ? '[list]' : '[object]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a field named __proto__ stays a field.
      Object.defineProperty(out, key, {
        value: SECRET_KEY.test(key) ? REDACTED : redact(item, depth + 1, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  } finally {
    seen.delete(value);
  }
}
