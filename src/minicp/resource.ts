// A Dataplane arriving over the network (API body, bootstrap request) →
// a validated Dataplane or every field error, never an exception.
import { checkShape, dataplaneSchema, toCamelCase } from '../dataplane/schema.js';
import type { Dataplane } from '../dataplane/types.js';
import { validateDataplane } from '../dataplane/validate.js';
import type { FieldError } from '../util/errors.js';
import { DocumentError, readYamlDocument } from '../util/document.js';

export type Checked = { ok: true; dataplane: Dataplane } | { ok: false; errors: FieldError[] };

/** Checks an already-parsed value: shape first (unknown fields, types), then Kuma's semantic rules. */
export function checkDataplane(value: unknown): Checked {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, errors: [{ field: '', message: 'must be a Dataplane resource (an object with type, mesh, name, networking)' }] };
  }
  const shape = checkShape(value, dataplaneSchema, '');
  if (shape.length > 0) return { ok: false, errors: shape };
  const dataplane = toCamelCase(value, dataplaneSchema) as Dataplane;
  const errors = validateDataplane(dataplane);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, dataplane };
}

/** The bootstrap request's `dataplaneResource`: JSON or YAML text. */
export function checkDataplaneText(text: string, field: string): Checked {
  let value: unknown;
  try {
    value = readYamlDocument(text);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    return { ok: false, errors: [{ field: err.path ? `${field}.${err.path}` : field, message: err.path ? err.reason : `is ${err.reason}` }] };
  }
  return checkDataplane(value);
}
