// The project's one way to read and write YAML, so the schema choice lives here.
// Reading: the YAML 1.2 core schema (strings, numbers, booleans, null, maps,
// lists; no timestamps, no `<<` merge keys, no !!binary/!!set/!!omap), one
// document, duplicate keys rejected, no anchors/aliases (Kuma's resources never
// need them, and expanding them is how a small file becomes a huge value),
// nesting bounded. JSON is YAML, so JSON input reads too. Documents from
// outside go through readYamlDocument (document.ts), which adds the other bounds.
import { CORE_SCHEMA, DUMP_SCHEMA, YAMLException, dump, loadAll } from 'js-yaml';

/** A YAML syntax error; `message` is one line: the reason and, when known, where. */
export class YamlSyntaxError extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = 'YamlSyntaxError';
  }
}

/**
 * Parses one YAML (or JSON) document. Empty input (or only comments) gives
 * null; a stream of several documents is an error, like a syntax error.
 */
export function parseYaml(text: string, options: { maxDepth?: number } = {}): unknown {
  let documents: unknown[];
  try {
    documents = loadAll(text, { schema: CORE_SCHEMA, maxAliases: 0, maxDepth: options.maxDepth ?? 100 });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const mark = err.mark;
    const reason = err.reason.startsWith('aliases exceeded')
      ? 'YAML aliases (*name) are not accepted; write the value out'
      : err.reason.startsWith('nesting exceeded')
        ? `nested deeper than the limit of ${options.maxDepth ?? 100} levels`
        : err.reason;
    if (!mark) throw new YamlSyntaxError(reason);
    throw new YamlSyntaxError(`${reason} at line ${mark.line + 1}, column ${mark.column + 1}`, mark.line + 1, mark.column + 1);
  }
  if (documents.length > 1) throw new YamlSyntaxError(`expected one document, found ${documents.length} (separated by ---)`);
  return documents[0] ?? null;
}

/**
 * Writes a JSON-like value as YAML. Strings that any YAML reader (1.1 or 1.2,
 * e.g. Envoy's) could take for another type — 'true', 'yes', '1', '0x10',
 * 'null', '2024-01-01' — are quoted; repeated objects are written out again,
 * never as anchors and aliases; long lines are not folded.
 */
export function stringifyYaml(value: unknown): string {
  return dump(value, { schema: DUMP_SCHEMA, noRefs: true, lineWidth: -1 });
}
