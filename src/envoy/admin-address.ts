// Where Envoy's admin API listens. Kept apart from the admin client so that
// reading it from the bootstrap loads no HTTP code on the agent's start path.

/** Where Envoy's admin API listens, as the bootstrap's `admin.address` says. */
export type AdminAddress = { kind: 'tcp'; address: string; port: number } | { kind: 'pipe'; path: string };

/** Kuma's default when the bootstrap names no admin address. */
export const DEFAULT_ADMIN: Extract<AdminAddress, { kind: 'tcp' }> = { kind: 'tcp', address: '127.0.0.1', port: 9901 };

/** "127.0.0.1:9901", "[::1]:9901" or the socket path, for logs and messages. */
export function formatAdmin(admin: AdminAddress): string {
  if (admin.kind === 'pipe') return admin.path;
  return admin.address.includes(':') ? `[${admin.address}]:${admin.port}` : `${admin.address}:${admin.port}`;
}
