// Small HTTP plumbing shared by the mini-CP's servers: bounded body reads,
// JSON answers, and errors in Kuma's REST error shape.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FieldError } from '../util/errors.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly fieldErrors: FieldError[] = [],
    /** Kuma's `detail` when it differs from the title (e.g. 405 "Method not allowed" with the reason). */
    readonly detail?: string,
  ) {
    super(detail ?? title);
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON body; unparseable JSON is a 400 that says where it broke. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Kuma's error body: title/detail plus invalid_parameters (and the older causes) for field errors. */
export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, {
    type: '/std-errors',
    status: err.status,
    title: err.title,
    detail: err.detail ?? (err.fieldErrors.length > 0 ? err.fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; ') : err.title),
    ...(err.fieldErrors.length > 0
      ? {
          invalid_parameters: err.fieldErrors.map((e) => ({ field: e.field, reason: e.message })),
          causes: err.fieldErrors.map((e) => ({ field: e.field, message: e.message })),
        }
      : {}),
  });
}
