// Build step, after build-bundle.mjs (and again where kuma-dp is installed,
// e.g. in its container image, since a cache fits only the Node that made it):
// fills Node's compile cache for kuma-dp's start path, dist/compile-cache/
// (bin/kuma-dp enables it with module.enableCompileCache). Needs no dev dependency.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A control plane on loopback that answers every POST /bootstrap with the
 * bootstrap Kuma gives a sidecar (listeners and clusters over ADS), for the
 * code-cache run and the start-up benchmark. `adminPort`: Envoy's admin port
 * in that bootstrap (the benchmark serves a stand-in admin API there).
 */
export async function startLoopbackControlPlane(name, { adminPort = 0 } = {}) {
  const bootstrap = [
    `node: { id: default.${name}, cluster: ${name} }`,
    `admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${adminPort} } } }`,
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

/** Where bin/kuma-dp keeps Node's compile cache. */
export const COMPILE_CACHE_DIR = `${ROOT}dist/compile-cache`;

/** Every file under dir and its total size. */
function filesUnder(dir) {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return { files: files.length, size: files.reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0) };
}

/** Runs bin/kuma-dp; resolves with its exit code and the end of its stderr. */
function kumaDp(args, env) {
  let stderr = '';
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`${ROOT}bin/kuma-dp`, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stderr: stderr.trim().split('\n').slice(-3).join(' | ') }));
  });
}

/**
 * Node's compile cache for the start path: V8's code for the bundles and the
 * libraries a start loads, as V8 compiled each file before running it (its
 * top level; functions compiled lazily, on their first call, are not kept:
 * measured, an entry is the same size whether or not they ran). Node writes
 * entries for the files a run loads, so this runs `kuma-dp run` once, as on a
 * pod: against a control plane on loopback that answers /bootstrap, with an
 * Envoy double (a shell script) that exits at once; then `kuma-dp wait` once,
 * for the lite bundle that wait and version run from. Resolves with
 * { files, size }, or { reason } when that run failed: kuma-dp works without
 * a cache, only starts slower.
 */
export async function buildCodeCache() {
  rmSync(COMPILE_CACHE_DIR, { recursive: true, force: true }); // entries for an earlier bundle or Node
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
    // Without the caller's KUMA_* settings (they override flags), NODE_OPTIONS (e.g. a test runner's hooks, which change V8's flags and with them
    // the cache) and Node's own compile-cache settings (they would send the cache elsewhere or nowhere).
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        ([name]) => !name.startsWith('KUMA_') && !name.startsWith('NODE_COMPILE_CACHE') && !/^NODE_(OPTIONS|DISABLE_COMPILE_CACHE)$/.test(name),
      ),
    );
    env.KUMA_READINESS_PORT = '0';
    const run = await kumaDp(args, env);
    if (run.code !== 0) return { reason: `kuma-dp run exited ${run.code}: ${run.stderr}` };
    // `wait` runs from the lite bundle (bin/kuma-dp): its own entry, filled by a wait against a ready proxy.
    const ready = createServer((req, res) => res.end('LIVE\n'));
    await new Promise((resolve) => ready.listen(0, '127.0.0.1', resolve));
    const wait = await kumaDp(['wait', '--url', `http://127.0.0.1:${ready.address().port}/ready`], env).finally(() => ready.close());
    if (wait.code !== 0) return { reason: `kuma-dp wait exited ${wait.code}: ${wait.stderr}` };
    // Node writes the files for its own user only; kuma-dp may run as another one (the image's `node` user), which only needs to read them.
    chmodSync(COMPILE_CACHE_DIR, 0o755);
    for (const e of readdirSync(COMPILE_CACHE_DIR, { recursive: true, withFileTypes: true }))
      chmodSync(join(e.parentPath, e.name), e.isDirectory() ? 0o755 : 0o644);
    return filesUnder(COMPILE_CACHE_DIR);
  } finally {
    cp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const cache = await buildCodeCache();
  const ms = Math.round(performance.now() - started);
  if (cache.size) console.log(`build-code-cache: ${COMPILE_CACHE_DIR} (${cache.files} files, ${Math.round(cache.size / 1024)} KiB) in ${ms} ms`);
  else console.log(`build-code-cache: no code cache, kuma-dp will start without one (${cache.reason})`);
}
