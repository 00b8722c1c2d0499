// End to end: kuma-mini-cp, `kuma-dp run` proxies and an Envoy carry real
// traffic on loopback. Runs with the project's Envoy stand-in (a test
// double), and again with a real Envoy when ENVOY_BINARY is set or envoy is on PATH.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { KUMA_DP, run } from '../helpers/cli.js';
import { adminGet, e2eEnvoys, httpGet, startHelloApp, startMiniCp, startProxy } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const envoys = e2eEnvoys();

/** A TCP service that greets each connection with its name and echoes what it gets. */
async function startTcpApp(name: string): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write(`hello tcp from ${name}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    server,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function tcpGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\n')) {
        socket.end();
        resolve(data.trim());
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before a greeting (${JSON.stringify(data)})`)));
  });
}

async function bodyThrough(port: number, host = '127.0.0.1'): Promise<string | undefined> {
  try {
    const res = await httpGet(`http://${host}:${port}/`, 1500);
    return res.status === 200 ? res.body.trim() : undefined;
  } catch {
    return undefined;
  }
}

for (const { label, envoy, skip } of envoys) {
  t.test(`traffic through the mesh over HTTP and TCP; removal and a new backend (${label})`, { skip }, async (t) => {
    const cp = await startMiniCp();
    t.teardown(() => cp.stop());
    const app1 = await startHelloApp('backend-1');
    const tcpApp = await startTcpApp('db-1');
    t.teardown(() => app1.close());
    t.teardown(() => tcpApp.close());
    const httpOut = await freePort();
    const tcpOut = await freePort();
    const b1 = await startProxy(cp, envoy, { name: 'backend-1', service: 'backend', appPort: app1.port });
    t.teardown(() => b1.stop('SIGKILL'));
    const db = await startProxy(cp, envoy, { name: 'db-1', service: 'db', appPort: tcpApp.port, protocol: 'tcp' });
    t.teardown(() => db.stop('SIGKILL'));
    const web = await startProxy(cp, envoy, {
      name: 'web-1',
      service: 'web',
      appPort: app1.port,
      outbounds: [
        { port: httpOut, service: 'backend' },
        { port: tcpOut, service: 'db' },
      ],
    });
    t.teardown(() => web.stop('SIGKILL'));

    t.equal(
      await waitFor('HTTP through web → backend-1', () => bodyThrough(httpOut), { timeoutMs: 30_000 }),
      'hello from backend-1',
      'HTTP crosses both proxies',
    );
    t.equal(
      await waitFor('TCP through web → db-1', async () => tcpGreeting(tcpOut).catch(() => undefined), { timeoutMs: 30_000 }),
      'hello tcp from db-1',
      'TCP crosses both proxies',
    );

    const app2 = await startHelloApp('backend-2');
    t.teardown(() => app2.close());
    const b2 = await startProxy(cp, envoy, { name: 'backend-2', service: 'backend', appPort: app2.port });
    t.teardown(() => b2.stop('SIGKILL'));
    const seen = new Set<string>();
    await waitFor(
      'traffic to spread over backend-1 and backend-2',
      async () => {
        const body = await bodyThrough(httpOut);
        if (body) seen.add(body);
        return seen.size === 2;
      },
      { timeoutMs: 30_000 },
    );
    t.same([...seen].sort(), ['hello from backend-1', 'hello from backend-2'], 'a new backend joins and traffic spreads');

    t.equal((await cp.api('DELETE', '/meshes/default/dataplanes/backend-2')).status, 200);
    await b2.stop('SIGKILL');
    const deleted = await cp.api('DELETE', '/meshes/default/dataplanes/backend-1');
    t.equal(deleted.status, 200, 'backend-1 removed from the CP');
    await waitFor('no backend to answer once both are gone from the CP', async () => (await bodyThrough(httpOut)) === undefined, { timeoutMs: 15_000 });
    t.pass('removing the backends from the CP stops traffic to them');
  });

  t.test(`/ready is LIVE only once config has arrived; SIGTERM under traffic drains and exits 0 (${label})`, { skip }, async (t) => {
    const cp = await startMiniCp();
    t.teardown(() => cp.stop());
    const app = await startTcpApp('backend');
    t.teardown(() => app.close());
    const out = await freePort();
    const backend = await startProxy(cp, envoy, { name: 'backend-1', service: 'backend', appPort: app.port, protocol: 'tcp' });
    t.teardown(() => backend.stop('SIGKILL'));
    const web = await startProxy(cp, envoy, {
      name: 'web-1',
      service: 'web',
      appPort: app.port,
      protocol: 'tcp',
      outbounds: [{ port: out, service: 'backend' }],
    });
    t.teardown(() => web.stop('SIGKILL'));

    const readySeen: number[] = [];
    await waitFor(
      'web-1 LIVE',
      async () => {
        const res = await adminGet(web, '/ready', 1000).catch(() => undefined);
        if (!res) return false;
        readySeen.push(res.status);
        if (res.status !== 200) return false;
        const dump = await adminGet(web, '/config_dump', 2000);
        t.match(dump.body, `outbound:127.0.0.1:${out}`, 'when /ready says LIVE, the listeners from the CP are in place');
        return true;
      },
      { timeoutMs: 30_000 },
    );
    t.equal(readySeen[readySeen.length - 1], 200);
    // What an application container's HEALTHCHECK or start-up hook runs beside this proxy.
    if (web.admin.kind !== 'pipe') throw new Error("startProxy puts Envoy's admin API on a Unix socket");
    const wait = await run(KUMA_DP, ['wait', '--unix-socket', web.admin.path, '--timeout', '10s']);
    t.equal(wait.code, 0, `kuma-dp wait --unix-socket on the admin socket: ${wait.stderr}`);
    t.ok(wait.logs.some((l) => l.msg === 'the data plane proxy is ready'));

    const greeting = await waitFor('TCP through the mesh', async () => tcpGreeting(out).catch(() => undefined), { timeoutMs: 30_000 });
    t.equal(greeting, 'hello tcp from backend');

    // A connection that stays open across the drain.
    const socket = createConnection({ host: '127.0.0.1', port: out });
    let echoed = '';
    socket.on('data', (chunk) => (echoed += chunk.toString()));
    socket.on('error', () => undefined);
    await waitFor('open connection greeted', () => echoed.includes('hello'));
    web.proc.kill('SIGTERM');
    await web.proc.waitForLog((l) => l.msg === 'draining', 'draining');
    socket.write('still here\n');
    await waitFor('the open connection keeps working while draining', () => echoed.includes('still here'));
    const { code } = await web.proc.exited;
    t.equal(code, 0, 'the agent exits 0 after draining');
    socket.destroy();
  });

  t.test(`static mode: a CP bootstrap without listeners, the agent renders them and traffic flows (${label})`, { skip }, async (t) => {
    const { startFakeCp } = await import('../helpers/fake-cp.js');
    const { start, KUMA_DP } = await import('../helpers/cli.js');
    const { scratch } = await import('../cli/agent-harness.js');
    const s = await scratch();
    const cp = await startFakeCp();
    t.teardown(async () => {
      await cp.close();
      s.cleanup();
    });
    // The backend listens on 127.0.0.2, named by --outbound-upstream; the outbound listener binds its own address, 127.0.0.3 (Kuma's meaning).
    const port = await freePort();
    const { createServer: createHttp } = await import('node:http');
    const app = createHttp((_req, res) => res.end('hello from static backend\n'));
    await new Promise<void>((resolve) => app.listen(port, '127.0.0.2', resolve));
    t.teardown(() => app.close());
    const inboundPort = await freePort();
    const inboundApp = await startHelloApp('static-web');
    t.teardown(() => inboundApp.close());
    cp.respond({
      status: 200,
      contentType: 'text/x-yaml',
      body: `node: { id: default.static-1, cluster: web }\nadmin: { address: { socket_address: { address: 127.0.0.1, port_value: ${s.adminPort} } } }\n`,
    });
    const dataplane = `type: Dataplane\nmesh: default\nname: static-1\nnetworking:\n  address: 127.0.0.1\n  inbound:\n    - port: ${inboundPort}\n      servicePort: ${inboundApp.port}\n      tags: { kuma.io/service: web, kuma.io/protocol: http }\n  outbound:\n    - port: ${port}\n      address: 127.0.0.3\n      tags: { kuma.io/service: backend, kuma.io/protocol: http }\n`;
    const agent = start(
      KUMA_DP,
      [
        'run',
        '--cp-address',
        cp.url,
        '--dataplane',
        dataplane,
        '--binary-path',
        envoy.binary,
        '--drain-time',
        '0s',
        '--outbound-upstream',
        `backend=127.0.0.2:${port}`,
      ],
      { env: { KUMA_READINESS_PORT: '0' } },
    );
    t.teardown(() => agent.kill('SIGKILL'));
    t.equal(await waitFor('HTTP through the static outbound', () => bodyThrough(port, '127.0.0.3'), { timeoutMs: 30_000 }), 'hello from static backend');
    t.equal(await waitFor('HTTP through the static inbound', () => bodyThrough(inboundPort), { timeoutMs: 30_000 }), 'hello from static-web');
    agent.kill('SIGTERM');
    t.equal((await agent.exited).code, 0);
  });
}
