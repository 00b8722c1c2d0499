// protoc-gen-validate rules, checked the way Envoy's generated validators
// check them: proto3 scalars are checked even when absent (as their default
// value), messages only when present (apart from `required`), oneof members
// only when chosen.
import { isIP } from 'node:net';
import type { FieldDesc, Rules } from './descriptor.js';
import type { Reader } from './json-reader.js';
import { WELL_KNOWN, type NMessage, type NScalarKey, type NValue } from './schema.js';

type Num = number | bigint;

export function checkOneofs(reader: Reader, msg: NMessage, keyOf: Map<FieldDesc, string>, path: string, rulesEnabled: boolean): void {
  for (const oneof of msg.desc.oneofs ?? []) {
    const set = msg.desc.fields.filter((f) => f.oneof === oneof.name && keyOf.has(f));
    if (set.length > 1)
      reader.issue(path, `only one of ${quoteList(oneof.fields)} may be set (oneof '${oneof.name}'), got ${quoteList(set.map((f) => keyOf.get(f)!))}`);
    else if (set.length === 0 && oneof.required && rulesEnabled) reader.issue(path, `one of ${quoteList(oneof.fields)} is required (oneof '${oneof.name}')`);
  }
}

export function checkFieldRules(reader: Reader, field: FieldDesc, value: NValue | undefined, path: string): void {
  const rules = field.rules!;
  if (field.mapKey !== undefined) {
    const entries = (value ?? []) as Array<[string | number | bigint | boolean, NValue]>;
    const map = rules.map as Rules | undefined;
    if (!map) return;
    countRules(reader, map, entries.length, 'pairs', path, 'min_pairs', 'max_pairs');
    if (map.no_sparse === true) return;
    for (const [k, v] of entries) {
      const at = `${path}[${JSON.stringify(typeof k === 'bigint' ? k.toString() : k)}]`;
      if (map.keys) checkSingle(reader, map.keys as Rules, { ...field, type: field.mapKey, kind: 'scalar' }, k, at, true);
      if (map.values) checkSingle(reader, map.values as Rules, field, v, at, true);
    }
    return;
  }
  if (field.repeated) {
    const items = (value ?? []) as NValue[];
    const rep = rules.repeated as Rules | undefined;
    if (!rep) return;
    countRules(reader, rep, items.length, 'items', path, 'min_items', 'max_items');
    if (rep.unique === true) {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        const key = valueKey(item);
        if (seen.has(key)) reader.issue(`${path}[${i}]`, 'repeated value must contain unique items');
        seen.add(key);
      });
    }
    if (rep.items) items.forEach((item, i) => checkSingle(reader, rep.items as Rules, field, item, `${path}[${i}]`, true));
    return;
  }
  const present = value !== undefined;
  // a oneof member's rules (even message.required) apply only when that member is chosen
  if (!present && (field.oneof !== undefined || field.optional)) return;
  checkSingle(reader, rules, field, value, path, present);
}

/** A string that is equal for equal values (for `repeated.unique`). */
function valueKey(v: NValue): string {
  if (typeof v !== 'object') return `${typeof v}:${String(v)}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('base64')}`;
  if (Array.isArray(v)) return `[${v.map((x) => (Array.isArray(x) ? entryKey(x as [NScalarKey, NValue]) : valueKey(x))).join(',')}]`;
  return `{${[...v.values].map(([f, x]) => `${f.id}:${valueKey(x)}`).join(',')}}`;
}

/** A map entry's part of valueKey(): lists do not nest in protobuf, so an array inside a list is a map's [key, value]. */
function entryKey([key, value]: [NScalarKey, NValue]): string {
  return `${String(key)}=${valueKey(value)}`;
}

function countRules(reader: Reader, rules: Rules, count: number, what: string, path: string, minKey: string, maxKey: string): void {
  const min = toNum(rules[minKey]);
  const max = toNum(rules[maxKey]);
  const noun = (n: Num) => (Number(n) === 1 ? what.slice(0, -1) : what);
  if (min !== undefined && count < Number(min)) reader.issue(path, `value must contain at least ${min} ${noun(min)}`);
  if (max !== undefined && count > Number(max)) reader.issue(path, `value must contain no more than ${max} ${noun(max)}`);
}

