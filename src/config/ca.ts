// The CA that verifies the control plane: inline PEM (KUMA_CONTROL_PLANE_CA_CERT)
// or a file (--ca-cert-file), read and checked the same way by `run` and `doctor`.
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';

export function readCaCert(controlPlane: { caCertPem?: string; caCertFile?: string }): string | undefined {
  if (controlPlane.caCertPem) return controlPlane.caCertPem;
  const path = controlPlane.caCertFile;
  if (!path) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--ca-cert-file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`--ca-cert-file ${path}: no PEM certificate in it`);
  return pem;
}
