// The control plane's bootstrap → the config file Envoy gets. A bootstrap that
// brings listeners over xDS (lds_config) is used exactly as given; otherwise
// the agent renders the Dataplane's inbounds and outbounds into
// static_resources from the shared templates.
import { outboundService, type Dataplane, type Outbound } from '../dataplane/types.js';
import { DEFAULT_ADMIN, type AdminAddress } from '../envoy/admin-address.js';
import { UserError } from '../util/errors.js';
import { CONTROL_PLANE_LIMITS, DocumentError, isObject, readYamlDocument } from '../util/document.js';
import { stringifyYaml } from '../util/yaml.js';
import { inboundResources, outboundResources, type Endpoint } from './resources.js';
import { Templates } from './templates.js';

export interface EnvoyConfig {
  /** The YAML written to <work-dir>/bootstrap.yaml. */
  text: string;
  /** The same config as an object, for validation. */
  json: Record<string, unknown>;
  /** 'xds': listeners come from the control plane; 'static': rendered here from the Dataplane. */
  mode: 'xds' | 'static';
  admin: AdminAddress;
}

type Obj = Record<string, unknown>;
const field = (o: unknown, snake: string): unknown => {
  if (!o || typeof o !== 'object') return undefined;
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return (o as Obj)[snake] ?? (o as Obj)[camel];
};

/** The bootstrap's `admin.address`: a pipe (Kuma >= 2.14 with a workdir) or a TCP socket address, as Kuma's kuma-dp reads it. */
export function adminAddressOf(bootstrap: Obj): AdminAddress {
  const address = field(field(bootstrap, 'admin'), 'address');
  const pipe = field(field(address, 'pipe'), 'path');
  if (typeof pipe === 'string' && pipe !== '') return { kind: 'pipe', path: pipe };
  const socket = field(address, 'socket_address');
  const host = field(socket, 'address');
  const port = Number(field(socket, 'port_value') ?? DEFAULT_ADMIN.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError('the control plane sent a bootstrap whose admin.address.socket_address.port_value is not a port');
  }
  return { kind: 'tcp', address: typeof host === 'string' && host ? host : DEFAULT_ADMIN.address, port };
}

/** The parts of a bootstrap the agent reads, and the JSON type each must have for it to read them. */
const BOOTSTRAP_SHAPE: Array<[path: string[], kind: 'object' | 'list']> = [
  [['admin'], 'object'],
  [['admin', 'address'], 'object'],
  [['admin', 'address', 'socket_address'], 'object'],
  [['admin', 'address', 'pipe'], 'object'],
  [['dynamic_resources'], 'object'],
  [['static_resources'], 'object'],
  [['static_resources', 'listeners'], 'list'],
  [['static_resources', 'clusters'], 'list'],
];

function parseBootstrap(text: string): Obj {
  let value: unknown;
  try {
    value = readYamlDocument(text, CONTROL_PLANE_LIMITS);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new UserError(`the control plane sent a bootstrap that cannot be read: ${err.message}`);
  }
  if (!isObject(value)) throw new UserError('the control plane sent a bootstrap that is not a YAML object');
  for (const [path, kind] of BOOTSTRAP_SHAPE) {
    const v = path.reduce<unknown>((o, key) => field(o, key), value);
    if (v === undefined || v === null) continue;
    if (kind === 'list' ? !Array.isArray(v) : !isObject(v)) {
      throw new UserError(`the control plane sent a bootstrap whose ${path.join('.')} is not ${kind === 'list' ? 'a list' : 'an object'}`);
    }
  }
  return value;
}

/** Where static mode sends each outbound service's traffic (--outbound-upstream service=host:port). */
export type OutboundUpstreams = Readonly<Record<string, { host: string; port: number }>>;

export function buildEnvoyConfig(
  bootstrapYaml: string,
  dataplane: Dataplane | undefined,
  templatesDir?: string,
  outboundUpstreams: OutboundUpstreams = {},
): EnvoyConfig {
  const bootstrap = parseBootstrap(bootstrapYaml);
  const dynamic = field(bootstrap, 'dynamic_resources');
  const admin = adminAddressOf(bootstrap);
  if (field(dynamic, 'lds_config') !== undefined || !dataplane) {
    return { text: bootstrapYaml, json: bootstrap, mode: 'xds', admin };
  }

  const templates = Templates.load(templatesDir);
  const hasAds = field(dynamic, 'ads_config') !== undefined;
  // No ADS: nothing tells Envoy where an outbound's service is, and a Dataplane has no field for it
  // (outbound[].address is where the listener binds), so the agent option says; none is an error.
  const outboundEndpoints = (ob: Outbound): Endpoint[] => {
    const service = outboundService(ob);
    const upstream = outboundUpstreams[service];
    if (!upstream) {
      const index = dataplane.networking.outbound!.indexOf(ob);
      throw new UserError(
        `networking.outbound[${index}] (service '${service}'): the control plane's bootstrap has no ADS, so nothing says where '${service}' is reached; give it with --outbound-upstream ${service}=HOST:PORT (KUMA_DATAPLANE_RUNTIME_OUTBOUND_UPSTREAMS)`,
      );
    }
    return [{ address: upstream.host, port: upstream.port }];
  };
  const inbound = inboundResources(templates, dataplane);
  const outbound = outboundResources(templates, dataplane, hasAds ? { eds: true } : { eds: false, endpoints: outboundEndpoints });

  const statics = (field(bootstrap, 'static_resources') as Obj | undefined) ?? {};
  const merged: Obj = {
    ...bootstrap,
    static_resources: {
      ...statics,
      listeners: [...((field(statics, 'listeners') as unknown[]) ?? []), ...inbound.listeners, ...outbound.listeners],
      clusters: [...((field(statics, 'clusters') as unknown[]) ?? []), ...inbound.clusters, ...outbound.clusters],
    },
  };
  delete merged.staticResources;
  return { text: stringifyYaml(merged), json: merged, mode: 'static', admin };
}
