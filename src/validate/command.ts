// `kuma-dp validate <file>`: checks an Envoy config file (YAML or JSON) as
// `envoy --mode validate` would, and prints every problem with its path,
// marked definite (a known field breaks its rules) or unknown (a field, enum
// value or type the validator's older Envoy API does not have).
import { readFile } from 'node:fs/promises';
import { parseYaml } from '../util/yaml.js';
import { isObject, type ValidationIssue } from './json-reader.js';
import { TYPE_NAME, VALIDATOR_ENVOY_API, loadValidator, resolveTypeName, splitIssues } from './validation.js';

export const TYPE_CHOICES = Object.keys(TYPE_NAME);

/**
 * Validates `file` as a `opts.type` (default: bootstrap). A list of
 * resources, each carrying "@type", is accepted unless another type is given.
 * Returns the exit code: 0 when valid, 1 otherwise.
 */
export async function validateCommand(file: string, opts: { type?: string } = {}): Promise<number> {
  const fail = (message: string) => {
    process.stderr.write(`${file}: ${message}\n`);
    return 1;
  };
  if (opts.type !== undefined && !Object.hasOwn(TYPE_NAME, opts.type) && !opts.type.includes('.')) {
    return fail(`unknown --type '${opts.type}'; expected one of ${TYPE_CHOICES.join(', ')} (or a full message name such as ${TYPE_NAME.listener})`);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return fail(`cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = parseYaml(text);
  } catch (err) {
    return fail(`not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (json === null || json === undefined) return fail('the file is empty; expected an Envoy config');

  const validate = await loadValidator();
  let issues: ValidationIssue[];
  // A list can never be a bootstrap, so with the default type it is read as a list of resources.
  if (Array.isArray(json) && (opts.type === undefined || opts.type === 'bootstrap')) {
    issues = json.flatMap((resource, i) => {
      const typeUrl = isObject(resource) ? resource['@type'] : undefined;
      if (typeof typeUrl !== 'string')
        return [{ path: `[${i}]`, message: 'each resource in a list needs an "@type" (e.g. type.googleapis.com/envoy.config.listener.v3.Listener)' }];
      const fields = { ...(resource as Record<string, unknown>) };
      delete fields['@type'];
      return validate(fields, typeUrl).map((issue) => ({ ...issue, path: issue.path === '(document)' ? `[${i}]` : `[${i}].${issue.path}` }));
    });
  } else {
    issues = validate(json, resolveTypeName(opts.type ?? 'bootstrap'));
  }
  if (issues.length > 0) {
    // Definite: a known field breaks its rules. Unknown: the descriptor's API (older than Envoy's) lacks it.
    const { definite, unknown } = splitIssues(issues);
    const tag = (i: ValidationIssue): string => (i.unknown ? 'unknown' : 'definite');
    process.stderr.write(issues.map((i) => `${file}: ${i.path}: [${tag(i)}] ${i.message}\n`).join(''));
    process.stderr.write(
      `${file}: ${definite.length} definite problem${definite.length === 1 ? '' : 's'} (Envoy rejects these), ${unknown.length} unknown to this validator (its Envoy API is ${VALIDATOR_ENVOY_API}; a newer Envoy may accept them)\n`,
    );
    return 1;
  }
  process.stdout.write(`configuration '${file}' OK\n`);
  return 0;
}
