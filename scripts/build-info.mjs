// Build step: records the commit, the tag on it (only when there is one) and
// the build date that `kuma-dp version` and the BootstrapRequest report
// (dist/build-info.json; src/cli/build-info.ts says "unknown" for what is missing).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** git's answer, or undefined when git fails (not a checkout, no tag on HEAD). */
function git(...args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const info = {
  gitCommit: git('rev-parse', 'HEAD'),
  gitTag: git('describe', '--tags', '--exact-match', 'HEAD'),
  buildDate: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
};
writeFileSync(new URL('../dist/build-info.json', import.meta.url), JSON.stringify(info) + '\n');
