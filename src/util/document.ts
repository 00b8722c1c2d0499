// The one reader for every document that comes from outside the process:
// Dataplane files, API and bootstrap request bodies, bootstrap answers, the
// store file, policies. It turns JSON or YAML text into plain data that is
// safe to walk:
// - every object has no prototype, so `__proto__`, `constructor`, `toString`
//   are ordinary keys and nothing inherited is ever read as if it were given;
// - the text, the nesting depth and the number of values are bounded, so no
//   document costs unbounded time or memory (YAML aliases are refused by
//   parseYaml: Kuma's resources never need them);
// - only JSON values (no NaN or Infinity);
// - a rejection names the path of what it rejects.
import { parseYaml } from './yaml.js';

export interface DocumentLimits {
  /** The text's size in bytes (UTF-8). */
  maxBytes: number;
  /** Objects and lists nested deeper than this are refused. */
  maxDepth: number;
  /** Every object, list and scalar counts one. */
  maxValues: number;
}

/** Far above any Kuma resource or Envoy bootstrap (a few KiB, a few hundred values), far below what costs memory. */
export const DOCUMENT_LIMITS: DocumentLimits = { maxBytes: 256 * 1024, maxDepth: 64, maxValues: 50_000 };

/**
 * What a control plane sends that grows with the mesh (a bootstrap with its CA bundle, the DNS map,
 * a zone's config answer): larger, still bounded.
 */
export const CONTROL_PLANE_LIMITS: DocumentLimits = { maxBytes: 16 * 1024 * 1024, maxDepth: 64, maxValues: 1_000_000 };

/** The store file holds every resource: larger, but still bounded (~200,000 Dataplanes). */
export const STORE_FILE_LIMITS: DocumentLimits = { maxBytes: 256 * 1024 * 1024, maxDepth: 64, maxValues: 20_000_000 };

/** A document that cannot be read; `path` locates the problem (dotted, `[i]` for list items; '' for the whole). */
export class DocumentError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(path ? `${path}: ${reason}` : reason);
    this.name = 'DocumentError';
  }
}

/** A JSON value whose objects have no prototype. */
export type Plain = null | boolean | number | string | Plain[] | PlainObject;
export interface PlainObject {
  [key: string]: Plain;
}

const SIMPLE_KEY = /^[A-Za-z_$][\w$-]*$/;
/** Appends a key to a dotted path; keys that would read ambiguously are quoted (`tags["kuma.io/service"]`). */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (SIMPLE_KEY.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

function checkSize(text: string, limits: DocumentLimits): void {
  // text.length is at most the byte count; only count bytes when it may matter.
  if (text.length * 3 > limits.maxBytes && Buffer.byteLength(text) > limits.maxBytes) {
    throw new DocumentError('', `the document is larger than the limit of ${limits.maxBytes} bytes`);
  }
}

/** Reads JSON text. Syntax errors say where. */
export function readJsonDocument(text: string, limits: DocumentLimits = DOCUMENT_LIMITS): Plain {
  checkSize(text, limits);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DocumentError('', `not valid JSON: ${(err as Error).message}`);
  }
  return toPlain(value, limits);
}

/** Reads YAML (or JSON, which is YAML) text: one document, no aliases, no duplicate keys. Empty text is null. */
export function readYamlDocument(text: string, limits: DocumentLimits = DOCUMENT_LIMITS): Plain {
  checkSize(text, limits);
  let value: unknown;
  try {
    // The reader's own depth check names the path; the parser's, further down, only bounds the work.
    value = parseYaml(text, { maxDepth: limits.maxDepth * 4 });
  } catch (err) {
    throw new DocumentError('', `not valid YAML or JSON: ${(err as Error).message}`);
  }
  return toPlain(value, limits);
}

/**
 * Copies an already parsed value into plain data, with the same checks as
 * the readers (depth, count, JSON values only). Used for values that did not
 * come as text, and by the readers themselves.
 */
export function toPlain(value: unknown, limits: DocumentLimits = DOCUMENT_LIMITS, path = ''): Plain {
  let values = 0;
  // The keys down to the value being copied; a path string is built only for an error.
  const keys: Array<string | number> = [];
  const fail = (reason: string): never => {
    throw new DocumentError(shorten(keys.reduce<string>((at, key) => childPath(at, key), path)), reason);
  };
  const copy = (v: unknown, depth: number): Plain => {
    if (++values > limits.maxValues) fail(`the document has more than ${limits.maxValues} values`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : fail(`${String(v)} is not a JSON number`);
    if (typeof v !== 'object') return fail(`a ${typeof v} is not a JSON value`);
    if (depth >= limits.maxDepth) fail(`nested deeper than the limit of ${limits.maxDepth} levels`);
    if (Array.isArray(v)) {
      const list: Plain[] = new Array<Plain>(v.length);
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        list[i] = copy(v[i], depth + 1);
        keys.pop();
      }
      return list;
    }
    const out = Object.create(null) as PlainObject;
    for (const key of Object.keys(v)) {
      keys.push(key);
      out[key] = copy((v as Record<string, unknown>)[key], depth + 1);
      keys.pop();
    }
    return out;
  };
  return copy(value, 0);
}

/** A path 64 levels deep is noise: keep its start and its length. */
function shorten(path: string): string {
  return path.length > 120 ? `${path.slice(0, 100)}…` : path;
}

/** True for a (plain) object that is not a list. */
export function isObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
