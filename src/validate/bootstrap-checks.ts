// Checks Envoy makes when it builds a server from a bootstrap, beyond what
// the protos say: unique static names, gRPC config sources that point at a
// static cluster, and ADS subscriptions that have an ads_config to use.
// Run only on a bootstrap that already passed the proto checks.
import type { ValidationIssue } from './json-reader.js';
import { isObject, join } from './json-reader.js';

type Json = Record<string, unknown>;

/** The value of a field given under its proto name or its JSON name, with the key the document used. */
function pick(obj: unknown, name: string): [key: string, value: unknown] | undefined {
  if (!isObject(obj)) return undefined;
  if (obj[name] !== undefined && obj[name] !== null) return [name, obj[name]];
  const camel = name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  if (obj[camel] !== undefined && obj[camel] !== null) return [camel, obj[camel]];
  return undefined;
}

function list(obj: unknown, name: string, path: string): Array<[string, Json]> {
  const found = pick(obj, name);
  if (!found || !Array.isArray(found[1])) return [];
  return found[1].flatMap((item, i) => (isObject(item) ? [[`${join(path, found[0])}[${i}]`, item] as [string, Json]] : []));
}

function uniqueNames(items: Array<[string, Json]>, what: string, issues: ValidationIssue[]): Set<string> {
  const seen = new Map<string, string>();
  for (const [path, item] of items) {
    const name = pick(item, 'name');
    if (!name || typeof name[1] !== 'string' || name[1] === '') continue;
    const first = seen.get(name[1]);
    if (first !== undefined) issues.push({ path: join(path, name[0]), message: `duplicate ${what} name '${name[1]}' (also at ${first})` });
    else seen.set(name[1], path);
  }
  return new Set(seen.keys());
}

export function checkBootstrap(bootstrap: Json): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const staticResources = pick(bootstrap, 'static_resources');
  const staticPath = staticResources?.[0] ?? 'static_resources';
  const clusters = uniqueNames(list(staticResources?.[1], 'clusters', staticPath), 'static cluster', issues);
  uniqueNames(list(staticResources?.[1], 'listeners', staticPath), 'static listener', issues);
  uniqueNames(list(staticResources?.[1], 'secrets', staticPath), 'static secret', issues);

  const dynamic = pick(bootstrap, 'dynamic_resources');
  if (!dynamic) return issues;
  const dynamicPath = dynamic[0];
  const ads = pick(dynamic[1], 'ads_config');
  const checkGrpcClusters = (apiConfigSource: unknown, path: string) => {
    for (const [servicePath, service] of list(apiConfigSource, 'grpc_services', path)) {
      const envoyGrpc = pick(service, 'envoy_grpc');
      const clusterName = envoyGrpc && pick(envoyGrpc[1], 'cluster_name');
      if (!clusterName || typeof clusterName[1] !== 'string' || clusters.has(clusterName[1])) continue;
      issues.push({
        path: join(join(servicePath, envoyGrpc[0]), clusterName[0]),
        message: `gRPC cluster '${clusterName[1]}' is not a static cluster (Envoy: Unknown gRPC client cluster); define it in static_resources.clusters`,
      });
    }
  };
  if (ads) checkGrpcClusters(ads[1], join(dynamicPath, ads[0]));
  for (const source of ['lds_config', 'cds_config']) {
    const config = pick(dynamic[1], source);
    if (!config) continue;
    const configPath = join(dynamicPath, config[0]);
    const apiSource = pick(config[1], 'api_config_source');
    if (apiSource) checkGrpcClusters(apiSource[1], join(configPath, apiSource[0]));
    const usesAds = pick(config[1], 'ads');
    if (usesAds && !ads)
      issues.push({ path: join(configPath, usesAds[0]), message: `${source} subscribes over ADS but dynamic_resources.ads_config is not set` });
  }
  return issues;
}