/** Checks the rules of one value (a singular field, a list item, a map key or value). */
function checkSingle(reader: Reader, rules: Rules, field: FieldDesc, value: NValue | undefined, path: string, present: boolean): void {
  if (field.kind === 'message') {
    const required = ['message', 'duration', 'timestamp', 'any'].some((k) => (rules[k] as Rules | undefined)?.required === true);
    if (!present) {
      if (required) reader.issue(path, 'value is required');
      return;
    }
    const msg = value as NMessage;
    const local = msg.desc.name.startsWith(WELL_KNOWN) ? msg.desc.name.slice(WELL_KNOWN.length) : '';
    if (local === 'Duration' && rules.duration) checkRange(reader, rules.duration as Rules, durationNanos(msg), path, formatNanos);
    else if (local === 'Any' && rules.any) checkAny(reader, rules.any as Rules, msg, path);
    else if (local.endsWith('Value') && msg.desc.fields.length === 1) {
      // wrappers: scalar rules apply to the wrapped value
      const inner = msg.desc.fields[0]!;
      const scalarRules = rules[inner.type];
      if (scalarRules) checkScalar(reader, inner.type, scalarRules as Rules, msg.values.get(inner) ?? defaultOf(inner), path, inner);
    }
    return;
  }
  for (const [kind, kindRules] of Object.entries(rules)) {
    if (kind === 'message' || kind === 'repeated' || kind === 'map') continue;
    checkScalar(reader, kind, kindRules as Rules, value ?? defaultOf(field), path, field);
  }
}

function checkScalar(reader: Reader, kind: string, rules: Rules, value: NValue, path: string, field: FieldDesc): void {
  if (kind === 'string') return checkString(reader, rules, value as string, path);
  if (kind === 'bytes') return checkBytes(reader, rules, value as Uint8Array, path);
  if (kind === 'bool') {
    if (rules.const !== undefined && value !== rules.const) reader.issue(path, `value must equal ${showRule(rules.const)}`);
    return;
  }
  if (kind === 'enum') {
    const n = value as number;
    const desc = reader.schema.enum(field.type);
    if (rules.defined_only === true && desc && reader.schema.enumName(desc, n) === undefined)
      reader.issue(path, `value ${n} must be one of the defined values of ${field.type}`);
    checkMembership(reader, rules, n, path);
    return;
  }
  if (typeof value !== 'number' && typeof value !== 'bigint') return;
  if (rules.ignore_empty === true && Number(value) === 0) return;
  checkRange(reader, rules, value, path, String);
  checkMembership(reader, rules, value, path);
}

function checkMembership(reader: Reader, rules: Rules, value: Num | string, path: string): void {
  const eq = (rule: unknown) =>
    typeof value === 'bigint' ? toNum(rule) !== undefined && BigInt(toNum(rule)!) === value : rule === value || Number(rule) === value;
  if (rules.const !== undefined && !eq(rules.const)) reader.issue(path, `value must equal ${showRule(rules.const)}`);
  const inList = asList(rules.in);
  if (inList.length > 0 && !inList.some(eq)) reader.issue(path, `value must be in list [${inList.join(', ')}]`);
  const notIn = asList(rules.not_in);
  if (notIn.some(eq)) reader.issue(path, `value must not be in list [${notIn.join(', ')}]`);
}

/** lt/lte/gt/gte; as in PGV, an upper bound below the lower bound means "outside the range". */
function checkRange(reader: Reader, rules: Rules, value: Num, path: string, show: (n: Num) => string): void {
  const big = typeof value === 'bigint';
  const conv = (r: unknown): Num | undefined => (r === undefined ? undefined : big ? BigInt(toNum(r) ?? 0) : Number(toNum(r) ?? 0));
  const toCmp = (r: unknown): Num | undefined => (r !== undefined && typeof r === 'object' ? durationRuleNanos(r as Rules) : conv(r));
  const gt = toCmp(rules.gt);
  const gte = toCmp(rules.gte);
  const lt = toCmp(rules.lt);
  const lte = toCmp(rules.lte);
  const lower = gt ?? gte;
  const upper = lt ?? lte;
  const aboveLower = lower === undefined || (gt !== undefined ? value > gt : value >= gte!);
  const belowUpper = upper === undefined || (lt !== undefined ? value < lt : value <= lte!);
  const lowerText = lower === undefined ? '' : `${gt !== undefined ? '(' : '['}${show(lower)}`;
  const upperText = upper === undefined ? '' : `${show(upper)}${lt !== undefined ? ')' : ']'}`;
  if (lower !== undefined && upper !== undefined) {
    if (upper >= lower) {
      if (!(aboveLower && belowUpper)) reader.issue(path, `value ${show(value)} must be inside range ${lowerText}, ${upperText}`);
    } else if (!(aboveLower || belowUpper)) {
      reader.issue(
        path,
        `value ${show(value)} must be outside range ${lt !== undefined ? '[' : '('}${show(upper)}, ${show(lower)}${gt !== undefined ? ']' : ')'}`,
      );
    }
  } else if (!aboveLower) {
    reader.issue(path, `value ${show(value)} must be greater than ${gt !== undefined ? '' : 'or equal to '}${show(lower)}`);
  } else if (!belowUpper) {
    reader.issue(path, `value ${show(value)} must be less than ${lt !== undefined ? '' : 'or equal to '}${show(upper)}`);
  }
}

