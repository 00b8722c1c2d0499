// The agent's own version, as Kuma's BootstrapRequest reports it. The build
// writes dist/build-info.json (git commit, date); from a source checkout
// without it, the version comes from package.json alone.
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  version: string;
  gitTag: string;
  gitCommit: string;
  buildDate: string;
}

let cached: BuildInfo | undefined;

function readJson(url: URL): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(url, 'utf8')) as Record<string, string>;
  } catch {
    return undefined;
  }
}

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const pkg = readJson(new URL('../../../package.json', import.meta.url)) ?? {};
  const built = readJson(new URL('../../build-info.json', import.meta.url)) ?? {};
  const version = pkg.version ?? '0.0.0';
  cached = {
    version,
    gitTag: `v${version}`,
    gitCommit: built.gitCommit ?? 'unknown',
    buildDate: built.buildDate ?? 'unknown',
  };
  return cached;
}
