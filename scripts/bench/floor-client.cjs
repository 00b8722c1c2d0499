// Reference program for the start-up benchmark: the least a program can do
// and still do what `kuma-dp run` must do before Envoy starts, with nothing
// else: no flag table, no Dataplane, no logging, no validation.
//   bare:     `envoy --version`, POST <cp>/bootstrap, write the decoded
//             bootstrap to a file, spawn Envoy under setpriv.
//   contract: the same, and what the agent's contract adds before the spawn:
//             the bootstrap read as YAML with the agent's YAML library (the
//             agent needs its admin address and merges the Dataplane into it,
//             as Kuma's kuma-dp parses it into its Bootstrap proto), and the
//             servers kuma-dp runs beside Envoy bound before Envoy is spawned
//             (issue 12: a busy port fails the start, and the access-log FIFO
//             needs its reader before Envoy opens it): an HTTP server on
//             KUMA_READINESS_PORT, an HTTP server on a Unix socket (the
//             metrics socket), the FIFO made (mkfifo) and open for reading;
//             then a GET on a Unix socket every second (the
//             dynamic-configuration poll).
// Its start-up time is the floor the agent's figure is compared with, and its
// RSS while Envoy runs the floor for the agent's while it supervises.
//   node floor-client.cjs <http|undici> <cp-url> <envoy-binary> <work-dir> [bare|contract]
'use strict';
const { execFile, spawn } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const [client, cpUrl, envoy, workDir, mode = 'bare'] = process.argv.slice(2);
const body = JSON.stringify({ mesh: 'default', name: 'bench', proxyType: 'dataplane' });

function postWithNodeHttp(done) {
  const req = require('node:http').request(
    `${cpUrl}/bootstrap`,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' } },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => done(text));
    },
  );
  req.end(body);
}

// undici's public API, for the comparison that chose node:http for src/bootstrap/client.ts.
function postWithUndici(done) {
  const { Client } = require('undici');
  const cp = new Client(cpUrl);
  cp.request({ path: '/bootstrap', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body })
    .then((res) => res.body.text())
    .then(done);
}

execFile(envoy, ['--version'], (err) => {
  if (err) throw err;
  (client === 'undici' ? postWithUndici : postWithNodeHttp)((text) => {
    const bootstrap = Buffer.from(JSON.parse(text).bootstrap, 'base64');
    const configPath = join(workDir, 'bootstrap.yaml');
    writeFileSync(configPath, bootstrap, { mode: 0o600 });
    if (mode !== 'contract') return spawnEnvoy(configPath);
    const admin = require('js-yaml').load(bootstrap.toString('utf8')).admin.address;
    if (!admin) throw new Error('the bootstrap has no admin address');
    startComponents(() => spawnEnvoy(configPath));
  });
});

function spawnEnvoy(configPath) {
  const envoyProcess = spawn('setpriv', ['--pdeathsig', 'KILL', '--', envoy, '--config-path', configPath], { stdio: 'inherit' });
  process.on('SIGTERM', () => envoyProcess.kill('SIGTERM'));
  envoyProcess.on('exit', () => process.exit(0));
}

/** Binds the servers and opens the FIFO; calls `ready` once all of them are. */
function startComponents(ready) {
  const http = require('node:http');
  const { Socket } = require('node:net');
  const { openSync, constants } = require('node:fs');
  let pending = 3;
  const done = () => --pending === 0 && ready();
  http.createServer((req, res) => res.end('READY')).listen(Number(process.env.KUMA_READINESS_PORT ?? 0), '127.0.0.1', done);
  http.createServer((req, res) => res.end()).listen(join(workDir, `floor-mh-${process.pid}.sock`), done);
  const fifo = join(workDir, `floor-al-${process.pid}.sock`);
  execFile('mkfifo', ['-m', '0600', fifo], (err) => {
    if (err) throw err;
    new Socket({ fd: openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false }).resume();
    done();
  });
  const dynconf = join(workDir, 'kuma-mesh-metric-config.sock');
  setInterval(() => http.get({ socketPath: dynconf, path: '/meshmetric' }, (res) => res.resume()).on('error', () => {}), 1000);
}
