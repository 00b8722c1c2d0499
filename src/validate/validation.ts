// Reading a document as an Envoy message with all its checks, without the
// wire codec (so protobufjs is not loaded): validation is all `kuma-dp run`
// needs on its start path.
import { checkBootstrap } from './bootstrap-checks.js';
import { loadDescriptor, type MessageDesc } from './descriptor.js';
import { Reader, type ValidationIssue } from './json-reader.js';
import { Schema, type NMessage } from './schema.js';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** The messages `kuma-dp validate --type` and the mini-CP name most. */
export const TYPE_NAME = {
  bootstrap: BOOTSTRAP_TYPE,
  listener: 'envoy.config.listener.v3.Listener',
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  route: 'envoy.config.route.v3.RouteConfiguration',
  secret: 'envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeKey = keyof typeof TYPE_NAME;

/** 'listener' → its full message name; a full name (or type URL) is returned as is. */
export function resolveTypeName(type: string): string {
  return Object.hasOwn(TYPE_NAME, type) ? TYPE_NAME[type as TypeKey] : type;
}

/** The message a full type name or a type URL names. */
export function messageOfType(schema: Schema, typeName: string): MessageDesc | undefined {
  return schema.message(typeName.slice(typeName.lastIndexOf('/') + 1));
}

export const unknownTypeIssue = (typeName: string): ValidationIssue => ({
  path: '(document)',
  message: `type '${typeName}' is not a message of Envoy's v3 API`,
});

/** Issues the descriptor can judge (fatal) and those it cannot (a newer Envoy may accept them). */
export function splitIssues(issues: readonly ValidationIssue[]): { definite: ValidationIssue[]; unknown: ValidationIssue[] } {
  return { definite: issues.filter((i) => !i.unknown), unknown: issues.filter((i) => i.unknown) };
}

/**
 * The Envoy API the descriptor knows: the .proto files @grpc/grpc-js-xds 1.14 ships (scripts/build-protos.mjs),
 * about Envoy 1.31's. Kuma pins a newer Envoy, so what the descriptor does not know may still be valid.
 */
export const VALIDATOR_ENVOY_API = 'about Envoy 1.31';

export interface ReadDocument {
  msg: NMessage | undefined;
  issues: ValidationIssue[];
  /** Any values of types whose .proto is not shipped: accepted unchecked. */
  unverified: ValidationIssue[];
}

/** Proto-level issues, then (for a valid bootstrap) the checks Envoy makes when it builds a server from it. */
export function readDocument(schema: Schema, json: unknown, typeName: string): ReadDocument {
  const desc = messageOfType(schema, typeName);
  if (!desc) return { msg: undefined, issues: [unknownTypeIssue(typeName)], unverified: [] };
  const reader = new Reader(schema);
  const msg = reader.message(json, desc, '');
  // Envoy's own bootstrap checks make sense once nothing definite is wrong; unknown parts are kept beside them.
  const definite = reader.issues.some((i) => !i.unknown);
  const issues = !definite && desc.name === BOOTSTRAP_TYPE ? [...reader.issues, ...checkBootstrap(json as Record<string, unknown>)] : reader.issues;
  return { msg, issues, unverified: reader.unverified };
}

/**
 * Validates one document with a schema of its own, shared with nothing: once
 * this resolves, the descriptor file is closed and every entry parsed for it
 * is garbage. For a long-running process (`kuma-dp run`) that validates once.
 */
export async function validateOnce(json: unknown, typeName: string): Promise<ValidationIssue[]> {
  const descriptor = await loadDescriptor();
  try {
    return readDocument(new Schema(descriptor), json, typeName).issues;
  } finally {
    descriptor.close();
  }
}

/** A validator that keeps its schema for several documents (`kuma-dp validate` on a list of resources). */
export async function loadValidator(): Promise<(json: unknown, typeName: string) => ValidationIssue[]> {
  const schema = new Schema(await loadDescriptor());
  return (json, typeName) => readDocument(schema, json, typeName).issues;
}
