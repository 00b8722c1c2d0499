// The hand-written protobuf paths of the ADS server agree with protobufjs
// (proto-loader, Envoy's protos): responses it writes, requests it reads.
import fc from 'fast-check';
import t from 'tap';
import {
  loadAdsDefinition,
  TYPE_URL,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/ads-proto.js';
import { decodeDeltaDiscoveryRequestFast, decodeDiscoveryRequestFast, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from '../../src/xds/wire.js';

const { service } = await loadAdsDefinition();
const sotw = service.StreamAggregatedResources!;
const delta = service.DeltaAggregatedResources!;

const text = fc.string({ maxLength: 40 });
const names = fc.array(fc.string({ minLength: 1, maxLength: 30 }), { maxLength: 5 });
const resource = fc.record({
  name: fc.string({ minLength: 1, maxLength: 20 }),
  version: text,
  any: fc.record({ type_url: fc.constantFrom(TYPE_URL.cluster, TYPE_URL.listener), value: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
});

t.test('responses decode with protobufjs to what was written', (t) => {
  fc.assert(
    fc.property(text, fc.array(resource, { maxLength: 4 }), text, text, (version, resources, typeUrl, nonce) => {
      const decoded = sotw.responseDeserialize(encodeDiscoveryResponse(version, resources, typeUrl, nonce)) as DiscoveryResponse;
      t.same([decoded.version_info, decoded.type_url, decoded.nonce], [version, typeUrl, nonce]);
      t.same(
        decoded.resources.map((r) => [r.type_url, Buffer.from(r.value)]),
        resources.map((r) => [r.any.type_url, r.any.value]),
      );
    }),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(text, fc.array(resource, { maxLength: 4 }), text, names, text, (version, resources, typeUrl, removed, nonce) => {
      const decoded = delta.responseDeserialize(encodeDeltaDiscoveryResponse(version, resources, typeUrl, removed, nonce)) as DeltaDiscoveryResponse;
      t.same([decoded.system_version_info, decoded.type_url, decoded.nonce, decoded.removed_resources], [version, typeUrl, nonce, removed]);
      t.same(
        decoded.resources.map((r) => [r.name, r.version, r.resource.type_url, Buffer.from(r.resource.value)]),
        resources.map((r) => [r.name, r.version, r.any.type_url, r.any.value]),
      );
    }),
    { numRuns: 100 },
  );
  t.end();
});

/** What the fast path read (it must have read it), typed as the request it claims to be. */
function fastRead(decoded: Record<string, unknown> | undefined): Partial<DiscoveryRequest & DeltaDiscoveryRequest> {
  if (decoded === undefined) throw new Error('the fast path left an ACK/NACK to protobufjs');
  return decoded;
}

t.test('ACKs and NACKs read without protobufjs match protobufjs; other requests are left to it', (t) => {
  const errorDetail = fc.option(fc.record({ code: fc.integer({ min: 0, max: 16 }), message: text }), { nil: undefined });
  fc.assert(
    fc.property(text, names, text, text, errorDetail, (version, resourceNames, typeUrl, nonce, error) => {
      const request = {
        version_info: version,
        resource_names: resourceNames,
        type_url: typeUrl,
        response_nonce: nonce,
        ...(error ? { error_detail: error } : {}),
      };
      const bytes = sotw.requestSerialize(request);
      const fast = fastRead(decodeDiscoveryRequestFast(bytes));
      const full = sotw.requestDeserialize(bytes) as DiscoveryRequest;
      t.same(
        [fast.version_info, fast.resource_names, fast.type_url, fast.response_nonce],
        [full.version_info, full.resource_names, full.type_url, full.response_nonce],
      );
      t.same(
        fast.error_detail ? { code: fast.error_detail.code, message: fast.error_detail.message } : null,
        full.error_detail ? { code: full.error_detail.code, message: full.error_detail.message } : null,
      );
    }),
    { numRuns: 100 },
  );
  fc.assert(
    fc.property(text, names, names, text, errorDetail, (typeUrl, subscribe, unsubscribe, nonce, error) => {
      const request = {
        type_url: typeUrl,
        resource_names_subscribe: subscribe,
        resource_names_unsubscribe: unsubscribe,
        response_nonce: nonce,
        ...(error ? { error_detail: error } : {}),
      };
      const bytes = delta.requestSerialize(request);
      const fast = fastRead(decodeDeltaDiscoveryRequestFast(bytes));
      const full = delta.requestDeserialize(bytes) as DeltaDiscoveryRequest;
      t.same(
        [fast.type_url, fast.resource_names_subscribe, fast.resource_names_unsubscribe, fast.response_nonce, fast.error_detail?.message ?? null],
        [full.type_url, full.resource_names_subscribe, full.resource_names_unsubscribe, full.response_nonce, full.error_detail?.message ?? null],
      );
    }),
    { numRuns: 100 },
  );
  t.equal(
    decodeDiscoveryRequestFast(sotw.requestSerialize({ type_url: TYPE_URL.cluster, node: { id: 'default.web-1' } })),
    undefined,
    'a request with a node is not for the fast path',
  );
  t.equal(
    decodeDeltaDiscoveryRequestFast(delta.requestSerialize({ type_url: TYPE_URL.cluster, initial_resource_versions: { a: '1' } })),
    undefined,
    'nor one with initial versions',
  );
  t.end();
});
