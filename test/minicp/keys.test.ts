// Key files are 0600 whatever mode they had: written new, or found with a wider mode.
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadAdminToken } from '../../src/minicp/admin.js';
import { setUpTls } from '../../src/minicp/tls.js';
import { DataplaneTokens, SIGNING_KEY_FILE } from '../../src/minicp/tokens.js';

const mode = (file: string): number => statSync(file).mode & 0o777;

t.test('the CA key, the token signing key and the admin token are 0600, also when they existed with another mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mini-cp-keys-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await setUpTls(dir, {});
  const tokens = await DataplaneTokens.load(dir);
  await tokens.issue({ name: 'web-1', mesh: 'default' });
  loadAdminToken(dir);
  const keys = ['ca.key', SIGNING_KEY_FILE, 'admin-token'].map((f) => join(dir, f));
  for (const key of keys) t.equal(mode(key), 0o600, `${key} written 0600`);

  for (const key of keys) chmodSync(key, 0o644);
  await setUpTls(dir, {});
  await DataplaneTokens.load(dir);
  loadAdminToken(dir);
  for (const key of keys) t.equal(mode(key), 0o600, `${key} set back to 0600`);
});
