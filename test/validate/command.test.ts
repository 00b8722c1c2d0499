// `kuma-dp validate FILE [--type T]` as a user runs it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KUMA_DP, run } from '../helpers/cli.js';
import { TYPE_NAME } from '../../src/envoy-codec/envoy-types.js';

const dir = await mkdtemp(join(tmpdir(), 'validate-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

const BOOTSTRAP = `
node: { id: default.web-1, cluster: web }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: ads_cluster } }]
  lds_config: { ads: {}, resource_api_version: V3 }
  cds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
    - name: ads_cluster
      type: STRICT_DNS
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
      load_assignment:
        cluster_name: ads_cluster
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: localhost, port_value: 5678 } } } }] }]
`;

t.test('a valid bootstrap: exit 0 and "configuration \'<file>\' OK"', async (t) => {
  const path = await file('bootstrap.yaml', BOOTSTRAP);
  const r = await run(KUMA_DP, ['validate', path]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `configuration '${path}' OK\n`);
});

t.test('every error with its path, one per line on stderr, exit 1', async (t) => {
  const bad = BOOTSTRAP.replace('connect_timeout: 1s', 'connect_timeout: 1')
    .replace('port_value: 9901', 'port_value: 99010')
    .replace('api_type: GRPC', 'api_type: GRCP')
    .replace('explicit_http_config:', 'explicit_http_confg:');
  const path = await file('bad.yaml', bad);
  const r = await run(KUMA_DP, ['validate', path]);
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.same(lines, [
    `${path}: admin.address.socket_address.port_value: [definite] value 99010 must be less than or equal to 65535`,
    `${path}: dynamic_resources.ads_config.api_type: [unknown] 'GRCP' is not a value of enum envoy.config.core.v3.ApiConfigSource.ApiType; expected one of DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE, REST, GRPC, DELTA_GRPC, AGGREGATED_GRPC, AGGREGATED_DELTA_GRPC`,
    `${path}: static_resources.clusters[0].connect_timeout: [definite] expected a duration string such as "5s" or "0.250s", got number 1`,
    `${path}: static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_confg: [unknown] unknown field 'explicit_http_confg' in envoy.extensions.upstreams.http.v3.HttpProtocolOptions; did you mean 'explicit_http_config'?`,
    `${path}: static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]: [definite] one of 'explicit_http_config', 'use_downstream_protocol_config', 'auto_config' is required (oneof 'upstream_protocol_options')`,
    `${path}: 3 definite problems (Envoy rejects these), 2 unknown to this validator (its Envoy API is about Envoy 1.31; a newer Envoy may accept them)`,
  ]);
});

t.test('--type picks the resource type; JSON files work too', async (t) => {
  const listener = { name: 'l', address: { socketAddress: { address: '0.0.0.0', portValue: 8080 } } };
  const path = await file('listener.json', JSON.stringify(listener));
  const ok = await run(KUMA_DP, ['validate', path, '--type', 'listener']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `configuration '${path}' OK\n`);
  const asCluster = await run(KUMA_DP, ['validate', path, '--type', 'cluster']);
  t.equal(asCluster.code, 1);
  t.match(asCluster.stderr, `${path}: address: [unknown] unknown field 'address' in envoy.config.cluster.v3.Cluster`);
  const asBootstrap = await run(KUMA_DP, ['validate', path]);
  t.equal(asBootstrap.code, 1, 'the default type is bootstrap');
  t.match(asBootstrap.stderr, `${path}: name: [unknown] unknown field 'name' in envoy.config.bootstrap.v3.Bootstrap`);
});

t.test('a list of resources, each with its @type', async (t) => {
  const list = `
- "@type": type.googleapis.com/${TYPE_NAME.cluster}
  name: backend
  type: EDS
  eds_cluster_config: { eds_config: { ads: {} } }
- "@type": type.googleapis.com/${TYPE_NAME.endpoint}
  cluster_name: backend
- "@type": type.googleapis.com/${TYPE_NAME.route}
  name: r
`;
  const path = await file('list.yaml', list);
  const ok = await run(KUMA_DP, ['validate', path]);
  t.equal(ok.code, 0, ok.stderr);
  const bad = await file('bad-list.yaml', `${list.replace('cluster_name: backend', 'cluster_name: ""')}- name: no-type\n`);
  const r = await run(KUMA_DP, ['validate', bad]);
  t.equal(r.code, 1);
  t.same(r.stderr.trim().split('\n'), [
    `${bad}: [1].cluster_name: [definite] value length must be at least 1 characters`,
    `${bad}: [3]: [definite] each resource in a list needs an "@type" (e.g. type.googleapis.com/envoy.config.listener.v3.Listener)`,
    `${bad}: 2 definite problems (Envoy rejects these), 0 unknown to this validator (its Envoy API is about Envoy 1.31; a newer Envoy may accept them)`,
  ]);
});

t.test("a filter newer than the validator's Envoy API is marked unknown, not definite", async (t) => {
  const newer = `${BOOTSTRAP}  listeners:
    - name: l
      address: { socket_address: { address: 127.0.0.1, port_value: 8080 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: l
                route_config: { name: r }
                http_filters:
                  - name: envoy.filters.http.api_key_auth
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth }
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
  const path = await file('newer.yaml', newer);
  const r = await run(KUMA_DP, ['validate', path]);
  t.equal(r.code, 1);
  t.same(r.stderr.trim().split('\n'), [
    `${path}: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.@type: [unknown] 'type.googleapis.com/envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth' does not resolve: no message envoy.extensions.filters.http.api_key_auth.v3.ApiKeyAuth in Envoy's v3 API`,
    `${path}: 0 definite problems (Envoy rejects these), 1 unknown to this validator (its Envoy API is about Envoy 1.31; a newer Envoy may accept them)`,
  ]);
});

t.test('unreadable files, bad YAML and empty files get a clear message and exit 1', async (t) => {
  const missing = join(dir, 'missing.yaml');
  const r1 = await run(KUMA_DP, ['validate', missing]);
  t.equal(r1.code, 1);
  t.equal(r1.stderr, `${missing}: cannot read the file (ENOENT)\n`);
  const broken = await file('broken.yaml', 'node: { id: x\nadmin: [\n');
  const r2 = await run(KUMA_DP, ['validate', broken]);
  t.equal(r2.code, 1);
  t.match(r2.stderr, new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML or JSON: .*line \\d+`));
  const dupKeys = await file('dup.yaml', 'node: { id: a }\nnode: { id: b }\n');
  const r3 = await run(KUMA_DP, ['validate', dupKeys]);
  t.equal(r3.code, 1);
  t.match(r3.stderr, new RegExp(`^${dupKeys.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML or JSON: .*duplicate.*line 2, column 1`));
  const empty = await file('empty.yaml', '');
  const r4 = await run(KUMA_DP, ['validate', empty]);
  t.equal(r4.code, 1);
  t.equal(r4.stderr, `${empty}: the file is empty; expected an Envoy config\n`);
});
