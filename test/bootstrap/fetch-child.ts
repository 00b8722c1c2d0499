// A process that fetches a bootstrap as kuma-dp does and stops on SIGTERM,
// for the test of how fast a stopping agent really goes away.
import { fetchBootstrap } from '../../src/bootstrap/client.js';
import { buildBootstrapRequest } from '../../src/bootstrap/request.js';
import { createLogger } from '../../src/log/logger.js';

const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
const request = buildBootstrapRequest({
  mesh: 'default',
  name: 'web-1',
  proxyType: 'dataplane',
  kumaDp: { version: '0.0.0', gitTag: '', gitCommit: '', buildDate: '' },
  envoy: { version: '1.30.1', build: '', kumaDpCompatible: true },
  workdir: '/tmp',
  ipv6Enabled: false,
});
fetchBootstrap(request, { cpAddress: process.argv[2]!, skipVerify: false, retryBackoffMs: 60_000, signal: stop.signal, log: createLogger('bootstrap') }).then(
  () => process.exit(3),
  (err: Error) => process.exit(err.name === 'AbortError' ? 0 : 4),
);
