// Reading the bootstrap as Envoy does: the file (.json, .yaml/.yml, or binary
// .pb) with --config-yaml merged over it (proto merge: messages merge, lists
// append, scalars replace), checked strictly with the project's validator and
// turned into canonical proto3 JSON (snake_case), the only form the rest of
// the stand-in reads.
import { readFileSync } from 'node:fs';
import { parseYaml } from '../../src/util/yaml.js';
import type { Bootstrap } from './envoy-config.js';
import { envoyTypes, type EnvoyTypes } from './types.js';

/** Config as parsed, before the validator gives it a shape (envoy-config.ts). */
export type Json = Record<string, unknown>;

export const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

/** Envoy's "error initializing configuration" reason. */
export class ConfigError extends Error {}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const isList = (v: unknown): v is unknown[] => Array.isArray(v);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Protobuf MergeFrom over JSON; a key spelt in camelCase and in snake_case is the same field. */
export function mergeProtoJson(base: Json, overlay: Json): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    const target = key in out ? key : (Object.keys(out).find((k) => snake(k) === snake(key)) ?? key);
    const existing = out[target];
    if (isList(existing) && isList(value)) out[target] = [...existing, ...value];
    else if (isObject(existing) && isObject(value) && existing['@type'] === value['@type']) out[target] = mergeProtoJson(existing, value);
    else out[target] = value;
  }
  return out;
}

function parseText(text: string, what: string): Json {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`Unable to parse YAML/JSON in ${what}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObject(doc)) throw new ConfigError(`Unable to convert YAML as JSON: ${what} is not a mapping`);
  return doc;
}

function readBootstrapFile(path: string, types: EnvoyTypes): Json {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(code === 'ENOENT' ? `Invalid path: ${path}` : `unable to read file: ${path}: ${(err as Error).message}`);
  }
  if (path.endsWith('.pb')) {
    try {
      return types.decode(bytes, BOOTSTRAP);
    } catch (err) {
      throw new ConfigError(`Unable to parse file "${path}" as a type ${BOOTSTRAP} (binary): ${(err as Error).message}`);
    }
  }
  return parseText(bytes.toString('utf8'), path);
}

/** Throws ConfigError naming every problem Envoy's strict reader would report. */
export function checkResource(types: EnvoyTypes, json: unknown, typeName: string): Json {
  const errors = types.validate(json, typeName);
  if (errors.length > 0) {
    throw new ConfigError(`Proto constraint validation failed (${typeName}): ${errors.map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')}`);
  }
  // A round trip through the wire format gives the canonical spelling: snake_case, Duration strings.
  return types.decode(types.encode(json, typeName), typeName);
}

export async function loadBootstrap(configPath: string, configYaml: string): Promise<Bootstrap> {
  if (!configPath && !configYaml) {
    throw new ConfigError('At least one of --config-path or --config-yaml or Options::configProto() should be non-empty');
  }
  const types = await envoyTypes();
  let doc: Json = configPath ? readBootstrapFile(configPath, types) : {};
  if (configYaml) doc = mergeProtoJson(doc, parseText(configYaml, '--config-yaml'));
  // Checked against Bootstrap's descriptor: it has the shape the Bootstrap type describes.
  const bootstrap: Bootstrap = checkResource(types, doc, BOOTSTRAP);
  checkBootstrapSemantics(bootstrap);
  return bootstrap;
}

/** The checks Envoy makes beyond the proto rules, for what this stand-in reads. */
function checkBootstrapSemantics(b: Bootstrap): void {
  const clusters = b.static_resources?.clusters ?? [];
  const names = new Set<string | undefined>();
  for (const c of clusters) {
    if (names.has(c.name)) throw new ConfigError(`cluster manager: duplicate cluster '${c.name}'`);
    names.add(c.name);
  }
  const listeners = b.static_resources?.listeners ?? [];
  const listenerNames = new Set<string | undefined>();
  for (const l of listeners) {
    if (listenerNames.has(l.name)) throw new ConfigError(`error adding listener named '${l.name}': duplicate listener`);
    listenerNames.add(l.name);
  }
  const ads = b.dynamic_resources?.ads_config;
  if (ads) {
    const cluster = ads.grpc_services?.[0]?.envoy_grpc?.cluster_name;
    if (ads.api_type !== 'GRPC' && ads.api_type !== 'DELTA_GRPC' && ads.api_type !== 'AGGREGATED_GRPC' && ads.api_type !== 'AGGREGATED_DELTA_GRPC') {
      throw new ConfigError(`ads_config: api_type ${ads.api_type ?? 'REST'} is not supported for ADS; use GRPC or DELTA_GRPC`);
    }
    if (!cluster)
      throw new ConfigError('ads_config: API configs must have either a gRPC service or a cluster name defined (grpc_services[0].envoy_grpc.cluster_name)');
    if (!names.has(cluster))
      throw new ConfigError(
        `envoy.config.core.v3.ApiConfigSource: unknown gRPC cluster '${cluster}': it must be a static cluster in static_resources.clusters`,
      );
  }
}
