// Where the files kuma-dp ships with (package.json, envoy-templates/, the
// built descriptor) are. Found from this module's location by walking up to
// the package's root, so it holds both for the unbundled modules under
// dist/src/ and for the start-up bundle (dist/kuma-dp.cjs), which runs the
// same code from another depth.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'envoy-templates'))) return dir;
    if (dirname(dir) === dir) throw new Error(`kuma-dp: cannot find its installation (package.json and envoy-templates/) above ${from}`);
  }
}

/** The installed package's root directory, found on first use (kuma-dp wait never needs it). */
let packageRoot: string | undefined;

/** A path inside the installed package, e.g. installPath('envoy-templates'). */
export const installPath = (...parts: string[]): string => join((packageRoot ??= findPackageRoot(dirname(fileURLToPath(import.meta.url)))), ...parts);
