// Kuma's names for the sockets and pipes kuma-dp and Envoy meet on in the work
// dir (pkg/core/xds/sockets.go). Both sides compute them from the same inputs,
// so they must be byte-identical to Kuma's.
import { join } from 'node:path';

/** Kuma's socketName(): the path cut to 98 bytes, then `.sock`, so that it fits sun_path (104 bytes on macOS, 108 on Linux). */
export function socketName(path: string): string {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length <= 98) return `${path}.sock`;
  const cut = bytes.subarray(0, 98);
  const text = cut.toString('utf8');
  // A cut inside a multi-byte character cannot be named by a JS string; Kuma's name would hold half a character.
  if (!Buffer.from(text, 'utf8').equals(cut)) throw new Error(`the socket path ${path} is cut inside a multi-byte character; use a shorter work dir`);
  return `${text}.sock`;
}

/** AdminSocketName(): Envoy's admin API when the control plane puts it on a Unix socket (Kuma >= 2.14's default). */
export const adminSocketName = (workdir: string): string => socketName(join(workdir, 'kuma-envoy-admin'));

/** AccessLogSocketName(): the named pipe Envoy's file access logger writes MeshAccessLog Tcp records to. */
export const accessLogSocketName = (workdir: string, name: string, mesh: string): string => socketName(join(workdir, `kuma-al-${name}-${mesh}`));

/** MetricsHijackerSocketName(): kuma-dp's metrics socket, which Envoy exposes to Prometheus for MeshMetric. */
export const metricsHijackerSocketName = (workdir: string, name: string, mesh: string): string => socketName(join(workdir, `kuma-mh-${name}-${mesh}`));

/** MeshMetricsDynamicConfigurationSocketName(): Envoy's dynamic-configuration listener (/dns, /meshmetric), which kuma-dp polls. */
export const dynamicConfigSocketName = (workdir: string): string => join(workdir, 'kuma-mesh-metric-config.sock');
