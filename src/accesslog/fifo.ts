// The named pipe Envoy's file access logger writes to. Node has no mkfifo()
// (libuv does not wrap it), so the FIFO is made by coreutils' `mkfifo`, which
// every Linux and macOS image that runs Envoy has; the npm `mkfifo` package is a
// native addon, not worth a compiler in the build for one call.
import { execFile } from 'node:child_process';
import { chmodSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';

const FIFO_MODE = 0o666;

/** What is at `path` now, for messages. */
function describe(path: string): string {
  try {
    const st = lstatSync(path);
    return st.isFIFO() ? 'a FIFO' : st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'a special file';
  } catch {
    return 'nothing';
  }
}

/**
 * Removes whatever an earlier run left at `path` (a stale FIFO, or the
 * regular file Envoy makes when no FIFO is there), then makes a FIFO with mode
 * 0666. Resolves with what was removed ('nothing' when the path was free).
 */
export async function makeFifo(path: string): Promise<string> {
  const before = describe(path);
  try {
    unlinkSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new Error(`cannot remove ${before} at ${path} (${code ?? (err as Error).message})`);
  }
  await new Promise<void>((resolve, reject) => {
    execFile('mkfifo', ['-m', '666', path], (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new Error(missing ? "the 'mkfifo' command (coreutils) is not on PATH" : `mkfifo failed: ${stderr.trim() || err.message}`));
    });
  });
  chmodSync(path, FIFO_MODE); // `mkfifo -m` already set it; this keeps it right on a mkfifo that applies the umask
  if (!lstatSync(path).isFIFO()) throw new Error(`${path} is not a FIFO after mkfifo`);
  return before;
}

/**
 * Opens the FIFO for reading without blocking the event loop and without
 * ever reading EOF: opened read-write, the pipe always has a writer (us), so
 * Envoy closing and reopening its end (a restart, /reopen_logs) goes
 * unnoticed, and Envoy's open() never waits for a reader. O_NONBLOCK lets
 * libuv poll it instead of parking a thread-pool thread in read().
 */
export function openFifoReader(path: string): Socket {
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  return new Socket({ fd, readable: true, writable: false });
}
