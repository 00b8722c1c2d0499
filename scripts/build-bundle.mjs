// Build step: bundles kuma-dp's compiled modules (dist/src/) into one
// CommonJS file, dist/kuma-dp.cjs, which bin/kuma-dp runs.
//
// Why: a sidecar pays its start-up once per pod. Node loads ~70 separate ES
// modules (ours and js-yaml's) about 100 ms slower than one
// CommonJS file with the same code (measured with `npm run bench:startup`).
// The code is tsc's output, unchanged; only how it is packaged differs.
//
// Libraries used only after Envoy is started, or only by other commands, stay
// outside the bundle and load from node_modules when needed.
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE_FILE = `${ROOT}dist/kuma-dp.cjs`;
const ENTRY = `${ROOT}dist/src/cli/kuma-dp.js`;

const EXTERNAL = ['yargs', 'yargs/*', 'prom-client', 'dns-packet', 'protobufjs', 'protobufjs/*', '@grpc/*', 'jose', '@peculiar/*'];

// Every module in the bundle sees the bundle's own URL as import.meta.url, so a
// path made relative to a module's location would point elsewhere. Shipped
// files are found through src/util/install-paths.ts instead; this check keeps
// it that way.
const relativeToModule = {
  name: 'no-module-relative-paths',
  setup(build) {
    build.onLoad({ filter: /[/\\]dist[/\\]src[/\\].*\.js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(args.path, 'utf8');
      if (/new URL\([^)]*import\.meta\.url/.test(text)) {
        return {
          errors: [
            {
              text: `${args.path} resolves a path against import.meta.url; in the bundle that is the bundle's location: use installPath() from src/util/install-paths.ts`,
            },
          ],
        };
      }
      return { contents: text, loader: 'js' };
    });
  },
};

export async function buildBundle() {
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: EXTERNAL,
    // Whitespace and syntax only: function names stay, so a stack trace still reads.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    define: { 'import.meta.url': '__kumaDpBundleUrl' },
    banner: { js: "'use strict';const __kumaDpBundleUrl=require('node:url').pathToFileURL(__filename).href;" },
    plugins: [relativeToModule],
    write: false,
    logLevel: 'error',
  });
  rmSync(`${ROOT}dist/compile-cache`, { recursive: true, force: true }); // compiled code of the previous bundle (scripts/build-code-cache.mjs)
  // Written through a rename: a test run may rebuild it while another process reads it.
  const temp = `${BUNDLE_FILE}.${process.pid}.tmp`;
  writeFileSync(temp, result.outputFiles[0].contents);
  renameSync(temp, BUNDLE_FILE);
  return statSync(BUNDLE_FILE).size;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const size = await buildBundle();
  console.log(`build-bundle: ${BUNDLE_FILE} (${Math.round(size / 1024)} KiB) in ${Math.round(performance.now() - started)} ms`);
}
