// Reference program for the start-up benchmark: what `kuma-dp wait` cannot
// avoid, as Kuma's wait command does it, and nothing else. Like any kuma-dp
// executable under issue 12 it checks the Node version and enables Node's
// compile cache (module.enableCompileCache, with no directory: NODE_COMPILE_CACHE
// picks it, as bin/kuma-dp allows); then it parses the command's five flags
// (node:util parseArgs), logs Kuma's two lines ("waiting for data plane proxy
// to be ready", "data plane is ready") to stderr as JSON, and GETs the
// readiness URL once. Its start-up time is the floor `kuma-dp wait`'s own
// figure is compared with.
//   node floor-wait.cjs --url <readiness-url>
'use strict';
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) throw new Error('Node.js 22.12 or later');
require('node:module').enableCompileCache();
const { parseArgs } = require('node:util');
const { request } = require('node:http');

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
request(values.url, { timeout: 500 }, (res) => {
  res.resume();
  res.on('end', () => {
    if (res.statusCode === 200) log('data plane is ready');
    process.exit(res.statusCode === 200 ? 0 : 1);
  });
}).end();
