// Finding the Envoy executable as Kuma does (--binary-path, PATH, the working
// directory, next to kuma-dp) and reading its version. A missing or broken
// binary fails at once, before the control plane is contacted.
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';

/** The Envoy release this agent is built and tested against; ~x.y.0 is compatible (Kuma's rule). */
export const EXPECTED_ENVOY_VERSION = '1.39.0';

export interface EnvoyVersion {
  /** e.g. "1.39.0" */
  version: string;
  /** The whole build string, e.g. "<sha>/1.39.0/Clean/RELEASE/BoringSSL". */
  build: string;
  kumaDpCompatible: boolean;
}

export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface LookupPlaces {
  pathEnv: string | undefined;
  cwd: string;
  /** The directory of the kuma-dp executable. */
  agentDir: string;
}

export function defaultLookupPlaces(): LookupPlaces {
  return { pathEnv: process.env.PATH, cwd: process.cwd(), agentDir: dirname(process.argv[1] ?? process.execPath) };
}

/** Resolves --binary-path to an executable file, or explains where it looked. */
export function findEnvoyBinary(binaryPath: string, places: LookupPlaces = defaultLookupPlaces()): string {
  if (binaryPath.includes('/')) {
    const path = isAbsolute(binaryPath) ? binaryPath : resolve(places.cwd, binaryPath);
    if (isExecutableFile(path)) return path;
    throw new UserError(`--binary-path ${binaryPath}: no executable file there; install Envoy (see README, "Installing Envoy") or correct --binary-path`);
  }
  const dirs = [...(places.pathEnv ?? '').split(delimiter).filter(Boolean), places.cwd, places.agentDir];
  for (const dir of dirs) {
    const candidate = join(dir, binaryPath);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new UserError(
    `Envoy executable '${binaryPath}' not found in PATH, the working directory (${places.cwd}) or next to kuma-dp (${places.agentDir}); ` +
      'install Envoy (see README, "Installing Envoy") or pass --binary-path /path/to/envoy',
  );
}

const VERSION_LINE = /version:\s*(\S+)/;

/** Parses `envoy --version` output: "envoy  version: <sha>/<x.y.z>/<status>/<type>/<ssl>". */
export function parseEnvoyVersion(output: string): { version: string; build: string } | undefined {
  const match = VERSION_LINE.exec(output.replace(/\r\n/g, '\n'));
  if (!match) return undefined;
  const build = match[1]!;
  const parts = build.split('/');
  if (parts.length !== 5 || !/^\d+\.\d+\.\d+/.test(parts[1]!)) return undefined;
  return { version: parts[1]!, build };
}

/** Kuma's rule: the same version, or the same major.minor with a patch at least the expected one. */
export function versionCompatible(expected: string, actual: string): boolean {
  if (expected === actual) return true;
  const [eMajor, eMinor, ePatch] = expected.split('.').map(Number);
  const [aMajor, aMinor, aPatch] = actual.split(/[.-]/).map(Number);
  return aMajor === eMajor && aMinor === eMinor && (aPatch ?? 0) >= (ePatch ?? 0);
}

export function envoyVersion(binary: string, timeoutMs = 5000): Promise<EnvoyVersion> {
  return new Promise((resolveVersion, reject) => {
    execFile(binary, ['--version'], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const why =
          (err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : err.killed ? `no answer within ${timeoutMs} ms` : err.message.split('\n')[0];
        reject(
          new UserError(
            `Envoy at ${binary} does not run ('${binary} --version' failed: ${why}${stderr ? `; stderr: ${stderr.trim().slice(0, 300)}` : ''}); check the binary or --binary-path`,
          ),
        );
        return;
      }
      const parsed = parseEnvoyVersion(stdout);
      if (!parsed) {
        reject(new UserError(`'${binary} --version' printed no Envoy version ('${stdout.trim().slice(0, 200)}'); is --binary-path an Envoy binary?`));
        return;
      }
      resolveVersion({ ...parsed, kumaDpCompatible: versionCompatible(EXPECTED_ENVOY_VERSION, parsed.version) });
    });
  });
}
