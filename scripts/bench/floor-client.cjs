// Reference program for the start-up benchmark: only the I/O `kuma-dp run`
// cannot avoid before Envoy starts, and nothing else. It runs
// `envoy --version`, POSTs to <cp>/bootstrap, writes the decoded bootstrap to
// a file and spawns Envoy under setpriv, as the agent does; no flags, no
// Dataplane, no YAML, no validation, no logging. Its start-up time is the
// floor the agent's own figure is compared with. With --components it then
// also holds, as bare as they come, what kuma-dp runs beside Envoy by default:
// an HTTP server on KUMA_READINESS_PORT, an HTTP server on a Unix socket (the
// metrics socket), the access-log FIFO open for reading, and a GET on a Unix
// socket every second (the dynamic-configuration poll); its RSS then is the
// floor for the agent's while it supervises.
//   node floor-client.cjs <http|undici> <cp-url> <envoy-binary> <work-dir> [--components]
'use strict';
const { execFile, spawn } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const [client, cpUrl, envoy, workDir, components] = process.argv.slice(2);
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
    const configPath = join(workDir, 'bootstrap.yaml');
    writeFileSync(configPath, Buffer.from(JSON.parse(text).bootstrap, 'base64'), { mode: 0o600 });
    const envoyProcess = spawn('setpriv', ['--pdeathsig', 'KILL', '--', envoy, '--config-path', configPath], { stdio: 'inherit' });
    process.on('SIGTERM', () => envoyProcess.kill('SIGTERM'));
    envoyProcess.on('exit', () => process.exit(0));
    if (components === '--components') startComponents();
  });
});

function startComponents() {
  const http = require('node:http');
  const { Socket } = require('node:net');
  const { openSync, constants } = require('node:fs');
  http.createServer((req, res) => res.end('READY')).listen(Number(process.env.KUMA_READINESS_PORT ?? 0), '127.0.0.1');
  http.createServer((req, res) => res.end()).listen(join(workDir, `floor-mh-${process.pid}.sock`));
  const fifo = join(workDir, `floor-al-${process.pid}.sock`);
  execFile('mkfifo', ['-m', '0600', fifo], (err) => {
    if (err) throw err;
    new Socket({ fd: openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK), readable: true, writable: false }).resume();
  });
  const dynconf = join(workDir, 'kuma-mesh-metric-config.sock');
  setInterval(() => http.get({ socketPath: dynconf, path: '/meshmetric' }, (res) => res.resume()).on('error', () => {}), 1000);
}
