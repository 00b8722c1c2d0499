// Port 5676: Kuma's Monitoring Assignment Discovery Service in the HTTP/JSON
// form Prometheus' kuma_sd_configs uses (POST /v3/discovery:monitoringassignments):
// one assignment per dataplane, pointing at its metrics endpoint. Long-polls
// when the client already has the current version, answering 304 on timeout.
import { createHash } from 'node:crypto';
import type * as http from 'node:http';
import { SERVICE_TAG, type Dataplane } from '../dataplane/types.js';
import { parseDuration } from '../util/duration.js';
import { serviceOf } from './bootstrap.js';
import { HttpError, readJson, sendError, sendJson } from './http.js';
import type { Store } from './store.js';

export const MADS_PATH = '/v3/discovery:monitoringassignments';
export const MONITORING_ASSIGNMENT_TYPE = 'type.googleapis.com/kuma.observability.v1.MonitoringAssignment';
const DEFAULT_METRICS_PORT = 5670;
const DEFAULT_METRICS_PATH = '/metrics';
const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

function assignment(dp: Dataplane): Record<string, unknown> {
  const conf = (dp.metrics?.conf ?? {}) as { port?: number; path?: string; tls?: { mode?: string } };
  const labels: Record<string, string> = {};
  for (const ib of dp.networking.inbound ?? []) for (const [k, v] of Object.entries(ib.tags ?? {})) labels[k] ??= v;
  return {
    '@type': MONITORING_ASSIGNMENT_TYPE,
    mesh: dp.mesh,
    service: serviceOf(dp),
    targets: [
      {
        name: dp.name,
        scheme: conf.tls?.mode === 'providedTLS' ? 'https' : 'http',
        address: `${dp.networking.address.includes(':') ? `[${dp.networking.address}]` : dp.networking.address}:${conf.port ?? DEFAULT_METRICS_PORT}`,
        metrics_path: conf.path ?? DEFAULT_METRICS_PATH,
        labels,
      },
    ],
    labels: { [SERVICE_TAG]: serviceOf(dp) },
  };
}

export function createMadsHandler(store: Store): { handler: http.RequestListener; close(): void } {
  const waiters = new Set<() => void>();
  const unsubscribe = store.onChange(() => {
    for (const wake of [...waiters]) wake();
  });
  const current = () => {
    const resources = store.list().map(assignment);
    const version = createHash('sha256').update(JSON.stringify(resources)).digest('base64url').slice(0, 16);
    return { resources, version };
  };

  const handler: http.RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://mads');
    const serve = async (): Promise<void> => {
      if (url.pathname !== MADS_PATH) throw new HttpError(404, `no such endpoint: ${url.pathname}; Prometheus' kuma_sd_configs uses POST ${MADS_PATH}`);
      if (req.method !== 'POST') throw new HttpError(405, `use POST ${MADS_PATH}`);
      const request = (await readJson(req)) as { version_info?: string; versionInfo?: string } | null;
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
      let state = current();
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
        state = current();
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
      unsubscribe();
      for (const wake of [...waiters]) wake();
    },
  };
}
