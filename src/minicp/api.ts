// The Kuma-shaped HTTP API (5681, and 5682 over TLS): meshes, dataplanes,
// their xDS state, and dataplane tokens.
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validateMeshName, validateResourceName } from '../dataplane/validate.js';
import { createLogger } from '../log/logger.js';
import { parseDuration } from '../util/duration.js';
import type { FieldError } from '../util/errors.js';
import { HttpError, readJson, sendError, sendJson } from './http.js';
import { GLOBAL_READ_ONLY_MESSAGE, ORIGIN_GLOBAL, ORIGIN_LABEL, ORIGIN_ZONE, ZONE_LABEL, ZONE_READ_ONLY_MESSAGE, type CpMode } from './mode.js';
import { checkPolicySpec, policyTypeByPlural, policyTypes, type PolicyType } from './policy-types.js';
import { checkMeshMetrics, type MeshMetrics } from './mesh-metrics.js';
import { checkDataplane } from './resource.js';
import { StoreRejection, StoreWriteError, type StoredPolicy, type Store } from './store.js';
import { ADMIN_TOKEN_FILE, isAdmin } from './admin.js';
import type { DataplaneTokens } from './tokens.js';
import type { Dataplane } from '../dataplane/types.js';

const log = createLogger('minicp.api');
export const MINI_CP_VERSION = '0.1.0';

export interface ApiDeps {
  store: Store;
  tokens: DataplaneTokens;
  instanceId: string;
  /** What the xDS server last sent, ACKed and NACKed for one proxy, or undefined when it never connected. */
  xdsStatus(mesh: string, name: string): unknown;
  /** Accept writes, token requests and xDS reads from any host, not only from this one. */
  adminFromAnywhere: boolean;
  /** standalone by default. */
  mode?: CpMode;
  /** This zone's name (zone mode): the kuma.io/zone label of the Dataplanes created here. */
  zoneName?: string;
  /** Kuma's DataplaneInsight of a Dataplane (its ADS subscriptions), or undefined when none is known. */
  dataplaneInsight?(dataplane: Dataplane): unknown;
  /** Kuma's ZoneOverview items (global mode). */
  zones?(): unknown[];
  /** The Envoy resources the mini-CP (or, on a global, the proxy's zone) serves one proxy; undefined when none. */
  proxyConfig?(mesh: string, name: string): Promise<unknown>;
  /** The admin token (admin.ts): with it, a caller on another host is an admin. */
  adminToken: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
  /** Reads that only admins may make: what a proxy is sent is as sensitive as a token. */
  adminOnly?: boolean;
}

const SEGMENT = '([^/]+)';

/** Kuma answers writes a mode forbids with 405 "Method not allowed" and the reason as detail. */
const notAllowed = (detail: string): HttpError => new HttpError(405, 'Method not allowed', [], detail);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function checkLabels(value: unknown, errors: FieldError[]): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    errors.push({ field: 'labels', message: 'must map label names to strings' });
    return undefined;
  }
  return value as Record<string, string>;
}

/** What PUT /meshes/{mesh} takes: the resource's identity, labels and metrics (times, as a GET returns them, are ignored). */
const MESH_FIELDS = ['type', 'name', 'labels', 'metrics', 'creationTime', 'modificationTime'];

