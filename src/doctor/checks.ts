// The checks `kuma-dp doctor` runs, from the same configuration `kuma-dp run`
// reads. Each resolves to a result that names what was checked, what was
// found and, when it fails, how to fix it.
import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readCaCert } from '../config/ca.js';
import type { AgentConfig } from '../config/agent-config.js';
import { checkTokenShape } from '../config/token.js';
import { loadDataplane } from '../dataplane/load.js';
import { EXPECTED_ENVOY_VERSION, envoyVersion, findEnvoyBinary } from '../envoy/binary.js';
import { adminSocketName } from '../util/socket-name.js';

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

const CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_ADMIN_PORT = 9901;

const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });
const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail });
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function checkEnvoy(config: AgentConfig): Promise<CheckResult> {
  const name = 'Envoy binary';
  let binary: string;
  try {
    binary = findEnvoyBinary(config.envoy.binaryPath);
  } catch (err) {
    return fail(name, messageOf(err), 'install Envoy, or pass its path with --binary-path (KUMA_DATAPLANE_RUNTIME_BINARY_PATH)');
  }
  try {
    const version = await envoyVersion(binary);
    if (!version.kumaDpCompatible)
      return fail(
        name,
        `${binary} is Envoy ${version.version}, not compatible with this kuma-dp (expects ${EXPECTED_ENVOY_VERSION})`,
        `install Envoy ${EXPECTED_ENVOY_VERSION} (or a later ${EXPECTED_ENVOY_VERSION.split('.').slice(0, 2).join('.')}.x patch)`,
      );
    return ok(name, `${binary}, Envoy ${version.version} (compatible)`);
  } catch (err) {
    return fail(name, messageOf(err), 'check that --binary-path is an Envoy executable that runs on this machine');
  }
}

const TLS_FIXES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "pass the CA that signed the control plane's certificate with --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "pass the CA that signed the control plane's certificate with --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE)",
  SELF_SIGNED_CERT_IN_CHAIN: "pass the control plane's CA with --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "pass the control plane's certificate (it is self-signed) with --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE)",
  CERT_HAS_EXPIRED: "renew the control plane's certificate",
  ERR_TLS_CERT_ALTNAME_INVALID: "use an address that the control plane's certificate names in --cp-address, or issue the certificate for this address",
};

