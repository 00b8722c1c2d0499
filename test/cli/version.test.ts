import t from 'tap';
import { chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { KUMA_DP, ROOT, run } from '../helpers/cli.js';

t.test('kuma-dp version prints the version; --detailed adds commit and build date', async (t) => {
  const short = await run(KUMA_DP, ['version']);
  t.equal(short.code, 0);
  t.match(short.stdout, /^kuma-dp: \d+\.\d+\.\d+\n$/);
  const detailed = await run(KUMA_DP, ['version', '--detailed']);
  t.equal(detailed.code, 0);
  t.match(detailed.stdout, /Version: +\d+\.\d+\.\d+\nGit Tag: +v\d+\.\d+\.\d+\nGit Commit: +([0-9a-f]{40}|unknown)\nBuild Date: +\S+\n/);
});

t.test('kuma-dp without a command explains what to do', async (t) => {
  const res = await run(KUMA_DP, []);
  t.equal(res.code, 1);
  t.match(res.stderr, /Name a command/);
});

t.test('an installation whose start-up bundle was never built says how to build it', async (t) => {
  // bin/kuma-dp runs dist/kuma-dp.cjs; a copy of bin/ with no dist/ beside it stands for a checkout after a bare `git clone`.
  const root = t.testdir({ bin: {} });
  for (const file of ['kuma-dp', 'package.json']) copyFileSync(join(ROOT, 'bin', file), join(root, 'bin', file));
  chmodSync(join(root, 'bin', 'kuma-dp'), 0o755);
  const res = await run(join(root, 'bin', 'kuma-dp'), ['version']);
  t.equal(res.code, 2);
  t.match(res.stderr, `kuma-dp is not built (${join(root, 'dist', 'kuma-dp.cjs')} is missing): run 'npm run build'`);
});
