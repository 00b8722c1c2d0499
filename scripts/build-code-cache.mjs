// Build step, after build-bundle.mjs (and again where kuma-dp is installed,
// e.g. in its container image, since a cache fits only the Node that made it):
// writes V8's code cache for kuma-dp's start path, dist/kuma-dp.cjs.cache.
// Needs no dev dependency.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A control plane on loopback that answers every POST /bootstrap with the
 * bootstrap Kuma gives a sidecar (listeners and clusters over ADS), for the
 * code-cache run and the start-up benchmark.
 */
export async function startLoopbackControlPlane(name) {
  const bootstrap = [
    `node: { id: default.${name}, cluster: ${name} }`,
    'admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }',
    'dynamic_resources:',
    '  lds_config: { ads: {}, resource_api_version: V3 }',
    '  cds_config: { ads: {}, resource_api_version: V3 }',
    '  ads_config: { api_type: GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: ads_cluster } }] }',
    'static_resources:',
    '  clusters:',
    '    - name: ads_cluster',
    '      type: STATIC',
    '      connect_timeout: 1s',
    '      load_assignment: { cluster_name: ads_cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 5678 } } } }] }] }',
  ].join('\n');
  const answer = JSON.stringify({ bootstrap: Buffer.from(bootstrap).toString('base64'), kumaSidecarConfiguration: {} });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

export const CODE_CACHE_FILE = `${ROOT}dist/kuma-dp.cjs.cache`;

/**
 * V8's code cache for the start path: compiled code that bin/kuma-dp hands to
 * V8 with the bundle, so a start skips compiling it (measured: ~20 ms of a
 * ~225 ms start on a 2-core VM). V8 fills it with what a run compiled, so this
 * runs `kuma-dp run` once, as on a pod: against a control plane on loopback
 * that answers /bootstrap, with an Envoy double (a shell script) that exits at
 * once. Resolves with { size }, or { reason } when that run failed: kuma-dp
 * works without a cache, only starts slower.
 */
export async function buildCodeCache() {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-code-cache-'));
  const cp = await startLoopbackControlPlane('code-cache');
  try {
    const envoy = join(dir, 'envoy');
    writeFileSync(
      envoy,
      `#!/bin/sh\n[ "$1" = "--version" ] && printf '\\nenvoy  version: 0000000000000000000000000000000000000000/1.39.0/Clean/RELEASE/BoringSSL\\n'\nexit 0\n`,
    );
    chmodSync(envoy, 0o755);
    writeFileSync(
      join(dir, 'dataplane.yaml'),
      'type: Dataplane\nmesh: default\nname: code-cache\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - { port: 10001, servicePort: 8080, tags: { kuma.io/service: code-cache } }\n',
    );
    const args = [
      'run',
      '--cp-address',
      cp.url,
      '--dataplane-file',
      join(dir, 'dataplane.yaml'),
      '--binary-path',
      envoy,
      '--work-dir',
      join(dir, 'work'),
      '--drain-time',
      '0s',
    ];
    // Without the caller's KUMA_* settings (they override flags) and NODE_OPTIONS (e.g. a test runner's hooks, which change V8's flags and with them the cache).
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KUMA_') && name !== 'NODE_OPTIONS'));
    Object.assign(env, { KUMA_DP_BUILD_CODE_CACHE: '1', KUMA_READINESS_PORT: '0' });
    let stderr = '';
    const code = await new Promise((resolve) => {
      const child = spawn(process.execPath, [`${ROOT}bin/kuma-dp`, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('exit', resolve);
    });
    if (code !== 0) return { reason: `kuma-dp run exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` };
    return { size: statSync(CODE_CACHE_FILE).size };
  } finally {
    cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const cache = await buildCodeCache();
  const ms = Math.round(performance.now() - started);
  if (cache.size) console.log(`build-code-cache: ${CODE_CACHE_FILE} (${Math.round(cache.size / 1024)} KiB) in ${ms} ms`);
  else console.log(`build-code-cache: no code cache, kuma-dp will start without one (${cache.reason})`);
}
