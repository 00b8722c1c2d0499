// End to end: a MeshAccessLog with Tcp backends in kuma-mini-cp; two
// `kuma-dp run` proxies (Envoy stand-in, a test double, and a real Envoy when
// one is installed) log real requests through Envoy's file access logger into
// each agent's access-log pipe, and the agents stream the records to TCP
// collectors. One collector refuses connections: the others lose no line.
// Each agent's work dir holds what an earlier run left at the pipe's path.
import { execFileSync } from 'node:child_process';
import { lstatSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { accessLogSocketName } from '../../src/util/socket-name.js';
import { startTcpSink, type TcpSink } from '../accesslog/tcp-sink.js';
import { e2eEnvoys, httpGet, startHelloApp, startMiniCp, startProxy } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const envoys = e2eEnvoys();

const REQUESTS = 10;

for (const { label, envoy, skip } of envoys) {
  t.test(`MeshAccessLog Tcp backends: records of real requests reach the collectors (${label})`, { skip }, async (t) => {
    const cp = await startMiniCp();
    t.teardown(() => cp.stop());
    const sinks: TcpSink[] = [];
    const sink = async (): Promise<TcpSink> => {
      const s = await startTcpSink();
      sinks.push(s);
      t.teardown(() => s.close());
      return s;
    };
    const inbound = await sink();
    const outboundText = await sink();
    const outboundJson = await sink();
    const refused = `127.0.0.1:${await freePort()}`; // nothing listens there

    const put = await cp.api('PUT', '/meshes/default/meshaccesslogs/to-collectors', {
      type: 'MeshAccessLog',
      mesh: 'default',
      name: 'to-collectors',
      spec: {
        targetRef: { kind: 'Mesh' },
        from: [
          {
            targetRef: { kind: 'Mesh' },
            default: {
              backends: [
                { type: 'Tcp', tcp: { address: refused } },
                {
                  type: 'Tcp',
                  tcp: {
                    address: inbound.address,
                    format: {
                      type: 'Plain',
                      plain: '%START_TIME(%s)%,%KUMA_SOURCE_SERVICE%,%KUMA_DESTINATION_SERVICE%,%KUMA_TRAFFIC_DIRECTION%,%RESPONSE_CODE%,%REQ(:PATH)%',
                    },
                  },
                },
              ],
            },
          },
        ],
        to: [
          {
            targetRef: { kind: 'Mesh' },
            default: {
              backends: [
                { type: 'Tcp', tcp: { address: outboundText.address } },
                { type: 'Tcp', tcp: { address: refused } },
                {
                  type: 'Tcp',
                  tcp: {
                    address: outboundJson.address,
                    format: {
                      type: 'Json',
                      json: [
                        { key: 'path', value: '%REQ(:PATH)%' },
                        { key: 'dst', value: '%KUMA_DESTINATION_SERVICE%' },
                        { key: 'code', value: '%RESPONSE_CODE%' },
                        { key: 'agent', value: '%REQ(USER-AGENT)%' },
                      ],
                    },
                  },
                },
              ],
            },
          },
        ],
      },
    });
    t.equal(put.status, 201, `MeshAccessLog created (${put.text})`);
    t.equal(((await cp.api('GET', '/meshes/default/meshaccesslogs')).json as { total: number }).total, 1);

    const app = await startHelloApp('backend-1');
    t.teardown(() => app.close());
    const out = await freePort();
    let backendPipe = '';
    let webPipe = '';
    const backend = await startProxy(cp, envoy, {
      name: 'backend-1',
      service: 'backend',
      appPort: app.port,
      // Envoy appended to a regular file here in an earlier run that had no reader.
      prepareWorkDir: (dir) => writeFileSync((backendPipe = accessLogSocketName(dir, 'backend-1', 'default')), '{"address":"stale","message":"x"}\n'),
    });
    t.teardown(() => backend.stop('SIGKILL'));
    const web = await startProxy(cp, envoy, {
      name: 'web-1',
      service: 'web',
      appPort: app.port,
      outbounds: [{ port: out, service: 'backend' }],
      // A crashed kuma-dp left its FIFO: without a new reader, Envoy would block opening it.
      prepareWorkDir: (dir) => execFileSync('mkfifo', [(webPipe = accessLogSocketName(dir, 'web-1', 'default'))]),
    });
    t.teardown(() => web.stop('SIGKILL'));

    await waitFor(
      'HTTP through web → backend',
      async () => {
        const res = await httpGet(`http://127.0.0.1:${out}/warm-up`).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 30_000 },
    );
    t.ok(lstatSync(webPipe).isFIFO() && lstatSync(backendPipe).isFIFO(), 'both pipes are FIFOs made by the agents');
    for (let i = 0; i < REQUESTS; i++) {
      const res = await httpGet(`http://127.0.0.1:${out}/r${i}`);
      t.equal(res.status, 200);
    }
    const paths = Array.from({ length: REQUESTS }, (_, i) => `/r${i}`);
    // A real Envoy flushes its access logs every 10 s.
    const deadline = { timeoutMs: 40_000 };
    await waitFor('inbound records of every request', () => paths.every((p) => inbound.lines.some((l) => l.endsWith(`,${p}`))), deadline);
    await waitFor(
      'outbound text records of every request',
      () => paths.every((p) => outboundText.lines.some((l) => l.includes(`"GET ${p} HTTP/1.1" 200`))),
      deadline,
    );
    await waitFor('outbound JSON records of every request', () => paths.every((p) => outboundJson.lines.some((l) => l.includes(`"path":"${p}"`))), deadline);

    const inLine = inbound.lines.find((l) => l.endsWith(',/r0'))!;
    t.match(inLine, /^\d{10},unknown,backend,INBOUND,200,\/r0$/, 'inbound: the plain format with Kuma placeholders filled in by the CP');
    const textLine = outboundText.lines.find((l) => l.includes('"GET /r0 '))!;
    t.match(
      textLine,
      /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] default "GET \/r0 HTTP\/1\.1" 200 - 0 \d+ \d+ \d+ "-" "[^"]*" "-" "[^"]+" "127\.0\.0\.1:\d+" "web" "backend" "127\.0\.0\.1" "127\.0\.0\.1:\d+"$/,
      "outbound: Kuma's default HTTP format",
    );
    const jsonLine = outboundJson.lines.find((l) => l.includes('"path":"/r0"'))!;
    t.same((JSON.parse(jsonLine) as { dst: string }).dst, 'backend');
    t.match(jsonLine, /^\{"agent":"[^"]*","code":200,"dst":"backend","path":"\/r0"\}$/, "a JSON message re-encoded as Go's json.Marshal does: keys sorted");
    t.equal(inbound.connections, 1, 'one connection per collector and agent');
    t.equal(outboundText.connections, 1);
  });
}
