// Every kind of mistake `envoy --mode validate` rejects is rejected here too,
// with the path of the offending value in the document.
import t from 'tap';
import { Reader } from '../../src/validate/json-reader.js';
import { Schema } from '../../src/validate/schema.js';
import { DescriptorFile, serializeDescriptor } from '../../src/validate/descriptor-file.js';
import { TYPE_NAME, loadEnvoyTypes, type ValidationIssue } from '../../src/envoy-codec/envoy-types.js';

const types = await loadEnvoyTypes();

const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** A JSON object of Envoy config, which the tests edit in place (also into wrong shapes). */
type Fields = Record<string, unknown>;
interface Filter {
  name: string;
  typed_config?: Fields;
  [field: string]: unknown;
}
interface Listener {
  address: { socket_address: Fields };
  filter_chains: Array<{ filters: Filter[] }>;
  [field: string]: unknown;
}
interface Cluster {
  eds_cluster_config: { eds_config: Fields };
  [field: string]: unknown;
}

function listener(): Listener {
  return {
    name: 'inbound:10.0.0.1:8080',
    address: { socket_address: { address: '10.0.0.1', port_value: 8080 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: 'in', cluster: 'local' } }] }],
  };
}

function cluster(): Cluster {
  return {
    name: 'backend',
    type: 'EDS',
    connect_timeout: '5s',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  };
}

const FILTER = 'filter_chains[0].filters[0].typed_config';
/** The TcpProxy config of a listener() (at FILTER). */
const tcpProxy = (l: Listener): Fields => l.filter_chains[0]!.filters[0]!.typed_config!;

type Asserts = Pick<typeof t, 'equal' | 'match'>;

/** Asserts that `json` has exactly one issue, at `path`, whose message matches `message`. */
function rejects(t: Asserts, json: unknown, typeName: string, path: string, message: RegExp): void {
  const issues = types.validate(json, typeName);
  t.equal(issues.length, 1, `exactly one issue, got ${JSON.stringify(issues)}`);
  t.equal(issues[0]?.path, path);
  t.match(issues[0]?.message, message);
}

t.test('the baselines are valid', (t) => {
  t.same(types.validate(listener(), TYPE_NAME.listener), []);
  t.same(types.validate(cluster(), TYPE_NAME.cluster), []);
  t.end();
});

t.test('unknown fields, at the top and inside typed_config, are rejected with a suggestion', (t) => {
  const top = { ...listener(), nmae: 'x' };
  const issues = types.validate(top, TYPE_NAME.listener);
  t.same(
    issues.map((i) => i.path),
    ['nmae'],
  );
  t.match(issues[0]!.message, /unknown field 'nmae' in envoy\.config\.listener\.v3\.Listener; did you mean 'name'\?/);

  const inner = listener();
  tcpProxy(inner).stat_prefx = 'in';
  rejects(t, inner, TYPE_NAME.listener, `${FILTER}.stat_prefx`, /unknown field 'stat_prefx' in envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxy/);
  t.end();
});

t.test('unknown fields inside an Any nested in an Any are rejected', (t) => {
  const hcm = {
    name: 'l',
    address: { socket_address: { address: '0.0.0.0', port_value: 80 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'hcm',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'http',
              rds: { route_config_name: 'r', config_source: { ads: {} } },
              http_filters: [
                {
                  name: 'router',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', dynamic_stats: true } as Record<
                    string,
                    unknown
                  >,
                },
              ],
            },
          },
        ],
      },
    ],
  };
  t.same(types.validate(hcm, TYPE_NAME.listener).length, 0, 'dynamic_stats is the real name; dynamic_stat is not');
  const router = hcm.filter_chains[0]!.filters[0]!.typed_config.http_filters[0]!.typed_config;
  delete router.dynamic_stats;
  router.dynamic_stat = true;
  const issues = types.validate(hcm, TYPE_NAME.listener);
  t.same(
    issues.map((i) => i.path),
    [`${FILTER}.http_filters[0].typed_config.dynamic_stat`],
  );
  t.match(issues[0]!.message, /did you mean 'dynamic_stats'/);
  t.end();
});

