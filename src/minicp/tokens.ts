// Dataplane tokens: RS256 JWTs with Kuma's dataplane-token claims (Name,
// Mesh, Tags, Type), signed by a key kept in the work dir so tokens stay
// valid across restarts of the control plane.
import { createPublicKey, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, jwtVerify, errors as joseErrors } from 'jose';
import type { CryptoKey, KeyObject } from 'jose';
import type { Dataplane } from '../dataplane/types.js';
import { keepPrivate, writePrivateFileSync } from '../util/private-file.js';

const ALG = 'RS256';
export const SIGNING_KEY_FILE = 'dp-token-signing-key.pem';
const DEFAULT_VALIDITY_S = 10 * 365 * 24 * 3600;

export interface DataplaneIdentity {
  name: string;
  mesh: string;
  tags?: Record<string, string[]>;
  type?: string;
}

/** Why a token was refused: `invalid` (401: not ours, expired, malformed) or `forbidden` (403: valid, but for another proxy). */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly kind: 'invalid' | 'forbidden',
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

type Key = CryptoKey | KeyObject;

interface SigningKey {
  privateKey: Key;
  publicKey: Key;
  kid: string;
}

async function signingKey(pem: string): Promise<SigningKey> {
  const privateKey = await importPKCS8(pem, ALG, { extractable: true });
  const publicKey = createPublicKey(pem);
  return { privateKey, publicKey, kid: await calculateJwkThumbprint(await exportJWK(publicKey)) };
}

export class DataplaneTokens {
  private key: Promise<SigningKey> | undefined;

  private constructor(
    private readonly file: string,
    existing: SigningKey | undefined,
  ) {
    if (existing) this.key = Promise.resolve(existing);
  }

  /**
   * Loads the signing key from `workDir`. A new key is generated when the
   * first token is issued, not at start-up: RSA key generation is slow, and
   * without a key no token can have been issued.
   */
  static async load(workDir: string): Promise<DataplaneTokens> {
    const file = join(workDir, SIGNING_KEY_FILE);
    let pem: string | undefined;
    try {
      pem = await readFile(file, 'utf8');
      keepPrivate(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new DataplaneTokens(file, pem ? await signingKey(pem) : undefined);
  }

  private signing(): Promise<SigningKey> {
    this.key ??= (async () => {
      const pair = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
      const pem = await exportPKCS8(pair.privateKey);
      writePrivateFileSync(this.file, pem);
      return signingKey(pem);
    })();
    return this.key;
  }

  async issue(identity: DataplaneIdentity, validForSeconds = DEFAULT_VALIDITY_S): Promise<string> {
    const claims: Record<string, unknown> = { Name: identity.name, Mesh: identity.mesh, Type: identity.type ?? 'dataplane' };
    if (identity.tags && Object.keys(identity.tags).length > 0) claims.Tags = identity.tags;
    const key = await this.signing();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: key.kid })
      .setJti(randomUUID())
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(Math.floor(Date.now() / 1000) + validForSeconds)
      .sign(key.privateKey);
  }

  /**
   * Verifies signature and expiry, and that the token was issued for
   * `mesh`/`name`. Accepts a bare token or `Bearer <token>`.
   */
  async verify(token: string | undefined, mesh: string, name: string): Promise<DataplaneIdentity> {
    const bare = (token ?? '').replace(/^Bearer\s+/i, '').trim();
    if (bare === '') throw new TokenError('dataplane token is missing', 'invalid');
    if (!this.key)
      throw new TokenError('dataplane token is not valid: this control plane has issued no tokens yet; generate one with POST /tokens/dataplane', 'invalid');
    const key = await this.key;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(bare, key.publicKey, { algorithms: [ALG] }));
    } catch (err) {
      const reason = err instanceof joseErrors.JWTExpired ? 'has expired' : `is not valid (${(err as Error).message})`;
      throw new TokenError(`dataplane token ${reason}; generate a new one with POST /tokens/dataplane`, 'invalid');
    }
    if (typeof payload.Name !== 'string' || typeof payload.Mesh !== 'string') {
      throw new TokenError('dataplane token lacks the Name and Mesh claims', 'invalid');
    }
    if (payload.Mesh !== mesh) throw new TokenError(`dataplane token is for mesh '${payload.Mesh}', not '${mesh}'`, 'forbidden');
    // Kuma allows a token without a name to be used by any dataplane of its mesh.
    if (payload.Name !== '' && payload.Name !== name) {
      throw new TokenError(`dataplane token is for dataplane '${payload.Name}', not '${name}'`, 'forbidden');
    }
    return { name: payload.Name, mesh: payload.Mesh, tags: payload.Tags as Record<string, string[]> | undefined, type: payload.Type as string | undefined };
  }
}

/**
 * A token with Tags only admits dataplanes whose inbounds carry those tags
 * with one of the listed values (as Kuma checks); a token without Tags admits any.
 */
export function checkTokenTags(identity: DataplaneIdentity, dp: Dataplane): void {
  for (const [tag, allowed] of Object.entries(identity.tags ?? {})) {
    for (const [i, ib] of (dp.networking.inbound ?? []).entries()) {
      const value = ib.tags?.[tag];
      if (value === undefined || !allowed.includes(value)) {
        throw new TokenError(
          `dataplane token allows ${tag} in [${allowed.join(', ')}], but networking.inbound[${i}] has ${value === undefined ? 'no such tag' : `'${value}'`}`,
          'forbidden',
        );
      }
    }
  }
}