/** A policy resource in Kuma's universal form: type, mesh, name, labels, spec. */
const policyJson = (p: StoredPolicy) => ({
  type: p.type,
  mesh: p.mesh,
  name: p.name,
  ...(p.creationTime ? { creationTime: p.creationTime, modificationTime: p.modificationTime } : {}),
  ...(p.labels && Object.keys(p.labels).length > 0 ? { labels: p.labels } : {}),
  spec: p.spec,
});

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, tokens } = deps;
  const mode = deps.mode ?? 'standalone';
  /** Meshes and policies come from the global on a federated zone. */
  const requireGlobalResourcesWritable = (): void => {
    if (mode === 'zone') throw notAllowed(ZONE_READ_ONLY_MESSAGE);
  };
  /** Dataplanes come from the zones on a global. */
  const requireDataplanesWritable = (): void => {
    if (mode === 'global') throw notAllowed(GLOBAL_READ_ONLY_MESSAGE);
  };
  /** The labels Kuma puts on what is created here: origin (and zone) in multizone, nothing in standalone. */
  const ownLabels = (given: Record<string, string> | undefined, kind: 'global' | 'zone'): Record<string, string> | undefined => {
    if (mode === 'standalone') return given;
    if (kind === 'global') return { ...given, [ORIGIN_LABEL]: ORIGIN_GLOBAL };
    return { ...given, [ORIGIN_LABEL]: ORIGIN_ZONE, [ZONE_LABEL]: deps.zoneName ?? 'default' };
  };
  const meshJson = (name: string) => {
    const labels = store.meshLabels(name);
    const metrics = store.meshMetrics(name);
    return { type: 'Mesh', name, ...(labels ? { labels } : {}), ...(metrics ? { metrics } : {}) };
  };
  const overview = (dp: Dataplane) => ({
    type: 'DataplaneOverview',
    mesh: dp.mesh,
    name: dp.name,
    ...(dp.creationTime ? { creationTime: dp.creationTime, modificationTime: dp.modificationTime } : {}),
    ...(dp.labels ? { labels: dp.labels } : {}),
    dataplane: { networking: dp.networking, ...(dp.metrics ? { metrics: dp.metrics } : {}) },
    dataplaneInsight: deps.dataplaneInsight?.(dp) ?? { subscriptions: [] },
  });
  const requirePolicyType = (plural: string): PolicyType => {
    const policyType = policyTypeByPlural(plural);
    if (!policyType)
      throw new HttpError(
        404,
        `no such endpoint: '${plural}' is not a resource type here (policies: ${policyTypes()
          .map((p) => p.plural)
          .join(', ')})`,
      );
    return policyType;
  };
  const listBody = (items: unknown[]) => ({ total: items.length, items, next: null });

  /** What a proxy is configured with is readable only by admins: this host's callers, the admin token's holders (or anyone with --api-admin-from-anywhere). */
  const requireAdmin = (req: IncomingMessage, what: string): void => {
    if (!deps.adminFromAnywhere && !isAdmin(req, deps.adminToken))
      throw new HttpError(
        403,
        `${what} is only readable from this host or with the admin token (caller ${req.socket.remoteAddress}); send 'Authorization: Bearer <token>' with the token from <work-dir>/${ADMIN_TOKEN_FILE}, or start kuma-mini-cp with --api-admin-from-anywhere`,
      );
  };
  const requireMesh = (mesh: string): void => {
    if (!store.hasMesh(mesh)) throw new HttpError(404, `mesh '${mesh}' does not exist (known meshes: ${store.meshes().join(', ')})`);
  };
  const requireDataplane = (mesh: string, name: string) => {
    requireMesh(mesh);
    const stored = store.get(mesh, name);
    if (!stored) throw new HttpError(404, `dataplane '${name}' does not exist in mesh '${mesh}'`);
    return stored;
  };

  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/$/,
      handler: (_req, res) =>
        sendJson(res, 200, {
          hostname: hostname(),
          tagline: 'Kuma',
          product: 'kuma-mini-cp',
          version: MINI_CP_VERSION,
          instanceId: deps.instanceId,
          clusterId: deps.instanceId,
        }),
    },
    {
      method: 'GET',
      pattern: /^\/meshes$/,
      handler: (_req, res) => {
        sendJson(res, 200, listBody(store.meshes().map(meshJson)));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}$`),
      handler: (_req, res, [mesh]) => {
        requireMesh(mesh!);
        sendJson(res, 200, meshJson(mesh!));
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/meshes/${SEGMENT}$`),
      handler: async (req, res, [mesh]) => {
        requireGlobalResourcesWritable();
        const body = await readJson(req);
        const errors: FieldError[] = [];
        validateMeshName(mesh, 'name', errors);
        const given = body as { type?: unknown; name?: unknown; labels?: unknown; metrics?: unknown } | null;
        if (given === null || typeof given !== 'object' || Array.isArray(given))
          errors.push({ field: '', message: 'must be a Mesh resource ({type: Mesh, name})' });
        else {
          if (given.type !== 'Mesh') errors.push({ field: 'type', message: `must be 'Mesh', got ${JSON.stringify(given.type)}` });
          if (given.name !== mesh) errors.push({ field: 'name', message: `must match the name in the URL ('${mesh}')` });
          // Refused rather than dropped: a Mesh field the mini-CP does not keep would silently vanish.
          for (const key of Object.keys(given))
            if (!MESH_FIELDS.includes(key))
              errors.push({ field: key, message: 'unknown field, or a Mesh field kuma-mini-cp does not keep (it keeps labels and metrics)' });
          errors.push(...checkMeshMetrics(given.metrics));
        }
        const labels = isObject(given) ? checkLabels(given.labels, errors) : undefined;
        if (errors.length > 0) throw new HttpError(422, 'Resource is not valid', errors);
        const metrics = isObject(given) && isObject(given.metrics) ? (given.metrics as MeshMetrics) : undefined;
        const created = await store.addMesh(mesh!, ownLabels(labels, 'global') ?? {}, metrics);
        sendJson(res, created ? 201 : 200, {});
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/meshes/${SEGMENT}$`),
      handler: async (_req, res, [mesh]) => {
        requireGlobalResourcesWritable();
        requireMesh(mesh!);
        const attached = store.list(mesh).length;
        if (attached > 0)
          throw new HttpError(400, `mesh '${mesh}' still has ${attached} dataplane(s); delete them first`, [
            { field: 'mesh', message: `unable to delete mesh, there are still some dataplanes attached` },
          ]);
        await store.deleteMesh(mesh!);
        log.info('mesh deleted', { mesh });
        sendJson(res, 200, {});
      },
    },
    {
      method: 'GET',
      pattern: /^\/policies$/,
      handler: (_req, res) =>
        sendJson(res, 200, {
          policies: policyTypes().map((p) => ({ name: p.type, path: p.plural, readOnly: mode === 'zone' })),
        }),
    },
    {
      method: 'GET',
      pattern: /^\/zones$/,
      handler: (_req, res) => {
        const zones = (deps.zones?.() ?? []) as Array<{ name: string; zone: unknown; creationTime?: string; modificationTime?: string }>;
        sendJson(
          res,
          200,
          listBody(
            zones.map((z) => ({ type: 'Zone', name: z.name, creationTime: z.creationTime, modificationTime: z.modificationTime, ...(z.zone as object) })),
          ),
        );
      },
    },
    {
      method: 'GET',
      pattern: /^\/zones\/_overview$/,
      handler: (_req, res) => sendJson(res, 200, listBody(deps.zones?.() ?? [])),
    },
    {
      method: 'GET',
      pattern: /^\/dataplanes\/_overview$/,
      handler: (_req, res) => sendJson(res, 200, listBody(store.list().map(overview))),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/_overview$`),
      handler: (_req, res, [mesh]) => {
        requireMesh(mesh!);
        sendJson(res, 200, listBody(store.list(mesh).map(overview)));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}/_overview$`),
      handler: (_req, res, [mesh, name]) => sendJson(res, 200, overview(requireDataplane(mesh!, name!).dataplane)),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}/_config$`),
      // Kuma's global answers 405 here; the mini-CP's global asks the proxy's zone over KDS instead (README).
      handler: async (req, res, [mesh, name]) => {
        requireDataplane(mesh!, name!);
        requireAdmin(req, '_config');
        let config: unknown;
        try {
          config = await deps.proxyConfig?.(mesh!, name!);
        } catch (err) {
          throw new HttpError(503, `the Envoy configuration of '${name}' is not available: ${(err as Error).message}`);
        }
        sendJson(res, 200, config ?? { mesh, name, resources: {} });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes$`),
      handler: (_req, res, [mesh]) => {
        requireMesh(mesh!);
        const items = store.list(mesh);
        sendJson(res, 200, { total: items.length, items, next: null });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: (_req, res, [mesh, name]) => sendJson(res, 200, requireDataplane(mesh!, name!).dataplane),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}/xds$`),
      adminOnly: true,
      handler: (_req, res, [mesh, name]) => {
        requireDataplane(mesh!, name!);
        sendJson(res, 200, deps.xdsStatus(mesh!, name!) ?? { mesh, name, connected: false, streams: [], history: [] });
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: async (req, res, [mesh, name]) => {
        requireDataplanesWritable();
        requireMesh(mesh!);
        const body = await readJson(req);
        const checked = checkDataplane(body);
        if (!checked.ok) throw new HttpError(422, 'Resource is not valid', checked.errors);
        const mismatch: FieldError[] = [];
        if (checked.dataplane.mesh !== mesh) mismatch.push({ field: 'mesh', message: `must match the mesh in the URL ('${mesh}')` });
        if (checked.dataplane.name !== name) mismatch.push({ field: 'name', message: `must match the name in the URL ('${name}')` });
        if (mismatch.length > 0) throw new HttpError(400, 'Resource is not valid', mismatch);
        const labels = ownLabels(checked.dataplane.labels, 'zone');
        const { created } = await store.update((tx) => {
          if (!tx.hasMesh(mesh!)) throw new HttpError(404, `mesh '${mesh}' does not exist`);
          return tx.put(labels ? { ...checked.dataplane, labels } : checked.dataplane, 'api');
        });
        log.info(created ? 'dataplane created' : 'dataplane updated', { mesh, name });
        sendJson(res, created ? 201 : 200, {});
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: async (_req, res, [mesh, name]) => {
        requireDataplanesWritable();
        requireDataplane(mesh!, name!);
        if (!(await store.delete(mesh!, name!))) throw new HttpError(404, `dataplane '${name}' does not exist in mesh '${mesh}'`);
        log.info('dataplane deleted', { mesh, name });
        sendJson(res, 200, {});
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/${SEGMENT}$`),
      handler: (_req, res, [plural]) => {
        const policyType = requirePolicyType(plural!);
        sendJson(res, 200, listBody(store.listPolicies({ type: policyType.type }).map(policyJson)));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/${SEGMENT}$`),
      handler: (_req, res, [mesh, plural]) => {
        const policyType = requirePolicyType(plural!);
        requireMesh(mesh!);
        sendJson(res, 200, listBody(store.listPolicies({ type: policyType.type, mesh }).map(policyJson)));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/${SEGMENT}/${SEGMENT}$`),
      handler: (_req, res, [mesh, plural, name]) => {
        const policyType = requirePolicyType(plural!);
        requireMesh(mesh!);
        const policy = store.getPolicy(policyType.type, mesh!, name!);
        if (!policy) throw new HttpError(404, `${policyType.type} '${name}' does not exist in mesh '${mesh}'`);
        sendJson(res, 200, policyJson(policy));
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/meshes/${SEGMENT}/${SEGMENT}/${SEGMENT}$`),
      handler: async (req, res, [mesh, plural, name]) => {
        const policyType = requirePolicyType(plural!);
        requireGlobalResourcesWritable();
        requireMesh(mesh!);
        const body = await readJson(req);
        if (!isObject(body)) throw new HttpError(400, `request body must be a ${policyType.type} resource ({type, mesh, name, spec})`);
        const errors: FieldError[] = [];
        for (const key of Object.keys(body))
          if (!['type', 'mesh', 'name', 'labels', 'spec', 'creationTime', 'modificationTime'].includes(key))
            errors.push({ field: key, message: 'unknown field' });
        if (body.type !== policyType.type) errors.push({ field: 'type', message: `must be '${policyType.type}', got ${JSON.stringify(body.type)}` });
        if (body.mesh !== undefined && body.mesh !== mesh) errors.push({ field: 'mesh', message: `must match the mesh in the URL ('${mesh}')` });
        if (body.name !== name) errors.push({ field: 'name', message: `must match the name in the URL ('${name}')` });
        validateResourceName(name, 'name', errors);
        const labels = checkLabels(body.labels, errors);
        const specErrors = checkPolicySpec(body.spec);
        errors.push(...specErrors);
        if (specErrors.length === 0 && policyType.validate) errors.push(...policyType.validate(body.spec as Record<string, unknown>));
        if (errors.length > 0) throw new HttpError(400, 'Resource is not valid', errors);
        const finalLabels = ownLabels(labels, 'global');
        const { created } = await store.putPolicy({
          type: policyType.type,
          mesh: mesh!,
          name: name!,
          ...(finalLabels && Object.keys(finalLabels).length > 0 ? { labels: finalLabels } : {}),
          spec: body.spec as Record<string, unknown>,
        });
        log.info(created ? 'policy created' : 'policy updated', { type: policyType.type, mesh, name });
        sendJson(res, created ? 201 : 200, {});
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/meshes/${SEGMENT}/${SEGMENT}/${SEGMENT}$`),
      handler: async (_req, res, [mesh, plural, name]) => {
        const policyType = requirePolicyType(plural!);
        requireGlobalResourcesWritable();
        requireMesh(mesh!);
        if (!(await store.deletePolicy(policyType.type, mesh!, name!)))
          throw new HttpError(404, `${policyType.type} '${name}' does not exist in mesh '${mesh}'`);
        log.info('policy deleted', { type: policyType.type, mesh, name });
        sendJson(res, 200, {});
      },
    },
    {
      method: 'POST',
      pattern: /^\/tokens\/dataplane$/,
      handler: async (req, res) => {
        const body = await readJson(req);
        const errors: FieldError[] = [];
        if (!isObject(body)) throw new HttpError(400, 'request body must be an object {name, mesh, tags?, type?, validFor?}');
        const known = new Set(['name', 'mesh', 'tags', 'type', 'validFor']);
        for (const key of Object.keys(body)) if (!known.has(key)) errors.push({ field: key, message: 'unknown field' });
        const mesh = body.mesh ?? 'default';
        validateMeshName(mesh, 'mesh', errors);
        if (body.name !== undefined && body.name !== '') validateResourceName(body.name, 'name', errors);
        if (body.type !== undefined && body.type !== 'dataplane') errors.push({ field: 'type', message: "only 'dataplane' tokens are issued here" });
        const tags = body.tags;
        if (tags !== undefined && (!isObject(tags) || Object.values(tags).some((v) => !Array.isArray(v) || v.some((s) => typeof s !== 'string')))) {
          errors.push({ field: 'tags', message: 'must map tag names to lists of values, e.g. {"kuma.io/service": ["web"]}' });
        }
        let validFor: number | undefined;
        if (body.validFor !== undefined && typeof body.validFor !== 'string') {
          errors.push({ field: 'validFor', message: `must be a duration such as "24h", got ${JSON.stringify(body.validFor)}` });
        } else if (body.validFor !== undefined) {
          try {
            validFor = Math.ceil(parseDuration(body.validFor, 'validFor') / 1000);
          } catch (err) {
            errors.push({ field: 'validFor', message: (err as Error).message });
          }
        }
        if (errors.length > 0) throw new HttpError(422, 'Resource is not valid', errors);
        if (!store.hasMesh(mesh as string))
          throw new HttpError(422, 'Resource is not valid', [{ field: 'mesh', message: `mesh '${mesh as string}' does not exist` }]);
        const token = await tokens.issue(
          { name: (body.name as string | undefined) ?? '', mesh: mesh as string, tags: tags as Record<string, string[]> | undefined },
          validFor,
        );
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(token);
      },
    },
  ];

  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    const matching = routes.filter((r) => r.pattern.test(path));
    const route = matching.find((r) => r.method === req.method);
    const run = async (): Promise<void> => {
      // As with Kuma, callers on this host are admins; others may read, but not write, mint tokens or read a proxy's config.
      const needsAdmin = (req.method !== 'GET' && req.method !== 'HEAD') || route?.adminOnly === true;
      if (needsAdmin && !deps.adminFromAnywhere && !isAdmin(req, deps.adminToken)) {
        throw new HttpError(
          403,
          `${req.method} ${path} is only accepted from this host or with the admin token (caller ${req.socket.remoteAddress}); send 'Authorization: Bearer <token>' with the token from <work-dir>/${ADMIN_TOKEN_FILE}, or start kuma-mini-cp with --api-admin-from-anywhere`,
        );
      }
      if (!route) {
        if (matching.length > 0) throw new HttpError(405, `${req.method} is not allowed on ${path}; use ${matching.map((r) => r.method).join(', ')}`);
        throw new HttpError(404, `no such endpoint: ${path}`);
      }
      const params = route.pattern
        .exec(path)!
        .slice(1)
        .map((segment) => decodeSegment(segment));
      await route.handler(req, res, params);
    };
    run().catch((err: unknown) => {
      const known = asHttpError(err);
      if (known) return sendError(res, known);
      log.error('API request failed', { method: req.method, path, error: err as Error });
      sendError(res, new HttpError(500, `internal error: ${(err as Error).message}`));
    });
  };
}

/** A %-escaped path segment; a malformed escape is the caller's error. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the path segment '${segment}' has a malformed %-escape (use %XX with two hex digits, UTF-8 encoded)`);
  }
}

/** The HTTP answer to an error the caller caused (input) or the store reported (a refused change, a failed write). */
function asHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof StoreRejection) return new HttpError(422, 'Resource is not valid', err.errors);
  if (err instanceof StoreWriteError) return new HttpError(503, err.message);
  return undefined;
}
