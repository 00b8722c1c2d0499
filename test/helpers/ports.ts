import { createServer } from 'node:net';

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

// The kernel may hand the port it just freed out again, so two calls in a row
// could name the same port (seen: a Dataplane whose inbound and outbound got one).
const handedOut = new Set<number>();

/** A loopback port that was free a moment ago and that no earlier call in this process returned (for configs that must name a port, like Envoy's admin). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await ephemeralPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: the kernel kept handing out ports this process already uses');
}
