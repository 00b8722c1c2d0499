// The agent's work directory: the Envoy config and the token file live here.
// A directory the user names is created if needed and kept; otherwise a
// temporary one is made and removed when the agent exits.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { writePrivateFileSync } from '../util/private-file.js';

export interface WorkDir {
  path: string;
  temporary: boolean;
  /** Writes a file readable by the owner only (0600), atomically. */
  writePrivate(name: string, content: string): string;
  /** Asks that a temporary work dir outlive the agent (a crashed Envoy's config dump is in it). */
  keep(reason: string): void;
  /** Removes a temporary work dir unless keep() was called; a given one is always kept. Returns why a temporary one was kept. */
  cleanup(): { keptBecause?: string };
}

const DIR_MODE = 0o711;

export function openWorkDir(given: string | undefined): WorkDir {
  let path: string;
  let temporary = false;
  if (given) {
    try {
      mkdirSync(given, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      throw new UserError(`--work-dir ${given}: cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    // Checked now, before the control plane is contacted: the bootstrap and the token are written here later.
    // A probe file, not access(2): root passes access() on a read-only mount, and only a write tells.
    const probe = join(given, `.kuma-dp-write-check-${process.pid}`);
    try {
      writeFileSync(probe, '', { mode: 0o600 });
      rmSync(probe, { force: true });
    } catch (err) {
      throw new UserError(
        `--work-dir ${given}: is not writable by this user (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the Envoy config is written there. Fix its permissions or pick another directory`,
      );
    }
    path = given;
  } else {
    path = mkdtempSync(join(tmpdir(), 'kuma-dp-'));
    chmodSync(path, DIR_MODE);
    temporary = true;
  }
  let keptBecause: string | undefined;
  return {
    path,
    temporary,
    keep(reason) {
      keptBecause ??= reason;
    },
    writePrivate(name, content) {
      const file = join(path, name);
      try {
        writePrivateFileSync(file, content);
      } catch (err) {
        throw new UserError(`cannot write ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check --work-dir`);
      }
      return file;
    },
    cleanup() {
      if (!temporary) return {};
      if (keptBecause) return { keptBecause };
      rmSync(path, { recursive: true, force: true });
      return {};
    },
  };
}
