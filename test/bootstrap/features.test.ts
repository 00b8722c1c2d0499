// The features the bootstrap request lists: exactly what this agent implements, in Kuma's spelling
// and order. Pinned whole, with what implements each, so that adding one is a deliberate change.
import t from 'tap';
import { AGENT_FEATURES, agentFeatures } from '../../src/bootstrap/features.js';

// Every feature name Kuma's pkg/core/xds/types/features.go defines (HEAD and 2.x), in the order kuma-dp sends them.
const KUMA_ORDER = [
  'feature-tcp-accesslog-via-named-pipe',
  'feature-otel-via-kuma-dp',
  'feature-embedded-dns',
  'feature-transparent-proxy-in-dataplane-metadata',
  'feature-bind-outbounds',
  'feature-delta-grpc',
  'feature-unified-resource-naming',
  'feature-spire',
  'feature-strict-inbound-ports',
  'feature-reuse-port',
];

t.test('the list and what implements each', (t) => {
  t.same(
    AGENT_FEATURES.map((f) => [f.name, f.implementedBy]),
    [
      [
        'feature-tcp-accesslog-via-named-pipe',
        'the access-log streamer (src/accesslog/streamer.ts): reads <workdir>/kuma-al-<name>-<mesh>.sock and sends each record to its TCP collector',
      ],
      ['feature-embedded-dns', 'the DNS proxy (src/dns), fed the /dns map by the dynamic-configuration fetcher (src/dynconf)'],
      ['feature-strict-inbound-ports', "Envoy: the control plane's inbound listeners reject ports the Dataplane does not declare; the agent only asks for it"],
      ['feature-reuse-port', "Envoy: the control plane's listeners get enable_reuse_port; the agent only asks for it"],
    ],
  );
  t.end();
});

t.test("each is spelt as Kuma's, in Kuma's order", (t) => {
  const names = AGENT_FEATURES.map((f) => f.name);
  for (const name of names) t.ok(KUMA_ORDER.includes(name), name);
  t.same(
    names,
    KUMA_ORDER.filter((n) => names.includes(n)),
  );
  t.end();
});

t.test('sent by the settings, as Kuma decides them', (t) => {
  t.same(agentFeatures({ dnsEnabled: true, strictInboundPorts: true, reusePort: true }), [
    'feature-tcp-accesslog-via-named-pipe',
    'feature-embedded-dns',
    'feature-strict-inbound-ports',
    'feature-reuse-port',
  ]);
  t.same(agentFeatures({ dnsEnabled: false, strictInboundPorts: false, reusePort: false }), ['feature-tcp-accesslog-via-named-pipe']);
  t.same(agentFeatures({ dnsEnabled: false, strictInboundPorts: true, reusePort: false }), [
    'feature-tcp-accesslog-via-named-pipe',
    'feature-strict-inbound-ports',
  ]);
  t.end();
});
