// Files only their owner may read (keys, tokens): written to a staging file
// with mode 0600, chmod-ed to 0600 (the mode given to open() applies only to
// a new file, and the umask can only narrow it), then renamed into place, so
// the file is 0600 whatever existed at that path before and is never seen
// half-written.
import { chmodSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

export const PRIVATE_MODE = 0o600;

export function writePrivateFileSync(file: string, content: string): void {
  const staging = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(staging, content, { mode: PRIVATE_MODE });
    chmodSync(staging, PRIVATE_MODE);
    renameSync(staging, file);
  } catch (err) {
    rmSync(staging, { force: true });
    throw err;
  }
}

/** Narrows an existing key file to 0600 (a key copied in with 0644 stays readable by others otherwise). */
export function keepPrivate(file: string): void {
  if ((statSync(file).mode & 0o777) !== PRIVATE_MODE) chmodSync(file, PRIVATE_MODE);
}
