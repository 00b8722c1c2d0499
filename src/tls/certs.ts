// Small X.509 helpers: a CA and certificates it signs, for the mini control
// plane's TLS and for tests. ECDSA P-256 keys, Node's WebCrypto.
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import './reflect-metadata.js'; // must precede @peculiar/x509
import * as x509 from '@peculiar/x509';

export interface KeyPair {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface IssueOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Also usable as a TLS client certificate. */
  client?: boolean;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;

function validity(): { notBefore: Date; notAfter: Date } {
  // A minute in the past so a peer whose clock is slightly behind accepts it.
  const now = Date.now();
  return { notBefore: new Date(now - 60_000), notAfter: new Date(now + TEN_YEARS_MS) };
}

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive, as RFC 5280 requires
  return Buffer.from(bytes).toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    der = x509.PemConverter.decodeFirst(keyPem);
  } catch (err) {
    throw new Error(`CA key is not a PEM private key: ${(err as Error).message}`);
  }
  return crypto.subtle.importKey('pkcs8', der, keyAlgorithm, false, ['sign']);
}

function nameOf(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}

/** A self-signed CA certificate (CA:true, keyCertSign/cRLSign) and its key. */
export async function createCa(commonName: string): Promise<KeyPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      name: nameOf(commonName),
      ...validity(),
      keys,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

/** A leaf certificate for a TLS server (and client when asked), signed by `ca`. */
export async function issueCert(ca: KeyPair, opts: IssueOptions): Promise<KeyPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const keys = await generateKeys();

  const names: x509.JsonGeneralName[] = [];
  for (const dns of opts.dnsNames ?? []) names.push({ type: 'dns', value: dns });
  for (const ip of opts.ipAddresses ?? []) {
    if (!isIP(ip)) throw new Error(`issueCert: '${ip}' is not an IP address`);
    names.push({ type: 'ip', value: ip });
  }

  const usages = [x509.ExtendedKeyUsage.serverAuth];
  if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // EC keys sign (ECDHE); they never encipher keys, so digitalSignature alone.
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: nameOf(opts.commonName),
      issuer: caCert.subjectName,
      ...validity(),
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm,
      extensions,
    },
    crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}