t.test('wrong JSON types are rejected', (t) => {
  const c = cluster();
  c.name = 42;
  rejects(t, c, TYPE_NAME.cluster, 'name', /expected a string, got number 42/);
  const l = listener();
  l.address.socket_address.port_value = '80x';
  rejects(t, l, TYPE_NAME.listener, 'address.socket_address.port_value', /expected an integer \(uint32\)/);
  const l2 = { ...listener(), filter_chains: { filters: [] } };
  rejects(t, l2, TYPE_NAME.listener, 'filter_chains', /expected a list/);
  const l3 = { ...listener(), address: 'x' };
  rejects(t, l3, TYPE_NAME.listener, 'address', /expected an object \(envoy\.config\.core\.v3\.Address\)/);
  const l4 = listener();
  l4.address.socket_address.port_value = -1;
  rejects(t, l4, TYPE_NAME.listener, 'address.socket_address.port_value', /-1 is out of range for uint32/);
  const l5 = listener();
  l5.enable_reuse_port = 'yes';
  rejects(t, l5, TYPE_NAME.listener, 'enable_reuse_port', /expected true or false/);
  t.end();
});

t.test('bad enum names are rejected and list the valid ones', (t) => {
  const c = cluster();
  c.lb_policy = 'ROUND_ROBINN';
  rejects(
    t,
    c,
    TYPE_NAME.cluster,
    'lb_policy',
    /'ROUND_ROBINN' is not a value of enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy; expected one of ROUND_ROBIN, LEAST_REQUEST/,
  );
  t.end();
});

t.test('malformed durations are rejected', (t) => {
  for (const bad of ['5', '5m', '1.5 s', 5, '0.1234567891s', '-s']) {
    const c = cluster();
    c.connect_timeout = bad;
    rejects(t, c, TYPE_NAME.cluster, 'connect_timeout', /expected a duration string such as "5s"/);
  }
  t.end();
});

t.test('an @type that does not resolve is rejected', (t) => {
  const l = listener();
  tcpProxy(l)['@type'] = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxyy';
  rejects(t, l, TYPE_NAME.listener, `${FILTER}.@type`, /does not resolve: no message envoy\.extensions\.filters\.network\.tcp_proxy\.v3\.TcpProxyy/);
  const l2 = listener();
  delete tcpProxy(l2)['@type'];
  rejects(t, l2, TYPE_NAME.listener, `${FILTER}.@type`, /missing "@type"/);
  const l3 = listener();
  tcpProxy(l3)['@type'] = 'TcpProxy';
  rejects(t, l3, TYPE_NAME.listener, `${FILTER}.@type`, /is not a type URL/);
  t.end();
});

t.test('PGV string rules: min_len and max_len', (t) => {
  const l = listener();
  tcpProxy(l).stat_prefix = '';
  rejects(t, l, TYPE_NAME.listener, `${FILTER}.stat_prefix`, /value length must be at least 1 characters/);
  // absent counts as empty, as in Envoy's generated validators
  const l2 = listener();
  delete tcpProxy(l2).stat_prefix;
  rejects(t, l2, TYPE_NAME.listener, `${FILTER}.stat_prefix`, /at least 1 characters/);

  const uriTemplate = {
    '@type': 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig',
    path_template: `/${'a'.repeat(255)}`,
  };
  const route = {
    name: 'r',
    virtual_hosts: [
      { name: 'v', domains: ['*'], routes: [{ match: { path_match_policy: { name: 'uri', typed_config: uriTemplate } }, route: { cluster: 'c' } }] },
    ],
  };
  t.same(types.validate(route, TYPE_NAME.route), [], '256 characters is the limit');
  uriTemplate.path_template += 'a';
  rejects(
    t,
    route,
    TYPE_NAME.route,
    'virtual_hosts[0].routes[0].match.path_match_policy.typed_config.path_template',
    /value length must be at most 256 characters/,
  );
  t.end();
});

// No field of Envoy's v3 API carries a string prefix rule, so this one is checked on a made-up message.
t.test('PGV string prefix (and other string rules) on a synthetic message', (t) => {
  const schema = new Schema(
    DescriptorFile.open(
      serializeDescriptor({
        source: 'test',
        skippedFiles: [],
        unverifiable: {},
        enums: {},
        messages: {
          'test.Prefixed': {
            name: 'test.Prefixed',
            fields: [
              { name: 'path', json: 'path', id: 1, type: 'string', kind: 'scalar', rules: { string: { prefix: '/', max_len: 8, not_contains: '..' } } },
              { name: 'ip', json: 'ip', id: 2, type: 'string', kind: 'scalar', rules: { string: { ip: true, ignore_empty: true } } },
            ],
          },
        },
      }),
    )!,
  );
  const check = (json: unknown) => {
    const reader = new Reader(schema);
    reader.message(json, schema.message('test.Prefixed')!, '');
    return reader.issues;
  };
  t.same(check({ path: '/ok' }), []);
  t.same(check({ path: 'relative' }), [{ path: 'path', message: "value does not have prefix '/'" }]);
  t.same(check({ path: '/a/../../b' }), [
    { path: 'path', message: 'value length must be at most 8 characters' },
    { path: 'path', message: "value contains substring '..'" },
  ]);
  t.same(check({ path: '/', ip: '10.0.0.300' }), [{ path: 'ip', message: 'value must be a valid IP address' }]);
  t.end();
});

