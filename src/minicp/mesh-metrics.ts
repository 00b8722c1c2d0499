// A Mesh's `metrics` section as Kuma's Mesh resource shapes it
// (api/mesh/v1alpha1/metrics.proto): the backends the mesh may use and the
// one enabled. Only the `prometheus` type exists in Kuma. Checked strictly:
// unknown fields and wrong types are refused with their path, and
// `enabledBackend` must name one of `backends`.
import { childPath, isObject } from '../util/document.js';
import type { FieldError } from '../util/errors.js';

export interface PrometheusBackendConf {
  port?: number;
  path?: string;
  skipMTLS?: boolean;
  tags?: Record<string, string>;
  aggregate?: Array<{ name: string; port?: number; path?: string; enabled?: boolean; address?: string }>;
  envoy?: { filterRegex?: string; usedOnly?: boolean };
  tls?: { mode?: string };
}

export interface MetricsBackend {
  name: string;
  type: 'prometheus';
  conf?: PrometheusBackendConf;
}

export interface MeshMetrics {
  enabledBackend?: string;
  backends?: MetricsBackend[];
}

const TLS_MODES = ['activeMTLSBackend', 'providedTLS', 'disabled'];

function onlyKeys(value: Record<string, unknown>, known: readonly string[], path: string, errors: FieldError[]): void {
  for (const key of Object.keys(value))
    if (!known.includes(key)) errors.push({ field: childPath(path, key), message: `unknown field (known: ${known.join(', ')})` });
}

function checkPort(value: unknown, path: string, errors: FieldError[]): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535))
    errors.push({ field: path, message: 'must be a port number (1-65535)' });
}

function checkPath(value: unknown, path: string, errors: FieldError[]): void {
  if (value !== undefined && (typeof value !== 'string' || !value.startsWith('/'))) errors.push({ field: path, message: "must be a path starting with '/'" });
}

function checkType(value: unknown, type: 'string' | 'boolean', path: string, errors: FieldError[]): void {
  if (value !== undefined && typeof value !== type) errors.push({ field: path, message: `must be a ${type}` });
}

function checkConf(conf: unknown, path: string, errors: FieldError[]): void {
  if (conf === undefined) return;
  if (!isObject(conf)) {
    errors.push({ field: path, message: 'must be an object (port, path, skipMTLS, tags, aggregate, envoy, tls)' });
    return;
  }
  onlyKeys(conf, ['port', 'path', 'skipMTLS', 'tags', 'aggregate', 'envoy', 'tls'], path, errors);
  checkPort(conf.port, childPath(path, 'port'), errors);
  checkPath(conf.path, childPath(path, 'path'), errors);
  checkType(conf.skipMTLS, 'boolean', childPath(path, 'skipMTLS'), errors);
  if (conf.tags !== undefined && (!isObject(conf.tags) || Object.values(conf.tags).some((v) => typeof v !== 'string')))
    errors.push({ field: childPath(path, 'tags'), message: 'must map tag names to strings' });
  if (conf.aggregate !== undefined) {
    if (!Array.isArray(conf.aggregate)) errors.push({ field: childPath(path, 'aggregate'), message: 'must be a list' });
    else
      conf.aggregate.forEach((entry, i) => {
        const at = childPath(childPath(path, 'aggregate'), i);
        if (!isObject(entry)) return errors.push({ field: at, message: 'must be an object (name, port, path, enabled, address)' });
        onlyKeys(entry, ['name', 'port', 'path', 'enabled', 'address'], at, errors);
        if (typeof entry.name !== 'string' || entry.name === '') errors.push({ field: childPath(at, 'name'), message: 'is required' });
        checkPort(entry.port, childPath(at, 'port'), errors);
        checkPath(entry.path, childPath(at, 'path'), errors);
        checkType(entry.enabled, 'boolean', childPath(at, 'enabled'), errors);
        checkType(entry.address, 'string', childPath(at, 'address'), errors);
      });
  }
  if (conf.envoy !== undefined) {
    const at = childPath(path, 'envoy');
    if (!isObject(conf.envoy)) errors.push({ field: at, message: 'must be an object (filterRegex, usedOnly)' });
    else {
      onlyKeys(conf.envoy, ['filterRegex', 'usedOnly'], at, errors);
      checkType(conf.envoy.filterRegex, 'string', childPath(at, 'filterRegex'), errors);
      checkType(conf.envoy.usedOnly, 'boolean', childPath(at, 'usedOnly'), errors);
    }
  }
  if (conf.tls !== undefined) {
    const at = childPath(path, 'tls');
    if (!isObject(conf.tls)) errors.push({ field: at, message: 'must be an object (mode)' });
    else {
      onlyKeys(conf.tls, ['mode'], at, errors);
      if (conf.tls.mode !== undefined && !TLS_MODES.includes(conf.tls.mode as string))
        errors.push({ field: childPath(at, 'mode'), message: `must be one of ${TLS_MODES.join(', ')}` });
    }
  }
}

/** The field errors of a Mesh's `metrics` (paths under `path`, normally `metrics`); none when valid or absent. */
export function checkMeshMetrics(value: unknown, path = 'metrics'): FieldError[] {
  if (value === undefined || value === null) return [];
  if (!isObject(value)) return [{ field: path, message: 'must be an object (enabledBackend, backends)' }];
  const errors: FieldError[] = [];
  onlyKeys(value, ['enabledBackend', 'backends'], path, errors);
  const names = new Set<string>();
  const backends = value.backends;
  if (backends !== undefined && backends !== null) {
    if (!Array.isArray(backends)) errors.push({ field: childPath(path, 'backends'), message: 'must be a list' });
    else
      backends.forEach((backend, i) => {
        const at = childPath(childPath(path, 'backends'), i);
        if (!isObject(backend)) return errors.push({ field: at, message: 'must be an object (name, type, conf)' });
        onlyKeys(backend, ['name', 'type', 'conf'], at, errors);
        if (typeof backend.name !== 'string' || backend.name === '') errors.push({ field: childPath(at, 'name'), message: 'is required' });
        else if (names.has(backend.name)) errors.push({ field: childPath(at, 'name'), message: `'${backend.name}' is already used by another backend` });
        else names.add(backend.name);
        if (backend.type !== 'prometheus')
          errors.push({ field: childPath(at, 'type'), message: "must be 'prometheus' (the only metrics backend type Kuma has)" });
        checkConf(backend.conf, childPath(at, 'conf'), errors);
      });
  }
  const enabled = value.enabledBackend;
  if (enabled !== undefined && enabled !== null && enabled !== '') {
    if (typeof enabled !== 'string') errors.push({ field: childPath(path, 'enabledBackend'), message: 'must be the name of a backend' });
    else if (!names.has(enabled))
      errors.push({
        field: childPath(path, 'enabledBackend'),
        message: `'${enabled}' is not one of metrics.backends (${names.size > 0 ? [...names].join(', ') : 'none given'})`,
      });
  }
  return errors;
}

/** The enabled backend of a (checked) `metrics`, or undefined when metrics are off. */
export function enabledMetricsBackend(metrics: MeshMetrics | undefined): MetricsBackend | undefined {
  const name = metrics?.enabledBackend;
  return name ? metrics?.backends?.find((b) => b.name === name) : undefined;
}
