// Reference program for the start-up benchmark: what `kuma-dp wait` cannot
// avoid, as Kuma's wait command does it, and nothing else. Like any kuma-dp
// executable under issue 12 it checks the Node version and enables Node's
// compile cache (module.enableCompileCache, with no directory: NODE_COMPILE_CACHE
// picks it, as bin/kuma-dp allows); then it parses the command's five flags
// (node:util parseArgs), logs Kuma's two lines ("waiting for data plane proxy
// to be ready", "data plane is ready") to stderr as JSON, and GETs the
// readiness URL once over node:net, as kuma-dp's wait does (src/wait/http-get.ts),
// reading no more of the answer than its status line. Its start-up time is
// the floor `kuma-dp wait`'s own figure is compared with.
//   node floor-wait.cjs --url <readiness-url>
'use strict';
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) throw new Error('Node.js 22.12 or later');
require('node:module').enableCompileCache();
const { parseArgs } = require('node:util');
const { connect } = require('node:net');

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://localhost:9901/ready' },
    'unix-socket': { type: 'string', default: '' },
    timeout: { type: 'string', default: '3m0s' },
    'check-frequency': { type: 'string', default: '1s' },
    'request-timeout': { type: 'string', default: '500ms' },
  },
});
const log = (msg, fields) =>
  process.stderr.write(JSON.stringify({ ts: new Date().toISOString(), level: 'info', logger: 'kuma-dp.wait', msg, ...fields }) + '\n');

log('waiting for data plane proxy to be ready', { timeout: values.timeout });
const url = new URL(values.url);
const socket = connect({ host: url.hostname, port: Number(url.port) });
socket.setTimeout(500, () => process.exit(1));
socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
let head = '';
socket.on('data', (chunk) => {
  head += chunk.toString('latin1');
  if (!head.includes('\r\n')) return;
  const ready = head.startsWith('HTTP/1.1 200 ');
  if (ready) log('data plane is ready');
  process.exit(ready ? 0 : 1);
});