t.test('PGV message.required and oneof required', (t) => {
  // ConfigSource's oneof config_source_specifier is required
  const c = cluster();
  c.eds_cluster_config.eds_config = { resource_api_version: 'V3' };
  rejects(
    t,
    c,
    TYPE_NAME.cluster,
    'eds_cluster_config.eds_config',
    /one of 'path', 'path_config_source', 'api_config_source', 'ads', 'self' is required \(oneof 'config_source_specifier'\)/,
  );

  const l = listener();
  delete tcpProxy(l).cluster;
  rejects(t, l, TYPE_NAME.listener, FILTER, /one of 'cluster', 'weighted_clusters' is required/);

  const twoSet = listener();
  tcpProxy(twoSet).weighted_clusters = { clusters: [{ name: 'a', weight: 1 }] };
  rejects(t, twoSet, TYPE_NAME.listener, FILTER, /only one of 'cluster', 'weighted_clusters' may be set/);

  // message.required: HttpConnectionManager's Rds.config_source
  const rds = { route_config_name: 'r' };
  const hcm = { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 's', rds };
  const l2 = listener();
  l2.filter_chains[0]!.filters[0]!.typed_config = hcm;
  rejects(t, l2, TYPE_NAME.listener, `${FILTER}.rds.config_source`, /value is required/);
  t.end();
});

t.test('PGV numeric ranges: uint32 port lte, gt/gte on numbers and durations', (t) => {
  const l = listener();
  l.address.socket_address.port_value = 65536;
  rejects(t, l, TYPE_NAME.listener, 'address.socket_address.port_value', /value 65536 must be less than or equal to 65535/);

  const c = cluster();
  c.connect_timeout = '0s';
  rejects(t, c, TYPE_NAME.cluster, 'connect_timeout', /value 0s must be greater than 0s/);

  const c2 = cluster();
  c2.dns_refresh_rate = '0.0005s';
  rejects(t, c2, TYPE_NAME.cluster, 'dns_refresh_rate', /value 0\.0005s must be greater than 0\.001s/);

  const c3 = cluster();
  c3.lb_policy = 'LEAST_REQUEST';
  c3.least_request_lb_config = { choice_count: 1 };
  rejects(t, c3, TYPE_NAME.cluster, 'least_request_lb_config.choice_count', /value 1 must be greater than or equal to 2/);

  const c4 = cluster();
  c4.preconnect_policy = { per_upstream_preconnect_ratio: 3.5 };
  rejects(t, c4, TYPE_NAME.cluster, 'preconnect_policy.per_upstream_preconnect_ratio', /value 3\.5 must be inside range \[1, 3\]/);

  const c5 = cluster();
  c5.dns_failure_refresh_rate = { base_interval: '0.0001s' };
  rejects(t, c5, TYPE_NAME.cluster, 'dns_failure_refresh_rate.base_interval', /must be greater than 0\.001s/);
  t.end();
});

t.test('PGV repeated min_items, map min_pairs / key rules, enum defined_only', (t) => {
  const c = cluster();
  c.eds_cluster_config.eds_config = { api_config_source: { api_type: 'GRPC', grpc_services: [] }, resource_api_version: 'V3' };
  const withoutItems = types.validate(c, TYPE_NAME.cluster);
  t.same(withoutItems, [], 'grpc_services has no min_items');
  const ecs = { ...listener() };
  ecs.filter_chains[0]!.filters[0] = { name: 'f', config_discovery: { config_source: { ads: {} }, type_urls: [] } };
  rejects(t, ecs, TYPE_NAME.listener, 'filter_chains[0].filters[0].config_discovery.type_urls', /value must contain at least 1 item$/);

  const l = listener();
  l.metadata = { filter_metadata: { '': { a: 1 } } };
  rejects(t, l, TYPE_NAME.listener, 'metadata.filter_metadata[""]', /value length must be at least 1 characters/);

  const c2 = cluster();
  c2.circuit_breakers = { thresholds: [{ priority: 7 }] };
  rejects(
    t,
    c2,
    TYPE_NAME.cluster,
    'circuit_breakers.thresholds[0].priority',
    /value 7 must be one of the defined values of envoy\.config\.core\.v3\.RoutingPriority/,
  );

  const matcher = listener();
  const exactMatchMap: { map: Fields } = { map: {} };
  matcher.filter_chain_matcher = {
    matcher_tree: {
      input: { name: 'port', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput' } },
      exact_match_map: exactMatchMap,
    },
  };
  rejects(t, matcher, TYPE_NAME.listener, 'filter_chain_matcher.matcher_tree.exact_match_map.map', /value must contain at least 1 pair$/);
  exactMatchMap.map['8080'] = {
    action: { name: 'chain', typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'c0' } },
  };
  t.same(types.validate(matcher, TYPE_NAME.listener), []);
  t.end();
});

