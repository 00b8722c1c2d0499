// A bootstrap with static resources only: the stand-in goes LIVE at once,
// proxies TCP and HTTP to STATIC and STRICT_DNS clusters, and its admin API
// answers as Envoy's does.
import t from 'tap';
import { Agent, createServer as createHttpServer } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server, type IncomingHttpHeaders } from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import { alive, waitFor } from '../helpers/wait.js';
import {
  adminBlock,
  adminGet,
  configDump,
  httpBackend,
  httpGet,
  httpListener,
  listenerPort,
  serverInfo,
  startStandin,
  stat,
  staticCluster,
  tcpBackend,
  tcpExchange,
  tcpListener,
} from './harness.js';

t.test('static resources: traffic, admin endpoints and drain', async (t) => {
  const tcpA = await tcpBackend(t, 'a');
  const tcpB = await tcpBackend(t, 'b');
  const http1 = await httpBackend(t, 'h1');
  const http2 = await httpBackend(t, 'h2');
  const s = await startStandin(t, {
    node: { id: 'static-node', cluster: 'static' },
    admin: adminBlock,
    static_resources: {
      listeners: [
        tcpListener('tcp-in', 'tcp-static', 0, 'INBOUND'),
        tcpListener('tcp-dns', 'tcp-dns', 0, 'OUTBOUND'),
        httpListener('http-out', [
          { match: { path: '/direct' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
          { match: { prefix: '/api/' }, route: { cluster: 'http-dns', prefix_rewrite: '/v2/' } },
          { match: { prefix: '/missing' }, route: { cluster: 'no-such-cluster' } },
          { match: { prefix: '/' }, route: { cluster: 'http-static' } },
        ]),
      ],
      clusters: [
        staticCluster('tcp-static', [
          ['127.0.0.1', tcpA],
          ['127.0.0.1', tcpB],
        ]),
        staticCluster('tcp-dns', [['localhost', tcpA]], 'STRICT_DNS'),
        staticCluster('http-static', [['127.0.0.1', http1]]),
        staticCluster('http-dns', [['localhost', http2]], 'STRICT_DNS'),
      ],
    },
  });
  const ready = await adminGet(s, '/ready');
  t.same(ready, { status: 200, body: 'LIVE\n' }, 'LIVE with nothing dynamic to wait for');
  t.equal(await stat(s, 'listener_manager.workers_started'), 1);

  const tcpInPort = await listenerPort(s, 'tcp-in');
  const replies = [];
  for (let i = 0; i < 4; i++) replies.push(await tcpExchange(tcpInPort, `ping${i}`));
  t.same(replies, ['a:ping0', 'b:ping1', 'a:ping2', 'b:ping3'], 'TCP round robin over the STATIC cluster');
  t.equal(await tcpExchange(await listenerPort(s, 'tcp-dns'), 'hello'), 'a:hello', 'TCP through a STRICT_DNS (localhost) cluster');

  const httpPort = await listenerPort(s, 'http-out');
  const root = await httpGet(httpPort, '/hello');
  t.equal(root.status, 200);
  t.equal(root.body, 'h1 GET /hello');
  t.match(root.headers['x-seen-request-id'], /^[0-9a-f-]{36}$/, 'x-request-id generated for the upstream');
  t.ok(root.headers['x-envoy-upstream-service-time'] !== undefined);
  t.equal((await httpGet(httpPort, '/api/items?x=1')).body, 'h2 GET /v2/items?x=1', 'prefix_rewrite to the STRICT_DNS cluster');
  t.same(((r) => [r.status, r.body])(await httpGet(httpPort, '/direct')), [418, 'teapot'], 'direct_response');
  t.equal((await httpGet(httpPort, '/missing')).status, 503, 'route to an unknown cluster: 503');

  // Stats under Envoy's names.
  t.equal(await stat(s, 'server.state'), 0);
  t.equal(await stat(s, 'server.live'), 1);
  t.equal(await stat(s, 'cluster.tcp-static.upstream_cx_total'), 4);
  t.equal(await stat(s, 'tcp.tcp-in.downstream_cx_total'), 4);
  t.equal(await stat(s, 'listener.127.0.0.1_0.downstream_cx_total'), 9, 'listener stats named after the configured address (all three share it)');
  t.equal(await stat(s, 'http.http-out.downstream_rq_total'), 4);
  t.equal(await stat(s, 'http.http-out.downstream_rq_2xx'), 2);
  t.equal(await stat(s, 'cluster.http-static.upstream_rq_200'), 1);
  const prom = (await adminGet(s, '/stats/prometheus')).body;
  t.match(prom, /# TYPE envoy_cluster_upstream_cx_total counter\n(.*\n)*envoy_cluster_upstream_cx_total\{envoy_cluster_name="tcp-static"\} 4\n/);
  t.match(prom, /envoy_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="http-out"\} 2/);
  t.match(prom, /envoy_server_state 0\n/);
  t.match((await adminGet(s, '/stats')).body, /^server\.state: 0$/m);

  // Admin reports.
  const info = await serverInfo(s);
  t.equal(info.state, 'LIVE');
  t.match(info.version, /^[0-9a-f]{40}\/1\.39\.0\/Clean\/RELEASE\/BoringSSL$/);
  t.equal(info.command_line_options.disable_hot_restart, true);
  t.equal(info.node.id, 'static-node');
  const dump = await configDump(s);
  t.same(
    dump.map((c) => c['@type'].replace(/^.*\./, '')),
    [
      'BootstrapConfigDump',
      'ClustersConfigDump',
      'ListenersConfigDump',
      'ScopedRoutesConfigDump',
      'RoutesConfigDump',
      'SecretsConfigDump',
      'EndpointsConfigDump',
    ],
  );
  t.equal(dump[1]?.static_clusters?.length, 4);
  t.equal(dump[1]?.static_clusters?.[0]?.cluster['@type'], 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  t.equal(dump[2]?.static_listeners?.length, 3);
  t.equal(dump[6]?.static_endpoint_configs?.length, 4);
  t.match((await adminGet(s, '/listeners')).body, new RegExp(`^tcp-in::127\\.0\\.0\\.1:${tcpInPort}$`, 'm'));
  const clusters = (await adminGet(s, '/clusters')).body;
  t.match(clusters, new RegExp(`^tcp-static::127\\.0\\.0\\.1:${tcpA}::health_flags::healthy$`, 'm'));
  t.match(clusters, new RegExp(`^tcp-dns::127\\.0\\.0\\.1:${tcpA}::`, 'm'), 'STRICT_DNS hosts are the resolved addresses');

  // POST-only endpoints refuse GET, as Envoy does.
  for (const path of ['/quitquitquit', '/drain_listeners', '/healthcheck/fail', '/healthcheck/ok']) {
    const r = await adminGet(s, path);
    t.equal(r.status, 405, `GET ${path}`);
    t.equal(r.body, 'Method GET not allowed, POST required.');
  }
  t.equal((await adminGet(s, '/no_such_page')).status, 404);

  // Health check failure: DRAINING, and HTTP responses ask clients to close.
  t.equal((await adminGet(s, '/healthcheck/fail', 'POST')).body, 'OK\n');
  t.same(await adminGet(s, '/ready'), { status: 503, body: 'DRAINING\n' });
  t.equal(await stat(s, 'server.live'), 0);
  t.equal(await stat(s, 'server.state'), 1);
  const keepAlive = new Agent({ keepAlive: true });
  t.teardown(() => keepAlive.destroy());
  t.equal((await httpGet(httpPort, '/', {}, keepAlive)).headers.connection, 'close', 'drain-close while health checks fail');
  await adminGet(s, '/healthcheck/ok', 'POST');
  t.same(await adminGet(s, '/ready'), { status: 200, body: 'LIVE\n' });
  t.equal((await httpGet(httpPort, '/', {}, keepAlive)).headers.connection, 'keep-alive');

  // drain_listeners?inboundonly: the inbound listener stops accepting, the others carry on.
  t.equal((await adminGet(s, '/drain_listeners?inboundonly', 'POST')).status, 200);
  await t.rejects(tcpExchange(tcpInPort, 'late'), { code: 'ECONNREFUSED' }, 'inbound listener closed');
  t.equal((await httpGet(httpPort, '/')).status, 200, 'outbound listener still accepts');
  t.equal((await adminGet(s, '/ready')).status, 200, '/ready follows health checks, not listener drains');

  // quitquitquit exits 0.
  t.equal((await adminGet(s, '/quitquitquit', 'POST')).body, 'OK\n');
  t.equal((await s.proc.exited).code, 0);
  await waitFor('process gone', () => !alive(s.proc.child.pid!));
});

t.test('a body-less request is resent when a pooled upstream connection was closed under it', async (t) => {
  // Answers the first request on each connection, and drops the connection when a second one arrives.
  const requestsSeen: number[] = [];
  const flaky = createServer((socket) => {
    let n = 0;
    socket.on('data', () => {
      n++;
      requestsSeen.push(n);
      if (n === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      else socket.destroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => flaky.close(() => resolve())));
  const s = await startStandin(t, {
    admin: adminBlock,
    static_resources: {
      listeners: [httpListener('h', [{ match: { prefix: '/' }, route: { cluster: 'flaky' } }])],
      clusters: [staticCluster('flaky', [['127.0.0.1', (flaky.address() as AddressInfo).port]])],
    },
  });
  const port = await listenerPort(s, 'h');
  t.equal((await httpGet(port, '/one')).status, 200);
  t.equal((await httpGet(port, '/two')).status, 200, 'resent on a new connection instead of a 503');
  t.same(requestsSeen, [1, 2, 1], 'the second request reached a reused connection first, then a fresh one');
});

t.test('local replies as Envoy words them, and stat names without colons', async (t) => {
  const slow = createHttpServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('late'), 2000).unref();
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    slow.closeAllConnections();
    slow.close();
  });
  const fast = await httpBackend(t, 'fast');
  const s = await startStandin(t, {
    admin: adminBlock,
    static_resources: {
      listeners: [
        httpListener('edge:8080', [
          { match: { prefix: '/slow' }, route: { cluster: 'slow', timeout: '0.2s' } },
          { match: { prefix: '/empty' }, route: { cluster: 'empty' } },
          { match: { prefix: '/' }, route: { cluster: 'fast:80' } },
        ]),
      ],
      clusters: [
        staticCluster('slow', [['127.0.0.1', (slow.address() as AddressInfo).port]]),
        staticCluster('empty', []),
        staticCluster('fast:80', [['127.0.0.1', fast]]),
      ],
    },
  });
  const port = await listenerPort(s, 'edge:8080');
  t.same(((r) => [r.status, r.body])(await httpGet(port, '/slow')), [504, 'upstream request timeout']);
  t.same(((r) => [r.status, r.body])(await httpGet(port, '/empty')), [503, 'no healthy upstream']);
  t.equal((await httpGet(port, '/')).body, 'fast GET /');
  t.equal(await stat(s, 'cluster.slow.upstream_rq_timeout'), 1);
  t.equal(await stat(s, 'cluster.empty.upstream_cx_none_healthy'), 1);
  t.equal(await stat(s, 'cluster.fast_80.upstream_rq_200'), 1, "':' in a cluster name becomes '_' in its stats");
  t.equal(await stat(s, 'http.edge_8080.downstream_rq_5xx'), 2);
});

t.test('HTTP/2: prior-knowledge clients on an AUTO listener, HTTP/2 upstreams with trailers (as gRPC needs)', async (t) => {
  const h2backend = createHttp2Server((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/grpc');
    res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' });
    res.end(`h2 ${req.method} ${req.url} te=${String(req.headers.te ?? '')}`);
  });
  await new Promise<void>((resolve) => h2backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => h2backend.close(() => resolve())));
  const h1 = await httpBackend(t, 'h1');
  const s = await startStandin(t, {
    admin: adminBlock,
    static_resources: {
      listeners: [
        httpListener('auto', [
          { match: { prefix: '/grpc.' }, route: { cluster: 'h2' } },
          { match: { prefix: '/' }, route: { cluster: 'h1' } },
        ]),
      ],
      clusters: [
        {
          ...staticCluster('h2', [['127.0.0.1', (h2backend.address() as AddressInfo).port]]),
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
        staticCluster('h1', [['127.0.0.1', h1]]),
      ],
    },
  });
  const port = await listenerPort(s, 'auto');
  const session = connectHttp2(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());
  const call = (path: string): Promise<{ headers: Record<string, unknown>; trailers: Record<string, unknown>; body: string }> =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': path, te: 'trailers', 'content-type': 'application/grpc' });
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      let body = '';
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (tr: IncomingHttpHeaders) => (trailers = tr));
      stream.on('data', (d: Buffer) => (body += d.toString()));
      stream.on('end', () => resolve({ headers, trailers, body }));
      stream.on('error', reject);
      stream.end('payload');
    });
  const grpcLike = await call('/grpc.Echo/Say');
  t.equal(grpcLike.headers[':status'], 200);
  t.equal(grpcLike.body, 'h2 POST /grpc.Echo/Say te=trailers', 'HTTP/2 end to end, te: trailers passed on');
  t.same([grpcLike.trailers['grpc-status'], grpcLike.trailers['grpc-message']], ['0', 'fine'], 'trailers reach the client');
  const toH1 = await call('/plain');
  t.equal(toH1.body, 'h1 POST /plain', 'an HTTP/2 client reaches an HTTP/1 upstream');
  t.equal((await httpGet(port, '/plain')).body, 'h1 GET /plain', 'HTTP/1 clients still work on the AUTO listener');
  t.equal(await stat(s, 'cluster.h2.upstream_cx_total'), 1, 'one pooled HTTP/2 connection');
});

