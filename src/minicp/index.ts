// kuma-mini-cp in-process: the store, the generator, the snapshot cache, the
// ADS server and every listener (DP server, API over HTTP and HTTPS,
// diagnostics, MADS, KDS), each opened only in the modes whose ports include
// it (mode.ts). Every long-running part is a component started by one
// component manager (src/lifecycle/), as in the agent, and stopped in reverse.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Dataplane } from '../dataplane/types.js';
import { ComponentManager, stopOnly } from '../lifecycle/component.js';
import { HttpServerComponent } from '../lifecycle/http-server.js';
import { createLogger } from '../log/logger.js';
import { UserError } from '../util/errors.js';
import { Templates } from '../render/templates.js';
import { TYPE_NAME, loadEnvoyTypes } from '../envoy-codec/envoy-types.js';
import { loadAdsDefinition } from '../xds/ads-proto.js';
import { AdsServer, StreamRefused, type Node } from '../xds/ads-server.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { KdsGlobalServer } from '../kds/global-server.js';
import { KdsZoneClient } from '../kds/zone-client.js';
import { loadAdminToken } from './admin.js';
import { createApiHandler } from './api.js';
import { createGuiHandler } from './gui/handler.js';
import { InsightTracker } from './insights.js';
import { globalKdsStore, zoneKdsStore, ZoneState } from './kds-sync.js';
import { DISPLAY_NAME_LABEL, MODE_PORTS, ZONE_LABEL, type CpMode, type MultizoneSettings, type PortName } from './mode.js';
import { handleBootstrap, type BootstrapAnswer } from './bootstrap.js';
import { createDiagnostics } from './diagnostics.js';
import { startDpServer, type PlainAnswer, type PlainRequest } from './dp-server.js';
import { Generator } from './generator.js';
import { createMadsHandler } from './mads.js';
import { nodeMetadataString } from './node-metadata.js';
import { checkDataplaneText } from './resource.js';
import { observabilityResources, VipAllocator } from './observability.js';
import { Store } from './store.js';
import { setUpTls } from './tls.js';
import { checkTokenTags, DataplaneTokens, TokenError } from './tokens.js';

const log = createLogger('minicp');

export type MiniCpPorts = Record<PortName, number>;

export const DEFAULT_BIND_ADDRESS = '127.0.0.1';

export const DEFAULT_PORTS: MiniCpPorts = { dpServer: 5678, apiHttp: 5681, apiHttps: 5682, diagnostics: 5680, mads: 5676, kds: 5685 };

export interface MiniCpOptions {
  /** Where ca.crt, the CA key and the token signing key live; a fresh temp dir when omitted. */
  workDir?: string;
  /** The address every listener binds (default 127.0.0.1: nothing is reachable from other hosts unless asked for). */
  bindAddress?: string;
  /** The API's own addresses, when they differ from bindAddress (Kuma's apiServer.http/https.interface). */
  apiHttpInterface?: string;
  apiHttpsInterface?: string;
  ports?: Partial<MiniCpPorts>;
  /** TLS on the DP server (default true). The HTTPS API always uses TLS. */
  dpServerTls?: boolean;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  auth?: 'dp-token' | 'none';
  storeFile?: string;
  meshes?: string[];
  /** The host proxies are told to reach ADS on; by default the host they used for the bootstrap request. */
  xdsHost?: string;
  /** Extra names for the generated server certificate. */
  hostnames?: string[];
  pushDebounceMs?: number;
  templatesDir?: string;
  /** Accept API writes and token requests from other hosts (by default only from this one, as Kuma's localhost-is-admin). */
  apiAdminFromAnywhere?: boolean;
  /** Envoy's admin API on <workdir>/kuma-envoy-admin.sock when the proxy sends its workdir (default true, as Kuma >= 2.14). */
  envoyAdminUnixSocket?: boolean;
  /** standalone (default), zone (needs multizone.globalAddress) or global. */
  mode?: CpMode;
  multizone?: MultizoneSettings;
}

export interface MiniCp {
  mode: CpMode;
  /** Only the listeners of the mode: 0 for the others. */
  /** Every listener's URL ('' for those the mode does not open), and the GUI's. */
  addresses: Record<PortName, string> & { gui: string };
  ports: MiniCpPorts;
  caCertPath: string;
  workDir: string;
  store: Store;
  tokens: DataplaneTokens;
  /** Resolves with the error of the first server that stops working while the control plane runs (it never rejects). */
  failed: Promise<Error>;
  close(): Promise<void>;
}

