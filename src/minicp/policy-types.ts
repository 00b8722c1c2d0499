// The policy types the API serves at /meshes/{mesh}/{plural}/{name}. The store
// and KDS handle every type alike; a type whose Envoy effect the mini-CP
// implements registers a validator for its spec here.
import type { FieldError } from '../util/errors.js';
import { checkMeshAccessLogSpec } from './meshaccesslog.js';

export interface PolicyType {
  /** Kuma's type name, e.g. MeshAccessLog. */
  type: string;
  /** The API path segment, e.g. meshaccesslogs. */
  plural: string;
  /** Field errors of a spec (paths under `spec`); none when valid. */
  validate?(spec: Record<string, unknown>): FieldError[];
}

const byPlural = new Map<string, PolicyType>();
const byType = new Map<string, PolicyType>();

export function registerPolicyType(policyType: PolicyType): void {
  byPlural.set(policyType.plural, policyType);
  byType.set(policyType.type, policyType);
}

export const policyTypeByPlural = (plural: string): PolicyType | undefined => byPlural.get(plural);
export const policyTypeByName = (type: string): PolicyType | undefined => byType.get(type);
export const policyTypes = (): PolicyType[] => [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));

// Kuma's targetRef policies, under the plurals of its API. Until a type has a
// validator, its spec is only checked to be an object of Kuma's top-level
// policy sections, and the mini-CP stores and syncs it without an Envoy effect.
const KUMA_POLICIES: Array<[string, string]> = [
  ['MeshAccessLog', 'meshaccesslogs'],
  ['MeshCircuitBreaker', 'meshcircuitbreakers'],
  ['MeshFaultInjection', 'meshfaultinjections'],
  ['MeshHealthCheck', 'meshhealthchecks'],
  ['MeshHTTPRoute', 'meshhttproutes'],
  ['MeshLoadBalancingStrategy', 'meshloadbalancingstrategies'],
  ['MeshMetric', 'meshmetrics'],
  ['MeshPassthrough', 'meshpassthroughs'],
  ['MeshProxyPatch', 'meshproxypatches'],
  ['MeshRateLimit', 'meshratelimits'],
  ['MeshRetry', 'meshretries'],
  ['MeshTCPRoute', 'meshtcproutes'],
  ['MeshTimeout', 'meshtimeouts'],
  ['MeshTLS', 'meshtlses'],
  ['MeshTrace', 'meshtraces'],
  ['MeshTrafficPermission', 'meshtrafficpermissions'],
];
for (const [type, plural] of KUMA_POLICIES) registerPolicyType({ type, plural });
// Types with an Envoy effect in the mini-CP: their specs are checked in full.
registerPolicyType({ type: 'MeshAccessLog', plural: 'meshaccesslogs', validate: checkMeshAccessLogSpec });

const SECTIONS = new Set(['targetRef', 'from', 'to', 'rules', 'default']);

/** The checks every policy passes: its spec is an object of Kuma's policy sections. */
export function checkPolicySpec(spec: unknown): FieldError[] {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec))
    return [{ field: 'spec', message: 'must be an object (targetRef, from, to, rules, default)' }];
  const errors: FieldError[] = [];
  for (const key of Object.keys(spec)) if (!SECTIONS.has(key)) errors.push({ field: `spec.${key}`, message: 'unknown field' });
  for (const key of ['targetRef', 'default'] as const) {
    const value = (spec as Record<string, unknown>)[key];
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value)))
      errors.push({ field: `spec.${key}`, message: 'must be an object' });
  }
  for (const key of ['from', 'to', 'rules'] as const) {
    const value = (spec as Record<string, unknown>)[key];
    if (value !== undefined && !Array.isArray(value)) errors.push({ field: `spec.${key}`, message: 'must be a list' });
  }
  return errors;
}
