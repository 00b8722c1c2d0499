// kuma-dp run against a bootstrap shaped like today's Kuma control plane sends
// (pkg/xds/bootstrap/testdata/bootstrap.universal.golden.yaml, with the admin
// Unix socket Kuma >= 2.14 puts in the work dir): camelCase proto JSON,
// incremental ADS with LDS/CDS, HDS, the access-log sink cluster on a pipe.
// Through the real CLI with the Envoy stand-in (a test double): READY, systemd
// READY=1, SIGUSR2 and SIGTERM drains, all over the admin socket.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringifyYaml } from '../../src/util/yaml.js';
import { TYPE_URL } from '../../src/xds/ads-proto.js';
import { FakeAds } from '../helpers/fake-cp.js';
import { jsonBootstrapResponse } from '../helpers/fake-cp.js';
import { waitFor } from '../helpers/wait.js';
import { readiness, setup, startAgent, startNotifyReceiver, waitForReadiness, type Setup } from './harness.js';

const python = spawnSync('python3', ['--version']).status === 0;
const systemdNotify = spawnSync('systemd-notify', ['--version']).status === 0;

/** Kuma's universal golden bootstrap, pointed at the test's ADS server (plaintext here), with the pipe admin of a request that sent its workdir. */
function kumaGoldenBootstrap(x: Setup, adsPort: number): string {
  const grpcService = { envoyGrpc: { clusterName: 'system_ads' }, initialMetadata: [{ key: 'authorization', value: 'token' }] };
  const h2 = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicitHttpConfig: { http2ProtocolOptions: {} },
    },
  };
  const keepalive = { tcpKeepalive: { keepaliveInterval: 10, keepaliveProbes: 3, keepaliveTime: 10 } };
  const socketPath = x.adminAddress.kind === 'pipe' ? x.adminAddress.path : '';
  return stringifyYaml({
    admin: { address: { pipe: { path: socketPath, mode: 0o600 } } },
    defaultRegexEngine: { name: 'envoy.regex_engines.google_re2', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.regex_engines.v3.GoogleRE2' } },
    dynamicResources: {
      adsConfig: { apiType: 'DELTA_GRPC', grpcServices: [grpcService], setNodeOnFirstMessageOnly: true, transportApiVersion: 'V3' },
      cdsConfig: { ads: {}, initialFetchTimeout: '0s', resourceApiVersion: 'V3' },
      ldsConfig: { ads: {}, initialFetchTimeout: '0s', resourceApiVersion: 'V3' },
    },
    hdsConfig: { apiType: 'GRPC', grpcServices: [grpcService], setNodeOnFirstMessageOnly: true, transportApiVersion: 'V3' },
    layeredRuntime: { layers: [{ name: 'kuma', staticLayer: { 're2.max_program_size.error_level': 4294967295, 're2.max_program_size.warn_level': 1000 } }] },
    node: {
      cluster: 'web',
      id: 'default.web-1',
      metadata: {
        'dataplane.admin.address': '127.0.0.1',
        'dataplane.admin.port': '9901',
        'dataplane.admin.socketPath': socketPath,
        'dataplane.proxyType': 'dataplane',
        features: [],
        ipv6Enabled: false,
        workdir: x.workDir,
      },
    },
    staticResources: {
      clusters: [
        {
          connectTimeout: '1s',
          loadAssignment: {
            clusterName: 'system_access_log_sink',
            endpoints: [{ lbEndpoints: [{ endpoint: { address: { pipe: { path: join(x.workDir, 'kuma-al-web-1-default.sock') } } } }] }],
          },
          name: 'system_access_log_sink',
          type: 'STATIC',
          typedExtensionProtocolOptions: h2,
          upstreamConnectionOptions: keepalive,
        },
        {
          connectTimeout: '1s',
          loadAssignment: {
            clusterName: 'system_ads',
            endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: adsPort } } } }] }],
          },
          name: 'system_ads',
          type: 'STATIC',
          typedExtensionProtocolOptions: h2,
          upstreamConnectionOptions: keepalive,
        },
      ],
    },
    statsConfig: { statsTags: [{ regex: '(worker_([0-9]+)\\.)', tagName: 'worker' }] },
  });
}

t.test(
  "Kuma's current bootstrap shape (admin on a Unix socket, delta ADS): READY, READY=1, SIGUSR2 and SIGTERM drains over the socket",
  { skip: !python ? 'python3 is needed as the test datagram receiver' : !systemdNotify ? 'systemd-notify is not installed' : false },
  async (t) => {
    const x = await setup(t, { admin: 'pipe' });
    const ads = new FakeAds();
    await ads.start(t);
    const { socket: notifySocket, messages } = await startNotifyReceiver(t, x.s.dir);

    x.cp.respond(jsonBootstrapResponse(kumaGoldenBootstrap(x, ads.port)));
    const agent = startAgent(t, x, ['--drain-time', '3s', '--drain-min-time', '0s'], { NOTIFY_SOCKET: notifySocket });
    await waitFor('delta CDS request', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.cluster));
    t.equal(await readiness(x), '503 NOT_READY', 'not ready while Envoy waits for its config');
    await ads.pushDelta(TYPE_URL.cluster, 'c1', []);
    await waitFor('delta LDS request', () => ads.deltaRequests.find((r) => r.type_url === TYPE_URL.listener));
    await ads.pushDelta(TYPE_URL.listener, 'l1', []);
    await waitForReadiness(x, '200 READY');
    await waitFor('READY=1', () => messages().some((m) => m.startsWith('READY=1')));

    const socket = x.adminAddress.kind === 'pipe' ? x.adminAddress.path : '';
    t.equal(statSync(socket).mode & 0o777, 0o600, "Envoy's admin socket is 0600, as the bootstrap asks");
    t.match(
      agent.logs().find((l) => l.msg === 'bootstrap configuration saved to a file'),
      { admin: socket },
    );

    agent.kill('SIGUSR2');
    await waitFor('Envoy drains inbound listeners', () => /draining inbound listeners over 3s/.test(agent.stderr()));
    t.notOk(agent.logs().some((l) => l.msg === 'could not drain inbound listeners'));
    t.equal(agent.child.exitCode, null, 'SIGUSR2 leaves the agent running');

    agent.kill('SIGTERM');
    await agent.waitForLog((l) => l.msg === 'Envoy health check failed on purpose, so load balancers stop sending traffic', '/healthcheck/fail');
    t.equal((await agent.exited).code, 0);
    t.notOk(agent.logs().some((l) => l.msg === 'could not tell Envoy to fail its health check'));
    t.ok(
      messages().some((m) => m.startsWith('STOPPING=1')),
      'systemd was told the proxy is stopping',
    );
  },
);
