// Ports for configs that must name one before the process under test starts
// (Envoy's admin and listeners in a Dataplane, the readiness port). Servers a
// test starts itself bind port 0 and read it back instead.
//
// Parallel test files must never get the same port, and the kernel must not
// hand one of them out for someone's port 0 meanwhile. So ports come from
// below the kernel's ephemeral range, and each is claimed across processes
// by a lock file (O_EXCL) in a shared temp dir, removed when the process
// exits; a lock whose process is gone is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCKS = join(tmpdir(), 'kuma-dp-test-ports');
/** Below Linux's default ephemeral range (32768-60999), above well-known services. */
const FIRST = 20_000;
const LAST = 32_000;

const mine = new Set<number>();
process.on('exit', () => {
  for (const port of mine) rmSync(join(LOCKS, String(port)), { force: true });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims `port` for this process; false when another live test process holds it. */
function claim(port: number): boolean {
  const file = join(LOCKS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const holder = Number(readFileSync(file, 'utf8'));
  if (holder && processAlive(holder)) return false;
  rmSync(file, { force: true });
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port no other test process holds, free now, and outside the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  mkdirSync(LOCKS, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST));
    if (mine.has(port) || !claim(port)) continue;
    if (await bindable(port)) {
      mine.add(port);
      return port;
    }
    rmSync(join(LOCKS, String(port)), { force: true });
  }
  throw new Error(`freePort: no free port found in ${FIRST}-${LAST}`);
}
