// Loads the YAML templates in envoy-templates/ and fills them in structurally
// (never as text), so a value can't break the YAML it lands in.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { installPath } from '../util/install-paths.js';
import { parseYaml } from '../util/yaml.js';

export const DEFAULT_TEMPLATES_DIR = installPath('envoy-templates');

export const TEMPLATE_NAMES = ['listener', 'filter-tcp-proxy', 'filter-http', 'cluster-static', 'cluster-eds', 'load-assignment', 'lb-endpoint'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

const WHOLE = /^\{\{\s*([\w.]+)\s*\}\}$/;
const INSIDE = /\{\{\s*([\w.]+)\s*\}\}/g;

export class Templates {
  private constructor(
    readonly dir: string,
    private readonly parsed: Map<TemplateName, unknown>,
  ) {}

  /** Reads every template from `dir`; a missing or malformed file names itself. */
  static load(dir: string = DEFAULT_TEMPLATES_DIR): Templates {
    const parsed = new Map<TemplateName, unknown>();
    for (const name of TEMPLATE_NAMES) {
      const file = join(dir, `${name}.yaml`);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new UserError(
          `envoy template ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); --envoy-templates-dir must hold ${TEMPLATE_NAMES.map((n) => `${n}.yaml`).join(', ')}`,
        );
      }
      try {
        parsed.set(name, parseYaml(text));
      } catch (err) {
        throw new UserError(`envoy template ${file} is not valid YAML: ${(err as Error).message}`);
      }
    }
    return new Templates(dir, parsed);
  }

  render(name: TemplateName, vars: Record<string, unknown>): Record<string, unknown> {
    const where = join(this.dir, `${name}.yaml`);
    return fill(this.parsed.get(name), vars, where) as Record<string, unknown>;
  }
}

function value(vars: Record<string, unknown>, key: string, where: string): unknown {
  if (!(key in vars)) throw new UserError(`envoy template ${where} uses {{${key}}}, which is not one of: ${Object.keys(vars).join(', ')}`);
  return vars[key];
}

function fill(node: unknown, vars: Record<string, unknown>, where: string): unknown {
  if (typeof node === 'string') {
    const whole = WHOLE.exec(node);
    if (whole) return value(vars, whole[1]!, where);
    return node.replace(INSIDE, (_, key: string) => String(value(vars, key, where)));
  }
  if (Array.isArray(node)) return node.map((item) => fill(item, vars, where));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node)) out[key] = fill(item, vars, where);
    return out;
  }
  return node;
}
