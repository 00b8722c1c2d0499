// The Kuma-shaped HTTP API (5681, and 5682 over TLS): meshes, dataplanes,
// their xDS state, and dataplane tokens.
import { hostname } from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { validateMeshName, validateResourceName } from '../dataplane/validate.js';
import { createLogger } from '../log/logger.js';
import { parseDuration } from '../util/duration.js';
import type { FieldError } from '../util/errors.js';
import { HttpError, readJson, sendError, sendJson } from './http.js';
import { checkDataplane } from './resource.js';
import type { Store } from './store.js';
import type { DataplaneTokens } from './tokens.js';

const log = createLogger('minicp.api');
export const MINI_CP_VERSION = '0.1.0';

export interface ApiDeps {
  store: Store;
  tokens: DataplaneTokens;
  instanceId: string;
  /** What the xDS server last sent, ACKed and NACKed for one proxy, or undefined when it never connected. */
  xdsStatus(mesh: string, name: string): unknown;
  /** Accept writes and token requests from any host, not only from this one. */
  adminFromAnywhere: boolean;
}

const isLoopback = (address: string | undefined): boolean =>
  !!address && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const SEGMENT = '([^/]+)';

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { store, tokens } = deps;

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
      handler: async (_req, res) =>
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
      handler: async (_req, res) => {
        const items = store.meshes().map((name) => ({ type: 'Mesh', name }));
        sendJson(res, 200, { total: items.length, items, next: null });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}$`),
      handler: async (_req, res, [mesh]) => {
        requireMesh(mesh!);
        sendJson(res, 200, { type: 'Mesh', name: mesh });
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/meshes/${SEGMENT}$`),
      handler: async (req, res, [mesh]) => {
        const body = await readJson(req);
        const errors: FieldError[] = [];
        validateMeshName(mesh, 'name', errors);
        const given = body as { type?: unknown; name?: unknown } | null;
        if (given === null || typeof given !== 'object' || Array.isArray(given))
          errors.push({ field: '', message: 'must be a Mesh resource ({type: Mesh, name})' });
        else {
          if (given.type !== 'Mesh') errors.push({ field: 'type', message: `must be 'Mesh', got ${JSON.stringify(given.type)}` });
          if (given.name !== mesh) errors.push({ field: 'name', message: `must match the name in the URL ('${mesh}')` });
        }
        if (errors.length > 0) throw new HttpError(422, 'Resource is not valid', errors);
        const created = await store.addMesh(mesh!);
        sendJson(res, created ? 201 : 200, {});
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes$`),
      handler: async (_req, res, [mesh]) => {
        requireMesh(mesh!);
        const items = store.list(mesh);
        sendJson(res, 200, { total: items.length, items, next: null });
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: async (_req, res, [mesh, name]) => sendJson(res, 200, requireDataplane(mesh!, name!).dataplane),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}/xds$`),
      handler: async (_req, res, [mesh, name]) => {
        requireDataplane(mesh!, name!);
        sendJson(res, 200, deps.xdsStatus(mesh!, name!) ?? { mesh, name, connected: false, streams: [], history: [] });
      },
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: async (req, res, [mesh, name]) => {
        requireMesh(mesh!);
        const body = await readJson(req);
        const checked = checkDataplane(body);
        if (!checked.ok) throw new HttpError(422, 'Resource is not valid', checked.errors);
        const mismatch: FieldError[] = [];
        if (checked.dataplane.mesh !== mesh) mismatch.push({ field: 'mesh', message: `must match the mesh in the URL ('${mesh}')` });
        if (checked.dataplane.name !== name) mismatch.push({ field: 'name', message: `must match the name in the URL ('${name}')` });
        if (mismatch.length > 0) throw new HttpError(400, 'Resource is not valid', mismatch);
        const { created } = await store.put(checked.dataplane, 'api');
        log.info(created ? 'dataplane created' : 'dataplane updated', { mesh, name });
        sendJson(res, created ? 201 : 200, {});
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/meshes/${SEGMENT}/dataplanes/${SEGMENT}$`),
      handler: async (_req, res, [mesh, name]) => {
        requireDataplane(mesh!, name!);
        await store.delete(mesh!, name!);
        log.info('dataplane deleted', { mesh, name });
        sendJson(res, 200, {});
      },
    },
    {
      method: 'POST',
      pattern: /^\/tokens\/dataplane$/,
      handler: async (req, res) => {
        const body = (await readJson(req)) as Record<string, unknown> | null;
        const errors: FieldError[] = [];
        if (body === null || typeof body !== 'object' || Array.isArray(body))
          throw new HttpError(400, 'request body must be an object {name, mesh, tags?, type?, validFor?}');
        const known = new Set(['name', 'mesh', 'tags', 'type', 'validFor']);
        for (const key of Object.keys(body)) if (!known.has(key)) errors.push({ field: key, message: 'unknown field' });
        const mesh = body.mesh ?? 'default';
        validateMeshName(mesh, 'mesh', errors);
        if (body.name !== undefined && body.name !== '') validateResourceName(body.name, 'name', errors);
        if (body.type !== undefined && body.type !== 'dataplane') errors.push({ field: 'type', message: "only 'dataplane' tokens are issued here" });
        const tags = body.tags as Record<string, unknown> | undefined;
        if (
          tags !== undefined &&
          (tags === null || typeof tags !== 'object' || Object.values(tags).some((v) => !Array.isArray(v) || v.some((s) => typeof s !== 'string')))
        ) {
          errors.push({ field: 'tags', message: 'must map tag names to lists of values, e.g. {"kuma.io/service": ["web"]}' });
        }
        let validFor: number | undefined;
        if (body.validFor !== undefined) {
          try {
            validFor = Math.ceil(parseDuration(String(body.validFor), 'validFor') / 1000);
          } catch (err) {
            errors.push({ field: 'validFor', message: (err as Error).message });
          }
        }
        if (errors.length > 0) throw new HttpError(422, 'Resource is not valid', errors);
        if (!store.hasMesh(mesh as string))
          throw new HttpError(422, 'Resource is not valid', [{ field: 'mesh', message: `mesh '${String(mesh)}' does not exist` }]);
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
      // As with Kuma, callers on this host are admins; others may read, but not write or mint tokens.
      if (req.method !== 'GET' && req.method !== 'HEAD' && !deps.adminFromAnywhere && !isLoopback(req.socket.remoteAddress)) {
        throw new HttpError(
          403,
          `${req.method} ${path} is only accepted from this host (caller ${req.socket.remoteAddress}); start kuma-mini-cp with --api-admin-from-anywhere to accept it from others`,
        );
      }
      if (!route) {
        if (matching.length > 0) throw new HttpError(405, `${req.method} is not allowed on ${path}; use ${matching.map((r) => r.method).join(', ')}`);
        throw new HttpError(404, `no such endpoint: ${path}`);
      }
      const params = route.pattern
        .exec(path)!
        .slice(1)
        .map((p) => decodeURIComponent(p));
      await route.handler(req, res, params);
    };
    run().catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err);
      log.error('API request failed', { method: req.method, path, error: err as Error });
      sendError(res, new HttpError(500, `internal error: ${(err as Error).message}`));
    });
  };
}