function checkString(reader: Reader, rules: Rules, s: string, path: string): void {
  if (rules.ignore_empty === true && s === '') return;
  const chars = [...s].length;
  const bytes = Buffer.byteLength(s);
  const n = (k: string) => (rules[k] === undefined ? undefined : Number(toNum(rules[k])));
  const fail = (message: string) => reader.issue(path, message);
  if (rules.const !== undefined && s !== rules.const) fail(`value must equal '${showRule(rules.const)}'`);
  if (n('len') !== undefined && chars !== n('len')) fail(`value length must be ${n('len')} characters`);
  if (n('min_len') !== undefined && chars < n('min_len')!) fail(`value length must be at least ${n('min_len')} characters`);
  if (n('max_len') !== undefined && chars > n('max_len')!) fail(`value length must be at most ${n('max_len')} characters`);
  if (n('len_bytes') !== undefined && bytes !== n('len_bytes')) fail(`value length must be ${n('len_bytes')} bytes`);
  if (n('min_bytes') !== undefined && bytes < n('min_bytes')!) fail(`value length must be at least ${n('min_bytes')} bytes`);
  if (n('max_bytes') !== undefined && bytes > n('max_bytes')!) fail(`value length must be at most ${n('max_bytes')} bytes`);
  if (typeof rules.prefix === 'string' && !s.startsWith(rules.prefix)) fail(`value does not have prefix '${rules.prefix}'`);
  if (typeof rules.suffix === 'string' && !s.endsWith(rules.suffix)) fail(`value does not have suffix '${rules.suffix}'`);
  if (typeof rules.contains === 'string' && !s.includes(rules.contains)) fail(`value does not contain substring '${rules.contains}'`);
  if (typeof rules.not_contains === 'string' && s.includes(rules.not_contains)) fail(`value contains substring '${rules.not_contains}'`);
  if (typeof rules.pattern === 'string') {
    const re = compile(rules.pattern);
    if (re && !re.test(s)) fail(`value does not match regex pattern '${rules.pattern}'`);
  }
  if (typeof rules.well_known_regex === 'string') {
    const re = wellKnownRegex(rules.well_known_regex, rules.strict !== false);
    if (re && !re.test(s)) fail(`value does not match regex pattern ${re.source} (${rules.well_known_regex})`);
  }
  if (rules.ip === true && isIP(s) === 0) fail('value must be a valid IP address');
  if (rules.ipv4 === true && isIP(s) !== 4) fail('value must be a valid IPv4 address');
  if (rules.ipv6 === true && isIP(s) !== 6) fail('value must be a valid IPv6 address');
  if (rules.hostname === true && !isHostname(s)) fail('value must be a valid hostname');
  if (rules.address === true && isIP(s) === 0 && !isHostname(s)) fail('value must be a valid hostname or IP address');
  if (rules.uuid === true && !/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/.test(s)) fail('value must be a valid UUID');
  if (rules.uri === true && !URL.canParse(s)) fail('value must be a valid URI');
  checkMembership(reader, { in: rules.in, not_in: rules.not_in }, s, path);
}

