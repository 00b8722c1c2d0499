import t from 'tap';
import https from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createCa, issueCert, type KeyPair } from '../../src/tls/certs.js';

async function serve(t: { teardown(fn: () => unknown): void }, server: KeyPair): Promise<number> {
  const srv = https.createServer({ cert: server.certPem, key: server.keyPem, minVersion: 'TLSv1.2' }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  return (srv.address() as AddressInfo).port;
}

function get(port: number, ca: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, ca, servername, agent: false, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
}

t.test('CA and leaf have the extensions TLS stacks check', async (t) => {
  const ca = await createCa('test ca');
  const leaf = await issueCert(ca, { commonName: 'cp', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], client: true });
  const caCert = new X509Certificate(ca.certPem);
  const leafCert = new X509Certificate(leaf.certPem);
  t.ok(caCert.ca, 'CA:true on the CA');
  t.notOk(leafCert.ca, 'CA:false on the leaf');
  t.ok(leafCert.checkIssued(caCert), 'leaf issued by the CA');
  t.ok(leafCert.verify(caCert.publicKey), 'leaf signature verifies with the CA key');
  t.equal(leafCert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  t.same(leafCert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth and clientAuth');
  t.ok(Date.parse(leafCert.validFrom) < Date.now(), 'valid from the past');
  t.ok(Date.parse(leafCert.validTo) > Date.now() + 9 * 365 * 24 * 3600 * 1000, 'valid for years');
  t.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const serverOnly = new X509Certificate((await issueCert(ca, { commonName: 'x', dnsNames: ['x'] })).certPem);
  t.same(serverOnly.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth only without client');
});

t.test('a client trusting only the CA accepts the server; another CA or a wrong name is rejected', async (t) => {
  const ca = await createCa('test ca');
  const other = await createCa('other ca');
  const leaf = await issueCert(ca, { commonName: 'cp', dnsNames: ['localhost', 'cp.example'], ipAddresses: ['127.0.0.1'] });
  const port = await serve(t, leaf);

  t.equal(await get(port, ca.certPem), 'ok', 'IP SAN matches');
  t.equal(await get(port, ca.certPem, 'cp.example'), 'ok', 'DNS SAN matches');
  await t.rejects(get(port, other.certPem), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  await t.rejects(get(port, ca.certPem, 'elsewhere.example'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});

t.test('bad input is named', async (t) => {
  const ca = await createCa('test ca');
  await t.rejects(issueCert(ca, { commonName: 'x', ipAddresses: ['localhost'] }), /'localhost' is not an IP address/);
  await t.rejects(issueCert({ certPem: ca.certPem, keyPem: 'nope' }, { commonName: 'x' }), /CA key is not a PEM private key/);
});
