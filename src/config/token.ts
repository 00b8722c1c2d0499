// The dataplane token: one line, JWT-shaped. It is sent to the control plane
// and otherwise only ever written to a 0600 file; it never reaches a log.
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function checkTokenShape(token: string, from: string): string {
  const trimmed = token.replace(/\r?\n$/, '').trim();
  if (trimmed.includes('\n')) throw new UserError(`${from}: the token must be a single line`);
  if (!JWT_SHAPE.test(trimmed)) {
    throw new UserError(
      `${from}: this is not a dataplane token (expected a JWT: three base64url parts separated by dots); generate one with the control plane's API or 'kumactl generate dataplane-token'`,
    );
  }
  return trimmed;
}

export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`--dataplane-token-file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return checkTokenShape(text, `--dataplane-token-file ${path}`);
}
