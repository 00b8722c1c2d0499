// The agent's own version, as Kuma's BootstrapRequest reports it. The build
// writes dist/build-info.json (git commit, the tag on it if any, date); what
// it does not know is "unknown", as in Kuma. The version comes from package.json.
import { readFileSync } from 'node:fs';
import { installPath } from '../util/install-paths.js';

export interface BuildInfo {
  version: string;
  gitTag: string;
  gitCommit: string;
  buildDate: string;
}

let cached: BuildInfo | undefined;

function readJson(path: string): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch {
    return undefined;
  }
}

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const pkg = readJson(installPath('package.json')) ?? {};
  const built = readJson(installPath('dist', 'build-info.json')) ?? {};
  const version = pkg.version ?? '0.0.0';
  cached = {
    version,
    gitTag: built.gitTag ?? 'unknown',
    gitCommit: built.gitCommit ?? 'unknown',
    buildDate: built.buildDate ?? 'unknown',
  };
  return cached;
}
