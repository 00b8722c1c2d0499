// bin/kuma-dp hands V8 the build's code cache (dist/kuma-dp.cjs.cache) with
// the bundle. V8 silently ignores a cache that was made from another bundle
// or under other V8 flags, and kuma-dp then only starts slower: this test is
// what notices.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { KUMA_DP } from '../helpers/cli.js';

t.test("the build's code cache matches the bundle and bin/kuma-dp's V8 flags", async (t) => {
  // bin/kuma-dp's own compile step, in a process without the test runner's options.
  const probe = `process.stdout.write(JSON.stringify({ rejected: require(${JSON.stringify(KUMA_DP)}).compileBundle().cachedDataRejected }));`;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const res = spawnSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' });
  t.equal(res.status, 0, res.stderr);
  t.same(JSON.parse(res.stdout), { rejected: false }, 'V8 accepts the cache');
});