t.test('every issue is reported, not just the first', (t) => {
  const c = cluster();
  c.name = '';
  c.connect_timeout = 'soon';
  c.lb_policy = 'RANDOMLY';
  c.nope = 1;
  const issues: ValidationIssue[] = types.validate(c, TYPE_NAME.cluster);
  t.same(issues.map((i) => i.path).sort(), ['connect_timeout', 'lb_policy', 'name', 'nope']);
  t.end();
});

t.test('encode refuses what validate rejects', (t) => {
  const c = cluster();
  c.connect_timeout = 'soon';
  t.throws(() => types.encode(c, TYPE_NAME.cluster), { name: 'EnvoyConfigError', issues: [{ path: 'connect_timeout' }] });
  t.same(types.validate({}, 'envoy.config.nope.v3.Nope')[0]?.message, "type 'envoy.config.nope.v3.Nope' is not a message of Envoy's v3 API");
  t.end();
});

t.test('a bootstrap Envoy could not start from: duplicate static names, ADS over a cluster that is not static, ADS subscriptions without ads_config', (t) => {
  const cluster = (name: string) => ({ name, type: 'STATIC', connect_timeout: '1s' });
  const bootstrap = {
    static_resources: { clusters: [cluster('ads_cluster'), cluster('a'), cluster('a')], listeners: [listener(), listener()] },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'ads-cluster' } }] },
      lds_config: { ads: {} },
    },
  };
  t.same(types.validate(bootstrap, TYPE_NAME.bootstrap), [
    { path: 'static_resources.clusters[2].name', message: "duplicate static cluster name 'a' (also at static_resources.clusters[1])" },
    { path: 'static_resources.listeners[1].name', message: "duplicate static listener name 'inbound:10.0.0.1:8080' (also at static_resources.listeners[0])" },
    {
      path: 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name',
      message: "gRPC cluster 'ads-cluster' is not a static cluster (Envoy: Unknown gRPC client cluster); define it in static_resources.clusters",
    },
  ]);
  const withoutAds = { dynamicResources: { cdsConfig: { ads: {} } } };
  t.same(types.validate(withoutAds, TYPE_NAME.bootstrap), [
    { path: 'dynamicResources.cdsConfig.ads', message: 'cds_config subscribes over ADS but dynamic_resources.ads_config is not set' },
  ]);
  t.throws(() => types.encode(withoutAds, TYPE_NAME.bootstrap), { name: 'EnvoyConfigError' }, 'encode refuses it too');
  t.end();
});

t.test('PGV repeated unique and item rules', (t) => {
  const route = (headers: string[]) => ({
    name: 'r',
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: 'c', internal_redirect_policy: { response_headers_to_copy: headers } } }],
      },
    ],
  });
  const at = 'virtual_hosts[0].routes[0].route.internal_redirect_policy.response_headers_to_copy';
  t.same(types.validate(route(['x-a', 'x-b']), TYPE_NAME.route), []);
  t.same(types.validate(route(['x-a', 'x-a']), TYPE_NAME.route), [{ path: `${at}[1]`, message: 'repeated value must contain unique items' }]);
  t.same(types.validate(route(['x-a\nb']), TYPE_NAME.route), [
    { path: `${at}[0]`, message: 'value does not match regex pattern ^[^\\u0000\\n\\r]*$ (HTTP_HEADER_NAME)' },
  ]);
  t.end();
});

t.test('paths are rooted at the document: a static listener inside a bootstrap', (t) => {
  const l = listener();
  tcpProxy(l).stat_prefix = '';
  rejects(
    t,
    { static_resources: { listeners: [l] } },
    TYPE_NAME.bootstrap,
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix',
    /at least 1 characters/,
  );
  t.end();
});
