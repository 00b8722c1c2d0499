// Envoy's Aggregated Discovery Service definitions for @grpc/grpc-js. The build
// turns ads.proto and its imports into protobufjs JSON (dist/src/xds/ads-proto.json,
// from the .proto files of src/xds/proto-source.ts), so an installation needs
// no .proto files. Resources stay as google.protobuf.Any ({type_url, value: Buffer});
// the validate module turns their bytes into JSON and back.
import { readFileSync, writeFileSync } from 'node:fs';
import { installPath } from '../util/install-paths.js';
import { loadProtoFiles, type ProtoSource } from './proto-source.js';

export const ADS_DEFINITION_FILE = installPath('dist', 'src', 'xds', 'ads-proto.json');
const ADS_PROTO = 'envoy/service/discovery/v3/ads.proto';

/** Build step: the ADS service and every type it uses, as protobufjs JSON. */
export async function writeAdsDefinition(source: ProtoSource, file = ADS_DEFINITION_FILE): Promise<void> {
  const root = await loadProtoFiles(source, [ADS_PROTO]);
  writeFileSync(file, JSON.stringify(root.toJSON()));
}

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export const TYPE_URL = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/** The message type a type URL names, e.g. 'envoy.config.listener.v3.Listener'. */
export const typeNameOf = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf('/') + 1);

export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

export interface DiscoveryRequest {
  version_info?: string;
  node?: { id?: string; cluster?: string; metadata?: unknown } | null;
  resource_names?: string[];
  type_url: string;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

export interface DeltaDiscoveryRequest {
  node?: { id?: string; cluster?: string; metadata?: unknown } | null;
  type_url: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: Array<{ name: string; version: string; resource: AnyMessage }>;
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

/** Loads the ADS service definition; gRPC and protobuf are loaded here, lazily, never on the agent's start-up path. */
export async function loadAdsDefinition() {
  const grpc = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  // Field names are as written in the .proto files (the build parsed them with keepCase).
  const packageDefinition = protoLoader.fromJSON(JSON.parse(readFileSync(ADS_DEFINITION_FILE, 'utf8')) as import('protobufjs').INamespace, {
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: import('@grpc/grpc-js').ServiceClientConstructor } } } };
  };
  const Client = loaded.envoy.service.discovery.v3.AggregatedDiscoveryService;
  return { grpc, Client, service: Client.service };
}
