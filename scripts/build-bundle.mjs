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
//
// A second bundle of the same entry, dist/kuma-dp-lite.cjs, leaves out what
// only run, doctor and validate load (about 318 of 344 KiB): bin/kuma-dp runs
// `wait` (a container's HEALTHCHECK, every 10 s) and `version` from it, with
// the same flag tables and parser, and every other command from the full one.
import { renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE_FILE = `${ROOT}dist/kuma-dp.cjs`;
export const LITE_BUNDLE_FILE = `${ROOT}dist/kuma-dp-lite.cjs`;
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

// What cli/kuma-dp.ts loads lazily for run, doctor and validate only. In the
// lite bundle each is a module that throws: bin/kuma-dp never runs those
// commands from it (the test of bin/kuma-dp's choice keeps it that way).
const NOT_IN_LITE = new Set(['./run.js', '../config/agent-config.js', '../doctor/checks.js', '../validate/command.js']);
const leaveOutAgent = {
  name: 'lite-commands-only',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) =>
      args.kind === 'dynamic-import' && args.importer.endsWith(`${sep}cli${sep}kuma-dp.js`) && NOT_IN_LITE.has(args.path)
        ? { path: args.path, namespace: 'not-in-lite' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'not-in-lite' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`kuma-dp: ${args.path} is not in dist/kuma-dp-lite.cjs, which bin/kuma-dp runs only for wait and version`)});`,
      loader: 'js',
    }));
  },
};

/** One bundle of the entry, written through a rename (a test run may rebuild it while another process reads it). */
async function bundle(file, plugins) {
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
    plugins: [relativeToModule, ...plugins],
    write: false,
    logLevel: 'error',
  });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, result.outputFiles[0].contents);
  renameSync(temp, file);
  return statSync(file).size;
}

export async function buildBundle() {
  rmSync(`${ROOT}dist/compile-cache`, { recursive: true, force: true }); // compiled code of the previous bundles (scripts/build-code-cache.mjs)
  const [full, lite] = await Promise.all([bundle(BUNDLE_FILE, []), bundle(LITE_BUNDLE_FILE, [leaveOutAgent])]);
  return { full, lite };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const { full, lite } = await buildBundle();
  const kib = (n) => `${Math.round(n / 1024)} KiB`;
  console.log(`build-bundle: ${BUNDLE_FILE} (${kib(full)}), ${LITE_BUNDLE_FILE} (${kib(lite)}) in ${Math.round(performance.now() - started)} ms`);
}
