// The mini-CP's KDS messages and service, written by this project and modelled
// on Kuma's api/mesh/v1alpha1/kds.proto: the same two streams (GlobalToZoneSync,
// ZoneToGlobalSync) carrying delta-xDS-shaped requests and responses whose
// resources are Kuma resources. Not wire-compatible with a real kuma-cp: one
// stream carries every resource type, and a resource's spec travels as JSON.
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

export const KDS_SERVICE = 'kuma_mini_cp.kds.v1.KDSSyncService';
export const GLOBAL_KDS_SERVICE = 'kuma_mini_cp.kds.v1.GlobalKDSService';
/** One type URL for every resource type: resources name their own type. */
export const KDS_TYPE_URL = 'type.kuma-mini-cp/kuma_mini_cp.kds.v1.KumaResource';

export interface KumaResourceMessage {
  type: string;
  meta: { name: string; mesh: string; version: string; labels: Record<string, string> };
  /** The resource without type/mesh/name/labels, as JSON text. */
  spec_json: string;
}

/** The global asks a zone for the Envoy configuration it serves one of its proxies (Kuma's GlobalKDSService.StreamXDSConfigs). */
export interface XdsConfigRequest {
  request_id: string;
  resource_type: string;
  resource_name: string;
  resource_mesh: string;
}

export interface XdsConfigResponse {
  request_id: string;
  error?: string;
  /** JSON of the configuration. */
  config?: Buffer;
}

export interface DeltaRequest {
  node?: { id: string };
  type_url: string;
  /** The resources the sender already has (name → version): the first request of a stream, for a resync. */
  initial_resource_versions?: Record<string, string>;
  /** ACK (or NACK, with error_detail) of the response with this nonce. */
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface DeltaResponse {
  system_version_info?: string;
  type_url: string;
  resources: Array<{ name: string; version: string; resource: KumaResourceMessage }>;
  removed_resources: string[];
  nonce: string;
}

// Map fields (keyType) are part of protobufjs's JSON descriptors, though its INamespace typing leaves them out.
const descriptor: unknown = {
  nested: {
    kuma_mini_cp: {
      nested: {
        kds: {
          nested: {
            v1: {
              nested: {
                KumaResource: {
                  fields: {
                    type: { type: 'string', id: 1 },
                    meta: { type: 'Meta', id: 2 },
                    spec_json: { type: 'string', id: 3 },
                  },
                  nested: {
                    Meta: {
                      fields: {
                        name: { type: 'string', id: 1 },
                        mesh: { type: 'string', id: 2 },
                        version: { type: 'string', id: 5 },
                        labels: { keyType: 'string', type: 'string', id: 6 },
                      },
                    },
                  },
                },
                Node: { fields: { id: { type: 'string', id: 1 } } },
                Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } },
                DeltaDiscoveryRequest: {
                  fields: {
                    node: { type: 'Node', id: 1 },
                    type_url: { type: 'string', id: 2 },
                    initial_resource_versions: { keyType: 'string', type: 'string', id: 5 },
                    response_nonce: { type: 'string', id: 6 },
                    error_detail: { type: 'Status', id: 7 },
                  },
                },
                Resource: {
                  fields: {
                    name: { type: 'string', id: 3 },
                    version: { type: 'string', id: 1 },
                    resource: { type: 'KumaResource', id: 2 },
                  },
                },
                XDSConfigRequest: {
                  fields: {
                    request_id: { type: 'string', id: 1 },
                    resource_type: { type: 'string', id: 2 },
                    resource_name: { type: 'string', id: 3 },
                    resource_mesh: { type: 'string', id: 4 },
                  },
                },
                XDSConfigResponse: {
                  oneofs: { result: { oneof: ['error', 'config'] } },
                  fields: {
                    request_id: { type: 'string', id: 1 },
                    error: { type: 'string', id: 2 },
                    config: { type: 'bytes', id: 3 },
                  },
                },
                DeltaDiscoveryResponse: {
                  fields: {
                    system_version_info: { type: 'string', id: 1 },
                    resources: { rule: 'repeated', type: 'Resource', id: 2 },
                    type_url: { type: 'string', id: 4 },
                    removed_resources: { rule: 'repeated', type: 'string', id: 6 },
                    nonce: { type: 'string', id: 5 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

const RequestType = root.lookupType('kuma_mini_cp.kds.v1.DeltaDiscoveryRequest');
const ResponseType = root.lookupType('kuma_mini_cp.kds.v1.DeltaDiscoveryResponse');
const ConfigRequestType = root.lookupType('kuma_mini_cp.kds.v1.XDSConfigRequest');
const ConfigResponseType = root.lookupType('kuma_mini_cp.kds.v1.XDSConfigResponse');
const toObject = { defaults: true, arrays: true, objects: true, longs: Number } as const;

interface Codec<T> {
  serialize: (value: T) => Buffer;
  deserialize: (bytes: Buffer) => T;
}

function codec<T>(type: protobuf.Type): Codec<T> {
  return {
    serialize: (value) => {
      const problem = type.verify(value as Record<string, unknown>);
      if (problem) throw new Error(`KDS ${type.name}: ${problem}`);
      return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
    },
    deserialize: (bytes) => type.toObject(type.decode(bytes), toObject) as T,
  };
}

const request = codec<DeltaRequest>(RequestType);
const response = codec<DeltaResponse>(ResponseType);
const configRequest = codec<XdsConfigRequest>(ConfigRequestType);
const configResponse = codec<XdsConfigResponse>(ConfigResponseType);
const method = <In, Out>(name: string, inbound: Codec<In>, outbound: Codec<Out>, service = KDS_SERVICE) => ({
  path: `/${service}/${name}`,
  requestStream: true,
  responseStream: true,
  requestSerialize: inbound.serialize,
  requestDeserialize: inbound.deserialize,
  responseSerialize: outbound.serialize,
  responseDeserialize: outbound.deserialize,
});

/** Kuma's KDSSyncService: the zone opens both streams; on ZoneToGlobalSync the zone sends the responses. */
export const kdsServiceDefinition = {
  GlobalToZoneSync: method<DeltaRequest, DeltaResponse>('GlobalToZoneSync', request, response),
  ZoneToGlobalSync: method<DeltaResponse, DeltaRequest>('ZoneToGlobalSync', response, request),
} satisfies grpc.ServiceDefinition;

/** Kuma's GlobalKDSService, its config-dump stream only: the zone opens it, the global asks, the zone answers. */
export const globalKdsServiceDefinition = {
  StreamXDSConfigs: method<XdsConfigResponse, XdsConfigRequest>('StreamXDSConfigs', configResponse, configRequest, GLOBAL_KDS_SERVICE),
} satisfies grpc.ServiceDefinition;
