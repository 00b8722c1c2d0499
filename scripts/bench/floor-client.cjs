// Reference program for the start-up benchmark: only the I/O `kuma-dp run`
// cannot avoid before Envoy starts, and nothing else. It runs
// `envoy --version`, POSTs to <cp>/bootstrap, writes the decoded bootstrap to
// a file and spawns Envoy under setpriv, as the agent does; no flags, no
// Dataplane, no YAML, no validation, no logging. Its start-up time is the
// floor the agent's own figure is compared with.
//   node floor-client.cjs <http|undici> <cp-url> <envoy-binary> <work-dir>
'use strict';
const { execFile, spawn } = require('node:child_process');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const [client, cpUrl, envoy, workDir] = process.argv.slice(2);
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
  });
});