function checkBytes(reader: Reader, rules: Rules, b: Uint8Array, path: string): void {
  const n = (k: string) => (rules[k] === undefined ? undefined : Number(toNum(rules[k])));
  if (rules.ignore_empty === true && b.length === 0) return;
  if (n('len') !== undefined && b.length !== n('len')) reader.issue(path, `value length must be ${n('len')} bytes`);
  if (n('min_len') !== undefined && b.length < n('min_len')!) reader.issue(path, `value length must be at least ${n('min_len')} bytes`);
  if (n('max_len') !== undefined && b.length > n('max_len')!) reader.issue(path, `value length must be at most ${n('max_len')} bytes`);
}

function checkAny(reader: Reader, rules: Rules, msg: NMessage, path: string): void {
  const url = [...msg.values.entries()].find(([f]) => f.name === 'type_url')?.[1] as string | undefined;
  const inList = asList(rules.in);
  if (url !== undefined && inList.length > 0 && !inList.includes(url)) reader.issue(path, `type URL must be in list [${inList.join(', ')}]`);
  if (url !== undefined && asList(rules.not_in).includes(url)) reader.issue(path, `type URL must not be in list [${asList(rules.not_in).join(', ')}]`);
}

function durationNanos(msg: NMessage): bigint {
  let seconds = 0n;
  let nanos = 0;
  for (const [f, v] of msg.values) {
    if (f.name === 'seconds') seconds = v as bigint;
    else if (f.name === 'nanos') nanos = v as number;
  }
  return seconds * 1_000_000_000n + BigInt(nanos);
}

function durationRuleNanos(rule: Rules): bigint {
  return BigInt(toNum(rule.seconds) ?? 0) * 1_000_000_000n + BigInt(toNum(rule.nanos) ?? 0);
}

function formatNanos(n: Num): string {
  const v = BigInt(n);
  const sign = v < 0n ? '-' : '';
  const abs = v < 0n ? -v : v;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${abs / 1_000_000_000n}${frac ? `.${frac}` : ''}s`;
}

function defaultOf(field: FieldDesc): NValue {
  if (field.kind === 'enum') return 0;
  switch (field.type) {
    case 'string':
      return '';
    case 'bytes':
      return new Uint8Array();
    case 'bool':
      return false;
    default:
      return field.type.endsWith('64') ? 0n : 0;
  }
}

function toNum(v: unknown): Num | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  // protobufjs gives 64-bit option values as Long-like objects
  if (v && typeof v === 'object' && 'low' in v && 'high' in v) return longValue(v);
  return undefined;
}

/** The value of a Long (two 32-bit halves, signed unless `unsigned`), as Long's own toString() gives it. */
function longValue(long: { low: unknown; high: unknown; unsigned?: unknown }): bigint {
  const bits = (BigInt(Number(long.high) >>> 0) << 32n) | BigInt(Number(long.low) >>> 0);
  return long.unsigned === true ? bits : BigInt.asIntN(64, bits);
}

/** A rule's value (`const`) as the messages show it: strings as they are, numbers (also 64-bit) in decimal. */
function showRule(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  const n = toNum(v);
  return n === undefined ? JSON.stringify(v) : String(n);
}

const asList = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const quoteList = (names: string[]): string => names.map((n) => `'${n}'`).join(', ');

const regexCache = new Map<string, RegExp | null>();
function compile(pattern: string): RegExp | null {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null; // an RE2 construct JavaScript lacks: the rule is not checked
    }
    regexCache.set(pattern, re);
  }
  return re;
}

// The well-known patterns. The two that reject control characters are spelled
// as escapes in a string (a failing value's message quotes the pattern's source).
const NO_NUL_CR_LF = '^[^\\u0000\\n\\r]*$';
const NO_CONTROL_BUT_TAB = '^[^\\u0000-\\u0008\\u000A-\\u001F\\u007F]*$';
const HEADER_STRING = new RegExp(NO_NUL_CR_LF); // strict: false
const HTTP_HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HTTP_HEADER_VALUE = new RegExp(NO_CONTROL_BUT_TAB);

function wellKnownRegex(name: string, strict: boolean): RegExp | undefined {
  if (!strict) return HEADER_STRING;
  if (name === 'HTTP_HEADER_NAME') return HTTP_HEADER_NAME;
  if (name === 'HTTP_HEADER_VALUE') return HTTP_HEADER_VALUE;
  return undefined;
}

function isHostname(s: string): boolean {
  const host = s.endsWith('.') ? s.slice(0, -1) : s;
  return host.length > 0 && host.length <= 253 && host.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}
