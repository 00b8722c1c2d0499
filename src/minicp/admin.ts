// Who may change the mini-CP and read what a proxy is sent. As with Kuma,
// callers on this host (loopback) are admins; others are admins only with the
// admin token, kept in <work-dir>/admin-token (0600, made on first start), as
// `Authorization: Bearer <token>`; or all callers with --api-admin-from-anywhere.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { isLoopback } from '../util/loopback.js';
import { keepPrivate, writePrivateFileSync } from '../util/private-file.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

/** Reads the admin token from the work dir, creating it on first start. */
export function loadAdminToken(workDir: string): string {
  const file = join(workDir, ADMIN_TOKEN_FILE);
  try {
    const token = readFileSync(file, 'utf8').trim();
    keepPrivate(file);
    if (token.length >= 32) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  writePrivateFileSync(file, `${token}\n`);
  return token;
}

/** True for a loopback caller or one presenting the admin token. */
export function isAdmin(req: IncomingMessage, adminToken: string): boolean {
  if (isLoopback(req.socket.remoteAddress)) return true;
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.replace(/^Bearer\s+/i, '').trim());
  const expected = Buffer.from(adminToken);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
