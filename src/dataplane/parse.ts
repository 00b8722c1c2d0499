// Text (YAML or JSON, possibly a mustache template) → a Dataplane object,
// checked strictly for shape. Semantic rules live in validate.ts.
import Mustache from 'mustache';
import { UserError, formatFieldErrors } from '../util/errors.js';
import { DocumentError, readYamlDocument } from '../util/document.js';
import { checkShape, dataplaneSchema, toCamelCase } from './schema.js';
import type { Dataplane } from './types.js';

/** Turns repeated `k=v` pairs into a view; dotted keys nest (`a.b=c` → {a: {b: 'c'}}). */
export function templateVars(pairs: readonly string[]): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UserError(`--dataplane-var '${pair}': expected key=value`);
    const keys = pair.slice(0, eq).split('.');
    let node = view;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (typeof next === 'string') throw new UserError(`--dataplane-var '${pair}': '${key}' is already set to a value, it cannot also hold keys`);
      node = (node[key] ??= {}) as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = pair.slice(eq + 1);
  }
  return view;
}

function lookup(view: Record<string, unknown>, dotted: string): unknown {
  if (dotted === '.') return view;
  let node: unknown = view;
  for (const key of dotted.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

type Token = [string, string, number, number, Token[]?];

/** Every variable a template uses must be given: an empty value in a Dataplane is never what the user meant. */
function missingVariables(tokens: Token[], view: Record<string, unknown>, missing: Set<string>): Set<string> {
  for (const token of tokens) {
    const [kind, name, , , children] = token;
    if ((kind === 'name' || kind === '&') && lookup(view, name) === undefined) missing.add(name);
    if (children) missingVariables(children, view, missing);
  }
  return missing;
}

export function renderTemplate(text: string, vars: Record<string, unknown>, source: string): string {
  if (!text.includes('{{')) return text;
  let tokens: Token[];
  try {
    tokens = Mustache.parse(text) as unknown as Token[];
  } catch (err) {
    throw new UserError(`${source}: invalid template: ${(err as Error).message}`);
  }
  const missing = [...missingVariables(tokens, vars, new Set())];
  if (missing.length > 0) {
    const list = missing.map((m) => `'${m}'`).join(', ');
    throw new UserError(`${source}: template variable ${list} not set; pass --dataplane-var ${missing[0]}=<value>`);
  }
  // The result is YAML, not HTML: values go in as given.
  return Mustache.render(text, vars, {}, { escape: (value: string) => value });
}

/** One YAML or JSON document, read by the strict reader (document.ts); errors name `source` and the path. */
export function parseYamlOrJson(text: string, source: string): unknown {
  try {
    return readYamlDocument(text);
  } catch (err) {
    if (err instanceof DocumentError) throw new UserError(`${source}: ${err.message}`);
    throw err;
  }
}

/** Parses a Dataplane document; `source` names where it came from in every error. */
export function parseDataplane(text: string, source: string): Dataplane {
  const value = parseYamlOrJson(text, source);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`${source}: expected a Dataplane resource (an object with type, mesh, name, networking)`);
  }
  const shapeErrors = checkShape(value, dataplaneSchema, '');
  if (shapeErrors.length > 0) {
    throw new UserError(`${source}: invalid Dataplane: ${formatFieldErrors(shapeErrors)}`);
  }
  return toCamelCase(value, dataplaneSchema) as Dataplane;
}
