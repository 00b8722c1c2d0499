// Where the Dataplane comes from (inline, file, stdin), templated with
// --dataplane-var, parsed strictly and validated — all before the control
// plane is contacted. Also settles the name and mesh the agent runs as.
import { readFileSync } from 'node:fs';
import { UserError, formatFieldErrors } from '../util/errors.js';
import type { Dataplane } from './types.js';
import { validateDataplane, validateMeshName, validateResourceName } from './validate.js';

export interface DataplaneSource {
  inline?: string;
  file?: string;
  vars: readonly string[];
  name?: string;
  mesh?: string;
  proxyType: 'dataplane' | 'ingress' | 'egress';
  readStdin?: () => Promise<string>;
}

export interface LoadedDataplane {
  name: string;
  mesh: string;
  /** The resource as given by the user, if any. */
  resource?: Dataplane;
  /** The resource as Kuma's BootstrapRequest carries it: a JSON string, or "" when none. */
  resourceJson: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readSource(src: DataplaneSource): Promise<{ text: string; where: string } | undefined> {
  if (src.inline !== undefined) return { text: src.inline, where: '--dataplane' };
  if (src.file === undefined) return undefined;
  if (src.file === '-') return { text: await (src.readStdin ?? readStdin)(), where: '--dataplane-file - (stdin)' };
  try {
    return { text: readFileSync(src.file, 'utf8'), where: src.file };
  } catch (err) {
    throw new UserError(`--dataplane-file ${src.file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function loadDataplane(src: DataplaneSource): Promise<LoadedDataplane> {
  const source = await readSource(src);
  if (!source) {
    const errors: { field: string; message: string }[] = [];
    validateResourceName(src.name, '--name (KUMA_DATAPLANE_NAME)', errors);
    validateMeshName(src.mesh, '--mesh (KUMA_DATAPLANE_MESH)', errors);
    if (errors.length > 0) {
      throw new UserError(`without a Dataplane resource (--dataplane or --dataplane-file), ${formatFieldErrors(errors)}`);
    }
    return { name: src.name!, mesh: src.mesh!, resourceJson: '' };
  }
  if (src.name !== undefined || src.mesh !== undefined) {
    throw new UserError('--name and --mesh cannot be given together with a Dataplane resource: the name and mesh are read from the resource');
  }
  // YAML and mustache are loaded only when there is a resource to read.
  const { parseDataplane, renderTemplate, templateVars } = await import('./parse.js');
  const text = renderTemplate(source.text, templateVars(src.vars), source.where);
  if (src.proxyType !== 'dataplane') return loadZoneProxy(text, source.where, src.proxyType);
  const resource = parseDataplane(text, source.where);
  const errors = validateDataplane(resource);
  if (errors.length > 0) throw new UserError(`${source.where}: invalid Dataplane: ${formatFieldErrors(errors)}`);
  return { name: resource.name, mesh: resource.mesh, resource, resourceJson: JSON.stringify(resource) };
}

/** ZoneIngress / ZoneEgress resources are passed to the control plane, which validates them. */
async function loadZoneProxy(text: string, where: string, proxyType: 'ingress' | 'egress'): Promise<LoadedDataplane> {
  const { parseYamlOrJson } = await import('./parse.js');
  const expected = proxyType === 'ingress' ? 'ZoneIngress' : 'ZoneEgress';
  const value = parseYamlOrJson(text, where) as Record<string, unknown> | null;
  if (!value || value.type !== expected) throw new UserError(`${where}: type: must be '${expected}' for --proxy-type ${proxyType}`);
  const errors: { field: string; message: string }[] = [];
  validateResourceName(value.name, 'name', errors);
  if (value.mesh !== undefined && value.mesh !== null && typeof value.mesh !== 'string') errors.push({ field: 'mesh', message: 'must be a string' });
  if (errors.length > 0) throw new UserError(`${where}: ${formatFieldErrors(errors)}`);
  return { name: value.name as string, mesh: typeof value.mesh === 'string' ? value.mesh : '', resourceJson: JSON.stringify(value) };
}
