// Build step: records the commit and build date that `kuma-dp version` and
// the BootstrapRequest report (dist/build-info.json; "unknown" outside git).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

let gitCommit = 'unknown';
try {
  gitCommit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  // not a git checkout (e.g. installed from a tarball)
}
const buildDate = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
writeFileSync(new URL('../dist/build-info.json', import.meta.url), JSON.stringify({ gitCommit, buildDate }) + '\n');
