// The answer to `POST /bootstrap`: Kuma's BootstrapResponse JSON
// ({"bootstrap": <base64 of the Envoy bootstrap YAML>, "kumaSidecarConfiguration": {...}}),
// or, from older control planes, the YAML itself as text/x-yaml.

import { CONTROL_PLANE_LIMITS, DocumentError, isObject, readJsonDocument } from '../util/document.js';

/** Kuma's KumaSidecarConfiguration, as far as kuma-dp uses it. */
export interface KumaSidecarConfiguration {
  networking?: { address?: string };
  metrics?: { aggregate?: Array<{ name?: string; address?: string; port?: number; path?: string }> | null };
  [key: string]: unknown;
}

export interface BootstrapResult {
  bootstrapYaml: string;
  kumaSidecarConfiguration?: KumaSidecarConfiguration;
}

/** The response body a control plane sends (the mini CP uses this). */
export function encodeBootstrapResponse(bootstrapYaml: string, kumaSidecarConfiguration: KumaSidecarConfiguration = {}): string {
  return JSON.stringify({ bootstrap: Buffer.from(bootstrapYaml, 'utf8').toString('base64'), kumaSidecarConfiguration });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// The first meaningful line of a YAML (or JSON) mapping: `key:` or `{`.
const MAPPING_START = /^(?:---\s*\n|#[^\n]*\n|\s*\n)*(?:\{|["']?[\w.-]+["']?\s*:)/;

/** Thrown for a 200 answer that is not a bootstrap; the message says what was wrong. */
export class BadBootstrapResponse extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadBootstrapResponse';
  }
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function checkYaml(yaml: string, where: string): string {
  if (!MAPPING_START.test(yaml)) {
    const start = JSON.stringify(yaml.slice(0, 60));
    throw new BadBootstrapResponse(`${where} is not an Envoy bootstrap (a YAML mapping); it starts with ${start}`);
  }
  return yaml;
}

function decodeJson(body: string): BootstrapResult {
  let parsed: unknown;
  try {
    parsed = readJsonDocument(body, CONTROL_PLANE_LIMITS);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new BadBootstrapResponse(`the response cannot be read: ${err.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadBootstrapResponse('the response is not a JSON object with a "bootstrap" field');
  }
  const { bootstrap, kumaSidecarConfiguration } = parsed as Record<string, unknown>;
  if (typeof bootstrap !== 'string' || bootstrap.length === 0) {
    throw new BadBootstrapResponse('the response has no "bootstrap" field (a base64 string)');
  }
  if (bootstrap.length % 4 !== 0 || !BASE64.test(bootstrap)) {
    throw new BadBootstrapResponse('the response\'s "bootstrap" field is not base64');
  }
  if (
    kumaSidecarConfiguration !== undefined &&
    kumaSidecarConfiguration !== null &&
    (typeof kumaSidecarConfiguration !== 'object' || Array.isArray(kumaSidecarConfiguration))
  ) {
    throw new BadBootstrapResponse('the response\'s "kumaSidecarConfiguration" field is not an object');
  }
  const bootstrapYaml = checkYaml(Buffer.from(bootstrap, 'base64').toString('utf8'), 'the decoded "bootstrap" field');
  if (isObject(kumaSidecarConfiguration)) checkSidecarConfiguration(kumaSidecarConfiguration);
  return kumaSidecarConfiguration ? { bootstrapYaml, kumaSidecarConfiguration: kumaSidecarConfiguration as KumaSidecarConfiguration } : { bootstrapYaml };
}

/** The fields of kumaSidecarConfiguration the agent reads must have the types it reads them as. */
function checkSidecarConfiguration(config: Record<string, unknown>): void {
  const bad = (path: string, what: string): never => {
    throw new BadBootstrapResponse(`the response's kumaSidecarConfiguration.${path} is not ${what}`);
  };
  const { networking, metrics } = config;
  if (networking !== undefined && networking !== null) {
    if (!isObject(networking)) bad('networking', 'an object');
    else if (networking.address !== undefined && networking.address !== null && typeof networking.address !== 'string') bad('networking.address', 'a string');
  }
  if (metrics === undefined || metrics === null) return;
  if (!isObject(metrics)) return bad('metrics', 'an object');
  const aggregate = metrics.aggregate;
  if (aggregate === undefined || aggregate === null) return;
  if (!Array.isArray(aggregate)) return bad('metrics.aggregate', 'a list');
  aggregate.forEach((item, i) => {
    if (!isObject(item)) bad(`metrics.aggregate[${i}]`, 'an object');
    const entry = item as Record<string, unknown>;
    for (const key of ['name', 'address', 'path']) {
      if (entry[key] !== undefined && entry[key] !== null && typeof entry[key] !== 'string') bad(`metrics.aggregate[${i}].${key}`, 'a string');
    }
    if (entry.port !== undefined && entry.port !== null && typeof entry.port !== 'number') bad(`metrics.aggregate[${i}].port`, 'a number');
  });
}

/** Decodes a 200 answer to /bootstrap by its content type. */
export function decodeBootstrapResponse(contentType: string | undefined, body: string): BootstrapResult {
  const type = mediaType(contentType);
  if (type === 'application/json') return decodeJson(body);
  if (type.endsWith('yaml')) return { bootstrapYaml: checkYaml(body, 'the YAML response') };
  // No or a generic content type: Kuma's own server always sends one, so guess from the body.
  if (type === '' || type === 'text/plain' || type === 'application/octet-stream') {
    return body.trimStart().startsWith('{') ? decodeJson(body) : { bootstrapYaml: checkYaml(body, 'the response') };
  }
  throw new BadBootstrapResponse(`unexpected content type '${contentType}'; expected application/json (or text/x-yaml from older control planes)`);
}
