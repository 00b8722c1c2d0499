// The Envoy resources our templates render for a sample dataplane (HTTP and
// TCP inbounds; HTTP, TCP and hostname outbounds, over EDS and static), as
// [message name, resource] pairs, and the typical bootstrap with them rendered
// in; shared by the validator's benchmark and tests.
import { parseDataplane } from '../../src/dataplane/parse.js';
import { buildEnvoyConfig } from '../../src/render/envoy-config.js';
import { inboundResources, loadAssignment, outboundResources } from '../../src/render/resources.js';
import { Templates } from '../../src/render/templates.js';
import { typicalBootstrap } from './validate-sample.js';

export const SAMPLE_DATAPLANE = `
type: Dataplane
mesh: default
name: web-1
networking:
  address: 192.168.0.10
  inbound:
    - { port: 10000, servicePort: 8080, tags: { kuma.io/service: web, kuma.io/protocol: http } }
    - { port: 10001, servicePort: 9090, serviceAddress: 127.0.0.2, tags: { kuma.io/service: web-tcp } }
  outbound:
    - { port: 20000, tags: { kuma.io/service: backend, kuma.io/protocol: http } }
    - { port: 20001, tags: { kuma.io/service: db } }
    - { port: 20002, tags: { kuma.io/service: external } }
`;

const LISTENER = 'envoy.config.listener.v3.Listener';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const ENDPOINT = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

export type Resource = [typeName: string, resource: Record<string, unknown>];

export function renderSampleResources(templates = Templates.load()): Resource[] {
  const dp = parseDataplane(SAMPLE_DATAPLANE, 'sample dataplane');
  const inbound = inboundResources(templates, dp);
  const eds = outboundResources(templates, dp, { eds: true });
  const fixed = outboundResources(templates, dp, {
    eds: false,
    endpoints: (ob) => (ob.port === 20002 ? [{ address: 'example.com', port: 443 }] : [{ address: '10.0.0.7', port: 8080 }]),
  });
  return [
    ...[...inbound.listeners, ...eds.listeners, ...fixed.listeners].map((r): Resource => [LISTENER, r]),
    ...[...inbound.clusters, ...eds.clusters, ...fixed.clusters].map((r): Resource => [CLUSTER, r]),
    [
      ENDPOINT,
      loadAssignment(templates, 'backend', [
        { address: '10.0.0.7', port: 8080 },
        { address: '10.0.0.8', port: 8080 },
      ]),
    ],
    [ENDPOINT, loadAssignment(templates, 'backend', [])],
  ];
}

/** The typical bootstrap without lds_config, so `kuma-dp run` renders the sample dataplane's inbounds and outbounds into it. */
export function renderSampleBootstrap(): Record<string, unknown> {
  const bootstrap = typicalBootstrap();
  delete (bootstrap.dynamic_resources as Record<string, unknown>).lds_config;
  const config = buildEnvoyConfig(JSON.stringify(bootstrap), parseDataplane(SAMPLE_DATAPLANE, 'sample dataplane'));
  if (config.mode !== 'static') throw new Error('the sample bootstrap was not rendered');
  return config.json;
}
