// Kuma's names for the sockets and pipes kuma-dp and Envoy meet on in the work
// dir (pkg/core/xds/sockets.go). Both sides compute them from the same inputs,
// so they must be byte-identical to Kuma's.
import { join } from 'node:path';

/** Kuma's socketName(): the path cut to 98 bytes, then `.sock`, so that it fits sun_path (104 bytes on macOS, 108 on Linux). */
export function socketName(path: string): string {
  const bytes = Buffer.from(path);
  return (bytes.length > 98 ? bytes.subarray(0, 98).toString() : path) + '.sock';
}

/** AdminSocketName(): Envoy's admin API when the control plane puts it on a Unix socket (Kuma >= 2.14's default). */
export const adminSocketName = (workdir: string): string => socketName(join(workdir, 'kuma-envoy-admin'));
