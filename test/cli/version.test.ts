import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { installationCopy, KUMA_DP, ROOT, run } from '../helpers/cli.js';

t.test('kuma-dp version prints the version; --detailed adds commit and build date', async (t) => {
  const short = await run(KUMA_DP, ['version']);
  t.equal(short.code, 0);
  t.match(short.stdout, /^kuma-dp: \d+\.\d+\.\d+\n$/);
  const detailed = await run(KUMA_DP, ['version', '--detailed']);
  t.equal(detailed.code, 0);
  t.match(detailed.stdout, /Version: +\d+\.\d+\.\d+\nGit Tag: +\S+\nGit Commit: +([0-9a-f]{40}|unknown)\nBuild Date: +\S+\n/);
});

t.test('the build records a git tag only when HEAD has one; without, version says unknown', async (t) => {
  // scripts/build-info.mjs in a scratch repository, writing the dist/build-info.json beside it.
  const root = t.testdir({ scripts: {}, dist: {} });
  copyFileSync(join(ROOT, 'scripts', 'build-info.mjs'), join(root, 'scripts', 'build-info.mjs'));
  // git must not find the checkout the test directory sits in.
  const env = { ...process.env, GIT_CEILING_DIRECTORIES: dirname(root) };
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false', ...args], {
      cwd: root,
      env,
    });
  const build = () => {
    execFileSync(process.execPath, [join(root, 'scripts', 'build-info.mjs')], { cwd: root, env });
    return JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8')) as Record<string, string>;
  };
  t.notOk('gitCommit' in build(), 'not a git checkout: no commit');
  git('init', '-q');
  git('commit', '-q', '--allow-empty', '-m', 'first');
  const untagged = build();
  t.match(untagged.gitCommit, /^[0-9a-f]{40}$/);
  t.notOk('gitTag' in untagged, 'no tag on HEAD: none recorded');
  git('tag', 'v1.2.3');
  t.equal(build().gitTag, 'v1.2.3');
  git('commit', '-q', '--allow-empty', '-m', 'second');
  t.notOk('gitTag' in build(), 'a tag on an older commit is not this build');

  // What kuma-dp reports from a build-info.json without a tag (a copy of the install with its own dist/).
  const install = installationCopy(t.testdir(), { buildInfo: false });
  writeFileSync(join(install, 'dist', 'build-info.json'), JSON.stringify({ buildDate: '2026-01-01T00:00:00Z' }));
  const res = await run(join(install, 'bin', 'kuma-dp'), ['version', '--detailed']);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /\nGit Tag: +unknown\nGit Commit: +unknown\nBuild Date: +2026-01-01T00:00:00Z\n/);
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

t.test('an installation built without the lite bundle runs wait and version from the full one', async (t) => {
  const install = installationCopy(t.testdir());
  rmSync(join(install, 'dist', 'kuma-dp-lite.cjs'));
  const res = await run(join(install, 'bin', 'kuma-dp'), ['version']);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /^kuma-dp: /);
});

// The machines' system Node (/usr/bin/node) is 20 here; elsewhere there may be no older Node to run them with.
const olderNode = ['/usr/bin/node', '/usr/local/bin/node'].find((node) => {
  try {
    const [major, minor] = execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim().split('.').map(Number);
    return major! < 22 || (major === 22 && minor! < 12);
  } catch {
    return false;
  }
});

t.test(
  'on a Node older than 22.12 both executables say which Node they need, not a TypeError',
  { skip: olderNode ? false : 'no Node older than 22.12 on this machine' },
  async (t) => {
    for (const program of ['kuma-dp', 'kuma-mini-cp']) {
      const res = await run(olderNode!, [join(ROOT, 'bin', program), 'version']);
      t.equal(res.code, 2, program);
      t.match(res.stderr, new RegExp(`^Error: ${program} needs Node.js 22.12 or later \\(24 LTS recommended\\); ${olderNode} is v\\d+\\.`), program);
      t.notMatch(res.stderr, /TypeError/);
    }
  },
);
