import t from 'tap';
import { KUMA_DP, run } from '../helpers/cli.js';

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
