// The mini-CP's certificates: a CA kept in the work dir (reused across
// restarts, so proxies holding ca.crt keep trusting it) and a server
// certificate for every name and address this host answers on; or the
// operator's own certificate and key.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCa, issueCert, type KeyPair } from '../tls/certs.js';
import { UserError } from '../util/errors.js';
import { keepPrivate, writePrivateFileSync } from '../util/private-file.js';

export const CA_CERT_FILE = 'ca.crt';
const CA_KEY_FILE = 'ca.key';

export interface ServerTls {
  /** What proxies and API clients must trust; also written to <work-dir>/ca.crt. */
  caPem: string;
  caCertPath: string;
  server: KeyPair;
}

function localAddresses(): string[] {
  const out = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(i.address.split('%')[0]!);
  return [...out];
}

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`${flag} ${file} cannot be read: ${(err as Error).message}`);
  }
}

export async function setUpTls(workDir: string, options: { certFile?: string; keyFile?: string; extraNames?: string[] }): Promise<ServerTls> {
  const caCertPath = join(workDir, CA_CERT_FILE);
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new UserError('--tls-cert-file and --tls-key-file go together: give both or neither');
    const certPem = await readPem(options.certFile, '--tls-cert-file');
    const keyPem = await readPem(options.keyFile, '--tls-key-file');
    const certs = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!certs) throw new UserError(`--tls-cert-file ${options.certFile} holds no PEM certificate`);
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) throw new UserError(`--tls-key-file ${options.keyFile} holds no PEM private key`);
    // The chain's last certificate is its root (or the certificate itself when self-signed).
    const caPem = certs[certs.length - 1]! + '\n';
    await writeFile(caCertPath, caPem);
    return { caPem, caCertPath, server: { certPem: certs.join('\n') + '\n', keyPem } };
  }
  const caKeyPath = join(workDir, CA_KEY_FILE);
  let ca: KeyPair;
  if (existsSync(caCertPath) && existsSync(caKeyPath)) {
    keepPrivate(caKeyPath);
    ca = { certPem: await readFile(caCertPath, 'utf8'), keyPem: await readFile(caKeyPath, 'utf8') };
  } else {
    ca = await createCa('kuma-mini-cp CA');
    writePrivateFileSync(caKeyPath, ca.keyPem);
    await writeFile(caCertPath, ca.certPem);
  }
  const names = ['localhost', hostname(), ...(options.extraNames ?? [])];
  const server = await issueCert(ca, {
    commonName: 'kuma-mini-cp',
    dnsNames: [...new Set(names.filter((n) => isIP(n) === 0))],
    ipAddresses: [...new Set([...localAddresses(), ...names.filter((n) => isIP(n) !== 0)])],
  });
  return { caPem: ca.certPem, caCertPath, server };
}