/**
 * The Dataplane a proxy started with --dataplane-file carries in its node
 * metadata (as with Kuma universal), when valid and named as the node is.
 */
function metadataDataplane(node: Node): Dataplane | undefined {
  const text = nodeMetadataString(node, 'dataplane.resource');
  const id = splitProxyId(node.id ?? '');
  if (!text || !id) return undefined;
  const checked = checkDataplaneText(text, 'node.metadata["dataplane.resource"]');
  if (!checked.ok || checked.dataplane.mesh !== id.mesh || checked.dataplane.name !== id.name) {
    log.warn('ignoring the Dataplane in node metadata', { proxy: node.id, errors: checked.ok ? ['mesh/name differ from node.id'] : checked.errors });
    return undefined;
  }
  return checked.dataplane;
}

function splitProxyId(id: string): { mesh: string; name: string } | undefined {
  const dot = id.indexOf('.');
  return dot > 0 ? { mesh: id.slice(0, dot), name: id.slice(dot + 1) } : undefined;
}

/** How long the components get to stop when the control plane closes. */
const STOP_MS = 5000;

export async function startMiniCp(options: MiniCpOptions = {}): Promise<MiniCp> {
  const bindAddress = options.bindAddress ?? DEFAULT_BIND_ADDRESS;
  const mode = options.mode ?? 'standalone';
  if (mode === 'zone' && !options.multizone?.globalAddress)
    throw new UserError('zone mode needs the global KDS address (KUMA_MULTIZONE_ZONE_GLOBAL_ADDRESS, --global-address grpcs://host:5685)');
  const opens = new Set<PortName>(MODE_PORTS[mode]);
  const ports = { ...DEFAULT_PORTS, ...options.ports };
  const workDir = options.workDir ? resolve(options.workDir) : await mkdtemp(join(tmpdir(), 'kuma-mini-cp-'));
  await mkdir(workDir, { recursive: true });
  const authOn = (options.auth ?? 'dp-token') === 'dp-token';
  const dpTls = options.dpServerTls ?? true;
  const instanceId = randomUUID();
  // A federated zone gets its meshes from the global.
  const initialMeshes = options.meshes ?? (mode === 'zone' ? [] : ['default']);

  const [types, store, tokens, tls] = await Promise.all([
    loadEnvoyTypes(),
    Store.open(options.storeFile, initialMeshes),
    DataplaneTokens.load(workDir),
    setUpTls(workDir, {
      certFile: options.tlsCertFile,
      keyFile: options.tlsKeyFile,
      extraNames: [...(options.hostnames ?? []), ...(options.xdsHost ? [options.xdsHost] : [])],
    }),
  ]);
  let closing = false;
  let reportFailure!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
  const manager = new ComponentManager({
    log,
    onFailure: (component, error) => {
      log.error('a server stopped working', { component: component.name, error });
      reportFailure(new Error(`${component.name}: ${error.message}`));
    },
  });
  const closeAll = async (): Promise<void> => {
    closing = true;
    await manager.stopAll(Date.now() + STOP_MS);
  };
  const actual: MiniCpPorts = { dpServer: 0, apiHttp: 0, apiHttps: 0, diagnostics: 0, mads: 0, kds: 0 };
  const changeListeners = new Set<() => void>();
  const notifyChange = (): void => {
    for (const listener of changeListeners) listener();
  };
  store.onChange(notifyChange);
  store.onResourceChange(notifyChange);

  try {
    // ---- proxies: DP server (bootstrap + ADS), snapshots, MADS — standalone and zone
    let ads: AdsServer | undefined;
    let snapshots: SnapshotCache | undefined;
    let insights: InsightTracker | undefined;
    const diagnostics = createDiagnostics(store, () => ads);
    if (opens.has('dpServer')) {
      const templates = Templates.load(options.templatesDir);
      const cache = new SnapshotCache();
      snapshots = cache;
      // MeshMetric and the dynamic configuration depend on policies, on the mesh's services and on each proxy's work dir.
      const vips = new VipAllocator();
      const generator = new Generator({
        store,
        templates,
        encode: (json, typeName) => types.encode(json, typeName),
        cache,
        debounceMs: options.pushDebounceMs ?? 50,
        extra: (dp, workdir) => observabilityResources(store, vips, dp, workdir),
      });
      await manager.start(stopOnly('generator', () => generator.close()));
      const proxiesOf = (mesh: string, only: (dp: Dataplane) => boolean = () => true): string[] =>
        store
          .list(mesh)
          .filter(only)
          .map((dp) => `${dp.mesh}.${dp.name}`);
      store.onResourceChange((change) => {
        if (change.kind === 'policy' && change.type === 'MeshMetric') generator.invalidate(proxiesOf(change.mesh));
      });
      // A service appearing or going changes the /dns map of every transparent proxy in the mesh.
      store.onChange((change) => generator.invalidate(proxiesOf(change.mesh, (dp) => !!dp.networking.transparentProxying)));
      const definition = await loadAdsDefinition();
      const grpc = definition.grpc;
      const tracker = new InsightTracker(instanceId, (proxyId) => ads?.status(proxyId));
      insights = tracker;
      store.onChange((change) => {
        if (!change.after) tracker.forget(`${change.mesh}.${change.name}`);
      });
      const server = new AdsServer({
        cache,
        authenticate: async (metadata, node) => {
          if (!authOn) return;
          const id = splitProxyId(node.id ?? '');
          if (!id) throw new StreamRefused(grpc.status.INVALID_ARGUMENT, `node.id '${node.id}' is not <mesh>.<name>`);
          const token = metadata.get('authorization')[0];
          try {
            const identity = await tokens.verify(typeof token === 'string' ? token : token?.toString(), id.mesh, id.name);
            const dataplane = store.get(id.mesh, id.name)?.dataplane ?? metadataDataplane(node);
            if (dataplane) checkTokenTags(identity, dataplane);
          } catch (err) {
            if (!(err instanceof TokenError)) throw err;
            throw new StreamRefused(err.kind === 'forbidden' ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED, err.message);
          }
        },
        // Kuma reads the proxy's work dir from its node metadata (MeshAccessLog's pipe is there).
        onStream: (proxyId, node) => generator.proxyWorkdir(proxyId, nodeMetadataString(node, 'workdir')),
        onConnect: async (proxyId, node) => {
          tracker.connected(proxyId);
          const dataplane = metadataDataplane(node);
          if (dataplane && store.hasMesh(dataplane.mesh)) await store.put(dataplane, 'proxy');
          notifyChange();
        },
        onDisconnect: (proxyId) => {
          tracker.disconnected(proxyId);
          notifyChange();
          const id = splitProxyId(proxyId);
          if (closing || !id) return;
          // Kuma deregisters a Dataplane its proxy registered once that proxy goes away.
          if (store.get(id.mesh, id.name)?.origin === 'proxy') {
            log.info('proxy disconnected; removing the Dataplane it registered', { proxy: proxyId });
            store.delete(id.mesh, id.name).catch((err: unknown) => log.error('cannot remove Dataplane', { proxy: proxyId, error: err as Error }));
          }
        },
      });
      ads = server;
      // channelz off: its per-call bookkeeping is a good part of a stream's cost with thousands of proxies.
      const grpcServer = new grpc.Server({
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': 16 * 1024 * 1024,
        // Envoy opens one ADS stream per connection; a bound keeps one connection from opening thousands.
        'grpc.max_concurrent_streams': 100,
        'grpc.enable_channelz': 0,
      });
      await server.register(grpcServer, definition);

      const bootstrapSettings = {
        store,
        templates,
        tokens: authOn ? tokens : undefined,
        caPem: dpTls ? tls.caPem : undefined,
        serverCertPem: dpTls ? tls.server.certPem : undefined,
        xdsHost: options.xdsHost,
        xdsPort: ports.dpServer,
        envoyAdminUnixSocket: options.envoyAdminUnixSocket ?? true,
        validate: (bootstrap: object) => types.validate(bootstrap, TYPE_NAME.bootstrap).map((i) => `${i.path}: ${i.message}`),
        checkDataplaneText,
      };
      const onDpRequest = async (request: PlainRequest): Promise<PlainAnswer> => {
        const path = request.path.split('?')[0];
        const plain = (status: number, body: string, extra: Record<string, string> = {}): PlainAnswer => ({
          status,
          headers: { 'content-type': 'text/plain', ...extra },
          body,
        });
        if (path !== '/bootstrap') return plain(404, `no such endpoint: ${path}; the DP server serves POST /bootstrap and gRPC ADS\n`);
        if (request.method !== 'POST') return plain(405, 'use POST /bootstrap\n', { allow: 'POST' });
        let answer: BootstrapAnswer;
        try {
          answer = await handleBootstrap(bootstrapSettings, request.body, request.headers.host, request.headers.accept);
        } catch (err) {
          log.error('bootstrap failed', { error: err as Error });
          answer = { status: 500, contentType: 'text/plain', body: `${(err as Error).message}\n` };
        }
        diagnostics.bootstrapRequests.inc({ status: String(answer.status) });
        return { status: answer.status, headers: answer.contentType ? { 'content-type': answer.contentType } : {}, body: answer.body };
      };
      let dpServer: Awaited<ReturnType<typeof startDpServer>> | undefined;
      await manager.start({
        name: 'dp-server',
        start: async () => {
          dpServer = await startDpServer({
            host: bindAddress,
            port: ports.dpServer,
            tls: dpTls ? tls.server : undefined,
            onRequest: onDpRequest,
            grpcServer,
            grpcModule: grpc,
          });
          actual.dpServer = dpServer.address.port;
          bootstrapSettings.xdsPort = actual.dpServer;
        },
        stop: async () => {
          server.close();
          grpcServer.forceShutdown();
          await dpServer?.close();
        },
      });
    }

    /** What the mini-CP serves one of its proxies: the snapshot's resources as JSON. */
    const servedConfig = (mesh: string, name: string): unknown => {
      const snapshot = snapshots?.get(`${mesh}.${name}`);
      if (!snapshot) return undefined;
      const resources: Record<string, unknown[]> = {};
      for (const [typeUrl, set] of snapshot.resources) resources[typeUrl.slice(typeUrl.lastIndexOf('.') + 1)] = [...set.values()].map((r) => r.json);
      return { mesh, name, versions: Object.fromEntries([...snapshot.versions].map(([t, v]) => [t.slice(t.lastIndexOf('.') + 1), v])), resources };
    };

    // ---- KDS: the global serves it, a zone connects to it
    let zones = (): unknown[] => [];
    let proxyConfig = (mesh: string, name: string): Promise<unknown> => Promise.resolve(servedConfig(mesh, name));
    let zoneState: ZoneState | undefined;
    if (opens.has('kds')) {
      zoneState = new ZoneState(store);
      const kdsGlobal = new KdsGlobalServer({
        store: globalKdsStore(store, zoneState),
        host: bindAddress,
        port: ports.kds,
        certPem: tls.server.certPem,
        keyPem: tls.server.keyPem,
        onChange: notifyChange,
      });
      await manager.start({
        name: 'kds-global',
        start: async () => void (actual.kds = await kdsGlobal.start()),
        stop: () => kdsGlobal.close(),
      });
      zones = () => kdsGlobal.zones();
      // A zone's proxy: its zone serves its configuration, and answers for it over KDS.
      proxyConfig = (mesh, name) => {
        const dp = store.get(mesh, name)?.dataplane;
        const zone = dp?.labels?.[ZONE_LABEL];
        if (!dp || !zone) return Promise.resolve(undefined);
        return kdsGlobal.configOf(zone, mesh, dp.labels?.[DISPLAY_NAME_LABEL] ?? name);
      };
    }
    const zoneName = options.multizone?.zoneName ?? 'default';
    if (mode === 'zone') {
      const tracker = insights;
      const client = new KdsZoneClient({
        store: zoneKdsStore(store, zoneName, (dp) => tracker?.insight(dp), servedConfig),
        zoneName,
        globalAddress: options.multizone!.globalAddress!,
        rootCaFile: options.multizone?.rootCaFile,
        tlsSkipVerify: options.multizone?.tlsSkipVerify,
      });
      await manager.start({
        name: 'kds-zone-client',
        start: () => Promise.resolve(client.start()),
        stop: () => Promise.resolve(client.close()),
      });
    }

    const api = createApiHandler({
      store,
      tokens,
      instanceId,
      xdsStatus: (mesh, name) => ads?.status(`${mesh}.${name}`),
      adminFromAnywhere: options.apiAdminFromAnywhere ?? false,
      mode,
      zoneName,
      dataplaneInsight: (dp) => (zoneState && store.get(dp.mesh, dp.name)?.origin === 'kds' ? zoneState.insight(dp.mesh, dp.name) : insights?.insight(dp)),
      zones: () => zones(),
      proxyConfig,
      adminToken: loadAdminToken(workDir),
    });
    const gui = createGuiHandler({
      mode,
      zoneName: mode === 'zone' ? zoneName : undefined,
      onChange: (listener) => {
        changeListeners.add(listener);
        return () => changeListeners.delete(listener);
      },
    });
    await manager.start(stopOnly('gui', () => gui.close()));
    const apiAndGui: http.RequestListener = (req, res) => {
      if (!gui.handle(req, res)) api(req, res);
    };
    const at = (port: number, setting: string, host = bindAddress) => ({ port, host, setting });
    const servers: Array<[PortName, HttpServerComponent]> = [
      [
        'apiHttp',
        new HttpServerComponent(
          'api-http',
          http.createServer(apiAndGui),
          at(ports.apiHttp, 'API server (--api-server-http-port, KUMA_API_SERVER_HTTP_PORT)', options.apiHttpInterface),
        ),
      ],
      [
        'apiHttps',
        new HttpServerComponent(
          'api-https',
          https.createServer({ cert: tls.server.certPem, key: tls.server.keyPem }, apiAndGui),
          at(ports.apiHttps, 'API server over TLS (--api-server-https-port, KUMA_API_SERVER_HTTPS_PORT)', options.apiHttpsInterface),
        ),
      ],
      [
        'diagnostics',
        new HttpServerComponent(
          'diagnostics',
          http.createServer(diagnostics.handler),
          at(ports.diagnostics, 'diagnostics server (--diagnostics-port, KUMA_DIAGNOSTICS_SERVER_PORT)'),
        ),
      ],
    ];
    if (opens.has('mads')) {
      const mads = createMadsHandler(store);
      await manager.start(stopOnly('mads-watches', () => mads.close()));
      servers.push([
        'mads',
        new HttpServerComponent(
          'mads',
          http.createServer(mads.handler),
          at(ports.mads, 'monitoring assignment server (--mads-port, KUMA_MONITORING_ASSIGNMENT_SERVER_PORT)'),
        ),
      ]);
    }
    for (const [key, server] of servers) {
      await manager.start(server);
      actual[key] = server.port;
    }
    const hostOf = (address: string): string => (address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address);
    const hostFor: Partial<Record<PortName, string>> = { apiHttp: options.apiHttpInterface, apiHttps: options.apiHttpsInterface };
    const url = (scheme: string, key: PortName): string => (actual[key] ? `${scheme}://${hostOf(hostFor[key] ?? bindAddress)}:${actual[key]}` : '');
    const addresses = {
      dpServer: url(dpTls ? 'https' : 'http', 'dpServer'),
      apiHttp: url('http', 'apiHttp'),
      apiHttps: url('https', 'apiHttps'),
      diagnostics: url('http', 'diagnostics'),
      mads: url('http', 'mads'),
      kds: url('grpcs', 'kds'),
      gui: `${url('http', 'apiHttp')}/gui/`,
    };
    diagnostics.setReady(true);
    const opened = (record: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(record).filter(([key]) => key === 'gui' || opens.has(key as PortName)));
    log.info('kuma-mini-cp ready', {
      mode,
      ...(mode === 'zone' ? { zone: zoneName, globalAddress: options.multizone?.globalAddress } : {}),
      addresses: opened(addresses),
      ports: opened(actual),
      caCertPath: tls.caCertPath,
      workDir,
      auth: authOn ? 'dp-token' : 'none',
      dpServerTls: dpTls,
      storeFile: options.storeFile ?? null,
      dataplanes: store.size(),
    });
    let closed: Promise<void> | undefined;
    return {
      mode,
      addresses,
      ports: actual,
      caCertPath: tls.caCertPath,
      workDir,
      store,
      tokens,
      failed,
      close: () => {
        diagnostics.setReady(false);
        closed ??= closeAll().then(() => store.flushed());
        return closed;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
