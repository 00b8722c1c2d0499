// JSON text as Go's encoding/json Marshal writes a value decoded into `any`:
// object keys sorted bytewise, `<`, `>`, `&`, U+2028 and U+2029 escaped,
// control characters as \b \f \n \r \t or \u00xx, numbers as float64
// (JavaScript's shortest form is Go's for every finite double, except -0).
// Kuma's streamer re-encodes a non-string access-log `message` this way, so
// the bytes a collector receives do not depend on which kuma-dp sent them.

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Whether Go escapes this UTF-16 unit: controls, quote, backslash, HTML's <>&, and U+2028/U+2029. */
function needsEscape(code: number): boolean {
  return code < 0x20 || code === 0x22 || code === 0x5c || code === 0x3c || code === 0x3e || code === 0x26 || code === 0x2028 || code === 0x2029;
}

const isHigh = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number): boolean => code >= 0xdc00 && code <= 0xdfff;

/** A JS string as Go writes it; a lone surrogate becomes U+FFFD, as Go's decoder already made it. */
export function goJsonString(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (isHigh(code) && isLow(s.charCodeAt(i + 1))) {
      i++;
      continue;
    }
    let replacement: string;
    if (isHigh(code) || isLow(code)) replacement = '\ufffd';
    else if (needsEscape(code)) replacement = SHORT_ESCAPES[s[i]!] ?? `\\u${code.toString(16).padStart(4, '0')}`;
    else continue;
    out += s.slice(from, i) + replacement;
    from = i + 1;
  }
  return out + s.slice(from) + '"';
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Go's json.Marshal of a value JSON.parse produced (null, boolean, number, string, array, object). */
export function goJsonMarshal(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return goJsonString(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(goJsonMarshal).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byteOrder(a, b));
      return `{${entries.map(([k, v]) => `${goJsonString(k)}:${goJsonMarshal(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`not a JSON value: ${typeof value}`);
  }
}
