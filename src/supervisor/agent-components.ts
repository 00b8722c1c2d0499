// The components that run beside Envoy, chosen from the configuration. Each
// module is imported here, after Envoy has been spawned, so none of them
// weighs on the agent's start-up.
import type { AgentConfig, MetricsSource } from '../config/agent-config.js';
import type { KumaSidecarConfiguration } from '../bootstrap/response.js';
import type { Logger } from '../log/logger.js';
import type { AgentStats } from '../metrics/agent-stats.js';
import type { AdminAddress } from '../render/envoy-config.js';
import type { Component } from './component.js';
import type { AgentControls, Lifecycle } from './lifecycle.js';

export interface ComponentContext {
  config: AgentConfig;
  admin: AdminAddress;
  lifecycle: Lifecycle;
  controls: AgentControls;
  stats: AgentStats;
  sidecar?: KumaSidecarConfiguration;
  log: Logger;
}

/** The applications' metrics endpoints the control plane names (Kuma's metrics.aggregate). */
export function controlPlaneMetricsSources(sidecar: KumaSidecarConfiguration | undefined): MetricsSource[] {
  return (sidecar?.metrics?.aggregate ?? []).flatMap((a) => {
    if (!a.name || !a.port) return [];
    const path = a.path ? (a.path.startsWith('/') ? a.path : `/${a.path}`) : '/metrics';
    return [{ name: a.name, url: `http://${a.address || '127.0.0.1'}:${a.port}${path}` }];
  });
}

export async function agentComponents(ctx: ComponentContext): Promise<Component[]> {
  const { config, admin, lifecycle, controls, log } = ctx;
  const components: Component[] = [];
  if (config.notifySocket) {
    const { SdNotifier } = await import('../notify/sd-notify.js');
    components.push(
      new SdNotifier({ socket: config.notifySocket, lifecycle, ...(config.watchdogMs ? { watchdogMs: config.watchdogMs } : {}), log: log.child('sd-notify') }),
    );
  }
  if (config.readinessPort !== 0) {
    const { ReadinessReporter } = await import('../readiness/reporter.js');
    components.push(new ReadinessReporter({ port: config.readinessPort, inPod: config.inPod, admin, lifecycle, controls, log: log.child('readiness') }));
  }
  if (config.metrics.address) {
    const { MetricsServer } = await import('../metrics/server.js');
    const sources = [
      ...config.metrics.aggregate,
      ...controlPlaneMetricsSources(ctx.sidecar).filter((s) => !config.metrics.aggregate.some((own) => own.name === s.name)),
    ];
    components.push(new MetricsServer({ ...config.metrics.address, admin, sources, stats: ctx.stats, lifecycle, log: log.child('metrics') }));
  }
  return components;
}
