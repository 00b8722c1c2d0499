// bin/kuma-dp turns on Node's compile cache in dist/compile-cache/, which the
// build fills (scripts/build-code-cache.mjs). Node ignores an entry made from
// another bundle or by another Node, and kuma-dp then only starts slower: this
// test is what notices. Node's own debug output (NODE_DEBUG_NATIVE=COMPILE_CACHE)
// says whether V8 accepted the cached code.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { installationCopy, KUMA_DP, ROOT, run } from '../helpers/cli.js';

const BUNDLE = join(ROOT, 'dist', 'kuma-dp.cjs');
const LITE = join(ROOT, 'dist', 'kuma-dp-lite.cjs');
const accepted = (stderr: string, bundle: string) => stderr.includes(`V8 code cache for CommonJS ${bundle} was accepted`);

t.test('the build fills the compile cache and a start uses it', async (t) => {
  const dir = join(ROOT, 'dist', 'compile-cache');
  t.ok(readdirSync(dir, { recursive: true }).length > 0, `${dir} has entries`);
  const full = await run(KUMA_DP, ['--help'], { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
  t.equal(full.code, 0, full.stderr);
  t.ok(accepted(full.stderr, BUNDLE), 'V8 accepts the cached code of the bundle');
  const lite = await run(KUMA_DP, ['version'], { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
  t.equal(lite.code, 0, lite.stderr);
  t.ok(accepted(lite.stderr, LITE), 'and of the lite bundle, which version runs from');
});

t.test('wait and version run from the lite bundle, every other command from the full one', async (t) => {
  const loaded = async (args: string[]) => {
    const res = await run(KUMA_DP, args, { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
    return res.stderr.includes(LITE) ? 'lite' : res.stderr.includes(BUNDLE) ? 'full' : `neither: ${res.stderr}`;
  };
  t.equal(await loaded(['version']), 'lite');
  t.equal(await loaded(['wait', '--help']), 'lite');
  for (const args of [['--help'], ['run', '--help'], ['doctor', '--help'], ['validate', '--help'], ['--log-level', 'debug', 'version']])
    t.equal(await loaded(args), 'full', args.join(' '));
  // The lite bundle has the command table but not the agent: run from it directly, run says so.
  const res = await run(process.execPath, [LITE, 'run', '--name', 'a', '--mesh', 'b']);
  t.not(res.code, 0);
  t.match(res.stderr, /is not in dist\/kuma-dp-lite\.cjs, which bin\/kuma-dp runs only for wait and version/);
});

t.test('a corrupt compile cache costs only a compile: kuma-dp starts, and replaces it', async (t) => {
  const root = installationCopy(t.testdir());
  const first = await run(join(root, 'bin', 'kuma-dp'), ['version']);
  t.equal(first.code, 0, first.stderr);
  const entries = readdirSync(join(root, 'dist', 'compile-cache'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  t.ok(entries.length > 0, 'the first start wrote the cache');
  for (const e of entries) writeFileSync(join(e.parentPath, e.name), 'not a V8 code cache');
  const corrupt = await run(join(root, 'bin', 'kuma-dp'), ['version']);
  t.equal(corrupt.code, 0, corrupt.stderr);
  t.match(corrupt.stdout, /^kuma-dp: \d+\.\d+\.\d+\n$/);
  const next = await run(join(root, 'bin', 'kuma-dp'), ['version'], { env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } });
  t.ok(accepted(next.stderr, join(root, 'dist', 'kuma-dp-lite.cjs')), 'the start after it uses a fresh cache');
});

t.test('an installation where the cache directory cannot be made starts, with a cache in the temp dir', async (t) => {
  const root = installationCopy(t.testdir());
  writeFileSync(join(root, 'dist', 'compile-cache'), 'a file where the directory would go');
  const tmp = join(root, 'tmp');
  mkdirSync(tmp);
  const res = await run(join(root, 'bin', 'kuma-dp'), ['version'], { env: { TMPDIR: tmp } });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /^kuma-dp: \d+\.\d+\.\d+\n$/);
  t.ok(existsSync(join(tmp, 'node-compile-cache')), "Node's default cache directory is used instead");
});
