// bin/kuma-dp hands V8 the build's code cache (dist/kuma-dp.cjs.cache) with
// the bundle. V8 silently ignores a cache that was made from another bundle
// or under other V8 flags, and kuma-dp then only starts slower: this test is
// what notices.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../helpers/cli.js';

const BUNDLE = join(ROOT, 'dist', 'kuma-dp.cjs');

// Compiles the bundle as bin/kuma-dp does, in a process without the test runner's options.
const probe = `
const { readFileSync } = require('node:fs');
require('node:v8').setFlagsFromString('--liftoff-only');
const script = new (require('node:vm').Script)(require('node:module').wrap(readFileSync(${JSON.stringify(BUNDLE)}, 'utf8')), {
  filename: ${JSON.stringify(BUNDLE)},
  cachedData: readFileSync(${JSON.stringify(`${BUNDLE}.cache`)}),
});
process.stdout.write(JSON.stringify({ rejected: script.cachedDataRejected }));
`;

t.test("the build's code cache matches the bundle and bin/kuma-dp's V8 flags", async (t) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const res = spawnSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' });
  t.equal(res.status, 0, res.stderr);
  t.same(JSON.parse(res.stdout), { rejected: false }, 'V8 accepts the cache');
});