t.test('header mutations from the route, its virtual host and the route configuration', async (t) => {
  const app = await httpBackend(t, 'app');
  const listener = httpListener('mut', [
    {
      match: { prefix: '/' },
      route: { cluster: 'app' },
      request_headers_to_add: [{ header: { key: 'x-kuma-tags', value: '&kuma.io/service=web&' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      response_headers_to_add: [{ header: { key: 'x-level', value: 'route' } }],
    },
  ]) as {
    filter_chains: Array<{ filters: Array<{ typed_config: { route_config: { virtual_hosts: Array<Record<string, unknown>> } & Record<string, unknown> } }> }>;
  };
  const routeConfig = listener.filter_chains[0]!.filters[0]!.typed_config.route_config;
  routeConfig.virtual_hosts[0]!.request_headers_to_remove = ['x-secret'];
  routeConfig.virtual_hosts[0]!.response_headers_to_add = [{ header: { key: 'x-level', value: 'vhost' } }];
  routeConfig.response_headers_to_add = [{ header: { key: 'x-config', value: 'yes' }, append_action: 'ADD_IF_ABSENT' }];
  const s = await startStandin(t, { admin: adminBlock, static_resources: { listeners: [listener], clusters: [staticCluster('app', [['127.0.0.1', app]])] } });
  const r = await httpGet(await listenerPort(s, 'mut'), '/', { 'x-kuma-tags': 'forged', 'x-secret': 's3cret' });
  const seen = JSON.parse(String(r.headers['x-seen-headers'])) as Record<string, string>;
  t.equal(seen['x-kuma-tags'], '&kuma.io/service=web&', 'a request header overwritten by the route');
  t.equal(seen['x-secret'], undefined, 'a request header removed by the virtual host');
  t.equal(r.headers['x-level'], 'route, vhost', 'response headers appended, the route first');
  t.equal(r.headers['x-config'], 'yes');
});
