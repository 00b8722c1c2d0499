// The Envoy codec: Envoy's v3 messages between proto3 JSON and protobuf
// binary, for the mini-CP (every xDS resource and bootstrap it sends), the
// Envoy stand-in and the tests. Encoding reads the document with the strict
// validator (src/validate/) first, so nothing Envoy would reject is encoded.
import { loadDescriptor, type MessageDesc } from '../validate/descriptor.js';
import type { ValidationIssue } from '../validate/json-reader.js';
import { Schema } from '../validate/schema.js';
import { messageOfType, readDocument, unknownTypeIssue } from '../validate/validation.js';
import { DecodeError, decodeToJson, encodeMessage } from './wire.js';

export type { ValidationIssue } from '../validate/json-reader.js';
export { TYPE_NAME, resolveTypeName, type TypeKey } from '../validate/validation.js';

/** An Envoy config that Envoy would reject; `issues` says where and why. */
export class EnvoyConfigError extends Error {
  constructor(
    readonly typeName: string,
    readonly issues: ValidationIssue[],
  ) {
    super(`invalid ${typeName}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'EnvoyConfigError';
  }
}

export interface EnvoyTypes {
  /** Every reason Envoy would reject `json` as a `typeName`; [] when it is valid. */
  validate(json: unknown, typeName: string): ValidationIssue[];
  /** proto3 JSON → protobuf binary; throws EnvoyConfigError when `json` is invalid. */
  encode(json: unknown, typeName: string): Uint8Array;
  /** protobuf binary → proto3 JSON with proto (snake_case) field names; throws EnvoyConfigError when undecodable. */
  decode(bytes: Uint8Array, typeName: string): Record<string, unknown>;
}

class Types implements EnvoyTypes {
  constructor(private readonly schema: Schema) {}

  private desc(typeName: string): MessageDesc {
    const desc = messageOfType(this.schema, typeName);
    if (!desc) throw new EnvoyConfigError(typeName, [unknownTypeIssue(typeName)]);
    return desc;
  }

  validate(json: unknown, typeName: string): ValidationIssue[] {
    return readDocument(this.schema, json, typeName).issues;
  }

  encode(json: unknown, typeName: string): Uint8Array {
    const { msg, issues, unverified } = readDocument(this.schema, json, typeName);
    if (issues.length > 0 || unverified.length > 0 || !msg) throw new EnvoyConfigError(typeName, [...issues, ...unverified]);
    return encodeMessage(msg);
  }

  decode(bytes: Uint8Array, typeName: string): Record<string, unknown> {
    try {
      return decodeToJson(this.schema, bytes, this.desc(typeName));
    } catch (err) {
      if (err instanceof DecodeError) throw new EnvoyConfigError(typeName, [{ path: err.path || '(document)', message: err.message }]);
      if (err instanceof RangeError || (err instanceof Error && /index out of range|invalid wire type/.test(err.message))) {
        throw new EnvoyConfigError(typeName, [{ path: '(document)', message: `not a valid protobuf encoding: ${err.message}` }]);
      }
      throw err;
    }
  }
}

let loading: Promise<EnvoyTypes> | undefined;

/** Loads Envoy's message descriptions once per process, shared and kept (validateOnce in validation.ts keeps nothing). */
export function loadEnvoyTypes(): Promise<EnvoyTypes> {
  loading ??= loadDescriptor().then((d) => new Types(new Schema(d)));
  return loading;
}
