// Port 5676: Kuma's Monitoring Assignment Discovery Service in the HTTP/JSON
// form Prometheus' kuma_sd_configs uses (POST /v3/discovery:monitoringassignments):
// one assignment per dataplane, pointing at its metrics endpoint. Long-polls
// when the client already has the current version, answering 304 on timeout.
//
// Which Dataplanes are listed follows Kuma's MADS snapshot generator: when a
// MeshMetric policy anywhere has a Prometheus backend, MeshMetric takes
// precedence and each Dataplane a MeshMetric with a Prometheus backend selects
// is listed at that backend's port and path; otherwise only the Dataplanes of
// meshes whose `metrics.enabledBackend` names a backend are listed, at that
// backend's port and path (a Dataplane's own `metrics` overrides them).
import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import { SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { parseDuration } from '../util/duration.js';
import { isObject } from '../util/document.js';
import { serviceOf } from './bootstrap.js';
import { HttpError, readJson, sendError, sendJson } from './http.js';
import { enabledMetricsBackend } from './mesh-metrics.js';
import { meshMetricConf } from './observability.js';
import type { Store } from './store.js';

export const MADS_PATH = '/v3/discovery:monitoringassignments';
export const MONITORING_ASSIGNMENT_TYPE = 'type.googleapis.com/kuma.observability.v1.MonitoringAssignment';
const DEFAULT_METRICS_PORT = 5670;
const DEFAULT_METRICS_PATH = '/metrics';
const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

interface Endpoint {
  port: number;
  path: string;
  scheme: 'http' | 'https';
}

function assignment(dp: Dataplane, endpoint: Endpoint): Record<string, unknown> {
  const labels: Record<string, string> = {};
  for (const ib of dp.networking.inbound ?? []) for (const [k, v] of Object.entries(ib.tags ?? {})) labels[k] ??= v;
  return {
    '@type': MONITORING_ASSIGNMENT_TYPE,
    mesh: dp.mesh,
    service: serviceOf(dp),
    targets: [
      {
        name: dp.name,
        scheme: endpoint.scheme,
        address: `${dp.networking.address.includes(':') ? `[${dp.networking.address}]` : dp.networking.address}:${endpoint.port}`,
        metrics_path: endpoint.path,
        labels,
      },
    ],
    labels: { [SERVICE_TAG]: serviceOf(dp) },
  };
}

/** A MeshMetric Prometheus backend is for every client unless it names one (`clientId`, Prometheus' kuma_sd_configs client_id). */
const prometheusBackends = (conf: Record<string, unknown> | undefined, clientId: string): Array<Record<string, unknown>> =>
  (Array.isArray(conf?.backends) ? conf.backends : [])
    .filter((b): b is Record<string, unknown> => isObject(b) && b.type === 'Prometheus')
    .map((b) => (isObject(b.prometheus) ? b.prometheus : {}))
    .filter((p) => typeof p.clientId !== 'string' || p.clientId === clientId);

/** The assignments a client gets, by Kuma's rule (see the top of this file). */
function assignments(store: Store, clientId: string): Array<Record<string, unknown>> {
  const meshMetricMeshes = new Set(
    store
      .listPolicies({ type: 'MeshMetric' })
      .filter((p) => prometheusBackends(isObject(p.spec.default) ? p.spec.default : undefined, clientId).length > 0)
      .map((p) => p.mesh),
  );
  if (meshMetricMeshes.size > 0) {
    return store
      .list()
      .filter((dp) => meshMetricMeshes.has(dp.mesh))
      .flatMap((dp) =>
        prometheusBackends(meshMetricConf(store, dp), clientId).map((backend) =>
          assignment(dp, {
            port: typeof backend.port === 'number' ? backend.port : DEFAULT_METRICS_PORT,
            path: typeof backend.path === 'string' ? backend.path : DEFAULT_METRICS_PATH,
            scheme: isObject(backend.tls) && backend.tls.mode === 'ProvidedTLS' ? 'https' : 'http',
          }),
        ),
      );
  }
  const out: Array<Record<string, unknown>> = [];
  for (const mesh of store.meshes()) {
    const backend = enabledMetricsBackend(store.meshMetrics(mesh));
    if (!backend) continue;
    for (const dp of store.list(mesh)) {
      const own = dp.metrics && (dp.metrics.type === undefined || dp.metrics.type === 'prometheus') && isObject(dp.metrics.conf) ? dp.metrics.conf : {};
      const port = typeof own.port === 'number' ? own.port : (backend.conf?.port ?? DEFAULT_METRICS_PORT);
      const path = typeof own.path === 'string' ? own.path : (backend.conf?.path ?? DEFAULT_METRICS_PATH);
      // Kuma's assignments for Mesh.metrics always say http.
      out.push(assignment(dp, { port, path, scheme: 'http' }));
    }
  }
  return out;
}

export function createMadsHandler(store: Store): { handler: http.RequestListener; close(): void } {
  const waiters = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...waiters]) wake();
  };
  // Dataplanes, meshes' metrics and MeshMetric policies all decide what is listed.
  const unsubscribers = [store.onChange(wakeAll), store.onResourceChange(wakeAll)];
  const current = (clientId: string) => {
    const resources = assignments(store, clientId);
    const version = createHash('sha256').update(JSON.stringify(resources)).digest('base64url').slice(0, 16);
    return { resources, version };
  };

  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://mads');
    const serve = async (): Promise<void> => {
      if (url.pathname !== MADS_PATH) throw new HttpError(404, `no such endpoint: ${url.pathname}; Prometheus' kuma_sd_configs uses POST ${MADS_PATH}`);
      if (req.method !== 'POST') throw new HttpError(405, `use POST ${MADS_PATH}`);
      const request = (await readJson(req)) as { version_info?: string; versionInfo?: string; node?: { id?: unknown } } | null;
      const clientId = typeof request?.node?.id === 'string' ? request.node.id : '';
      let timeoutMs = DEFAULT_FETCH_TIMEOUT_MS;
      const param = url.searchParams.get('fetch-timeout');
      if (param !== null) {
        try {
          timeoutMs = parseDuration(param, 'fetch-timeout');
        } catch (err) {
          throw new HttpError(400, (err as Error).message);
        }
      }
      const known = request?.version_info ?? request?.versionInfo ?? '';
      let state = current(clientId);
      if (known !== '' && known === state.version && timeoutMs > 0) {
        const changed = await new Promise<boolean>((resolve) => {
          const wake = (): void => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve(true);
          };
          const timer = setTimeout(() => {
            waiters.delete(wake);
            resolve(false);
          }, timeoutMs);
          waiters.add(wake);
          req.once('close', () => {
            clearTimeout(timer);
            waiters.delete(wake);
          });
        });
        state = current(clientId);
        if (!changed || state.version === known) {
          res.writeHead(304).end();
          return;
        }
      }
      sendJson(res, 200, { version_info: state.version, resources: state.resources, type_url: MONITORING_ASSIGNMENT_TYPE, nonce: state.version });
    };
    serve().catch((err: unknown) => sendError(res, err instanceof HttpError ? err : new HttpError(500, (err as Error).message)));
  };
  return {
    handler,
    close: () => {
      for (const unsubscribe of unsubscribers) unsubscribe();
      wakeAll();
    },
  };
}
