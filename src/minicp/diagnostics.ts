// Port 5680: /healthy (the process answers), /ready (every server is up and
// the store is loaded) and /metrics in Prometheus' text format.
import * as http from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdsServer } from '../xds/ads-server.js';
import type { Store } from './store.js';

export interface Diagnostics {
  handler: http.RequestListener;
  setReady(ready: boolean): void;
  registry: Registry;
  bootstrapRequests: Counter<'status'>;
}

/** `ads()` is the ADS server once it exists; a global, which serves no proxies, has none. */
export function createDiagnostics(store: Store, ads: () => AdsServer | undefined): Diagnostics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kuma_mini_cp_' });
  let ready = false;
  new Gauge({
    name: 'kuma_mini_cp_dataplanes',
    help: 'Dataplane resources in the store',
    registers: [registry],
    collect() {
      this.set(store.size());
    },
  });
  new Gauge({
    name: 'kuma_mini_cp_xds_streams',
    help: 'Open ADS streams',
    registers: [registry],
    collect() {
      this.set(ads()?.streamCount() ?? 0);
    },
  });
  new Gauge({
    name: 'kuma_mini_cp_xds_connected_proxies',
    help: 'Proxies with at least one ADS stream',
    registers: [registry],
    collect() {
      this.set(ads()?.connectedProxies() ?? 0);
    },
  });
  // Counted by the ADS server itself; exposed as Prometheus counters at scrape time.
  const counterFrom = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  counterFrom('kuma_mini_cp_xds_responses_total', 'xDS responses sent', () => ads()?.counters.responses ?? 0);
  counterFrom('kuma_mini_cp_xds_acks_total', 'xDS responses ACKed', () => ads()?.counters.acks ?? 0);
  counterFrom('kuma_mini_cp_xds_nacks_total', 'xDS responses NACKed', () => ads()?.counters.nacks ?? 0);
  counterFrom('kuma_mini_cp_xds_refused_streams_total', 'ADS streams refused (authentication, bad first request)', () => ads()?.counters.refused ?? 0);
  const bootstrapRequests = new Counter({
    name: 'kuma_mini_cp_bootstrap_requests_total',
    help: 'POST /bootstrap requests by status code',
    labelNames: ['status'] as const,
    registers: [registry],
  });

  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/healthy') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
    } else if (path === '/ready') {
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'READY\n' : 'NOT READY\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: use /healthy, /ready or /metrics\n');
    }
  };
  return { handler, setReady: (value) => (ready = value), registry, bootstrapRequests };
}