export async function checkControlPlane(config: AgentConfig): Promise<CheckResult> {
  const name = 'control plane';
  const url = new URL(config.controlPlane.url);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let ca: string | undefined;
  try {
    ca = readCaCert(config.controlPlane);
  } catch (err) {
    return fail(name, messageOf(err), 'correct --ca-cert-file (KUMA_CONTROL_PLANE_CA_CERT_FILE)');
  }
  const tls = url.protocol === 'https:';
  const socket: Socket | TLSSocket = tls
    ? tlsConnect({
        host,
        port,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        ...(ca ? { ca } : {}),
        rejectUnauthorized: !config.controlPlane.skipVerify,
        ALPNProtocols: ['h2', 'http/1.1'],
      })
    : tcpConnect({ host, port });
  const outcome = await new Promise<{ error?: NodeJS.ErrnoException }>((resolve) => {
    const timer = setTimeout(
      () => resolve({ error: Object.assign(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000}s`), { code: 'ETIMEDOUT' }) }),
      CONNECT_TIMEOUT_MS,
    );
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve({});
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error });
    });
  });
  socket.destroy();
  const where = `${url.protocol}//${url.host}`;
  if (outcome.error) {
    const code = outcome.error.code ?? '';
    const fix =
      TLS_FIXES[code] ??
      (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `check --cp-address (KUMA_CONTROL_PLANE_URL): is the control plane running and is port ${port} (the DP server, 5678 by default) reachable from here?`
        : 'check --cp-address (KUMA_CONTROL_PLANE_URL) and the network');
    return fail(name, `${where}: ${outcome.error.message}${code && !outcome.error.message.includes(code) ? ` (${code})` : ''}`, fix);
  }
  if (!tls) return ok(name, `${where} reachable (plain HTTP: no TLS to check)`);
  if (config.controlPlane.skipVerify) return ok(name, `${where} reachable; certificate NOT verified (--skip-verify)`);
  return ok(name, `${where} reachable; its certificate chain is valid for ${host}${ca ? ' (with the given CA)' : ' (system CAs)'}`);
}

/** The `exp` claim of a JWT, if it has one. */
function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

export async function checkToken(config: AgentConfig, now = Date.now()): Promise<CheckResult> {
  const name = 'dataplane token';
  const from = config.token.file ? `--dataplane-token-file ${config.token.file}` : '--dataplane-token (KUMA_DATAPLANE_RUNTIME_TOKEN)';
  let raw: string;
  if (config.token.file) {
    try {
      raw = await readFile(config.token.file, 'utf8');
    } catch (err) {
      return fail(
        name,
        `${from}: cannot be read (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`,
        'correct --dataplane-token-file (KUMA_DATAPLANE_RUNTIME_TOKEN_PATH) or make the file readable by this user',
      );
    }
  } else if (config.token.inline) raw = config.token.inline;
  else return skip(name, 'none given (needed when the mesh requires dataplane tokens)');
  let token: string;
  try {
    token = checkTokenShape(raw, from);
  } catch (err) {
    return fail(name, messageOf(err), "generate a token with 'kumactl generate dataplane-token' or the control plane's API");
  }
  const exp = jwtExpiry(token);
  if (exp === undefined) return ok(name, `${from}: readable, no expiry`);
  const expires = new Date(exp * 1000).toISOString();
  if (exp * 1000 <= now)
    return fail(name, `${from}: expired at ${expires}`, "generate a new token with 'kumactl generate dataplane-token' (e.g. with a longer --valid-for)");
  return ok(name, `${from}: readable, expires ${expires}`);
}

export async function checkDataplane(config: AgentConfig): Promise<{ result: CheckResult; adminPort: number }> {
  const name = 'Dataplane';
  try {
    const dp = await loadDataplane({ ...config.dataplane });
    const adminPort = dp.resource?.networking.admin?.port ?? DEFAULT_ADMIN_PORT;
    if (!dp.resource) return { result: ok(name, `${dp.mesh}/${dp.name} (the resource comes from the control plane)`), adminPort };
    return {
      result: ok(
        name,
        `${dp.mesh}/${dp.name} is valid (${dp.resource.networking.inbound?.length ?? 0} inbound, ${dp.resource.networking.outbound?.length ?? 0} outbound)`,
      ),
      adminPort,
    };
  } catch (err) {
    return {
      result: fail(name, messageOf(err), 'correct the Dataplane resource (--dataplane-file / --dataplane) or --name and --mesh'),
      adminPort: DEFAULT_ADMIN_PORT,
    };
  }
}

function portFree(port: number, host = '127.0.0.1'): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

export async function checkPort(name: string, port: number, fix: string): Promise<CheckResult> {
  if (port === 0) return skip(name, 'disabled (0)');
  const err = await portFree(port);
  if (!err) return ok(name, `127.0.0.1:${port} is free`);
  return fail(
    name,
    `127.0.0.1:${port}: ${err.code === 'EADDRINUSE' ? 'already in use (another kuma-dp or Envoy on this host?)' : (err.code ?? err.message)}`,
    fix,
  );
}

export function checkWorkDir(config: AgentConfig): CheckResult {
  const name = 'work dir';
  const dir = config.envoy.workDir ?? tmpdir();
  const what = config.envoy.workDir ? `--work-dir ${dir}` : `temporary directory under ${dir}`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.kuma-dp-doctor-${process.pid}`);
    writeFileSync(probe, '', { mode: 0o600 });
    rmSync(probe);
    return ok(name, `${what} is writable`);
  } catch (err) {
    return fail(
      name,
      `${what}: not writable (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`,
      config.envoy.workDir
        ? 'choose a writable --work-dir (KUMA_DATAPLANE_RUNTIME_WORK_DIR) or fix its permissions'
        : 'set TMPDIR or --work-dir to a writable directory',
    );
  }
}

/**
 * Kuma >= 2.14 puts Envoy's admin API on <work dir>/kuma-envoy-admin.sock, cut to 98 bytes + `.sock` (Kuma's
 * socketName()); a work dir too long for that puts the socket somewhere else, and Envoy cannot bind it.
 */
export function checkAdminSocket(config: AgentConfig): CheckResult {
  const name = 'Envoy admin socket';
  if (!config.envoy.workDir) return ok(name, `${adminSocketName(join(tmpdir(), 'kuma-dp-XXXXXX'))} (temporary work dir) fits a Unix socket path`);
  const wanted = `${join(config.envoy.workDir, 'kuma-envoy-admin')}.sock`;
  const socket = adminSocketName(config.envoy.workDir);
  if (socket === wanted) return ok(name, `${socket} fits a Unix socket path`);
  return fail(
    name,
    `--work-dir ${config.envoy.workDir} is too long: a Kuma >= 2.14 control plane cuts the admin socket path to ${socket}, outside the work dir`,
    'use a work dir path of at most 81 bytes (--work-dir / KUMA_DATAPLANE_RUNTIME_WORK_DIR)',
  );
}

export async function runChecks(config: AgentConfig): Promise<CheckResult[]> {
  const [envoy, cp, token, dataplane] = await Promise.all([checkEnvoy(config), checkControlPlane(config), checkToken(config), checkDataplane(config)]);
  // The control plane chooses: a TCP port (Kuma < 2.14, or its Unix socket turned off) or a socket in the work dir.
  const admin = await checkPort(
    'Envoy admin port (TCP admin)',
    dataplane.adminPort,
    'stop what holds the port, or give this Dataplane another networking.admin.port',
  );
  const readiness = await checkPort(
    'readiness port',
    config.readinessPort,
    'give each agent on this host its own KUMA_READINESS_PORT, or set it to 0 to disable the readiness reporter',
  );
  return [envoy, cp, token, dataplane.result, admin, checkAdminSocket(config), readiness, checkWorkDir(config)];
}

/** One line per check, a fix under each failure. */
export function formatResults(results: readonly CheckResult[]): string {
  const label: Record<CheckStatus, string> = { ok: 'OK  ', fail: 'FAIL', skip: 'SKIP' };
  return results.map((r) => `${label[r.status]} ${r.name}: ${r.detail}${r.fix ? `\n     fix: ${r.fix}` : ''}`).join('\n') + '\n';
}
