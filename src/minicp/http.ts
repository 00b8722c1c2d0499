// Small HTTP plumbing shared by the mini-CP's servers: bounded body reads,
// JSON answers, and errors in Kuma's REST error shape.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { redactText } from '../util/redact.js';
import { DOCUMENT_LIMITS, DocumentError, readJsonDocument, type Plain } from '../util/document.js';
import type { FieldError } from '../util/errors.js';

const MAX_BODY_BYTES = DOCUMENT_LIMITS.maxBytes;

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

/**
 * Reads a request body of at most `maxBytes`. A larger one is a 413; the rest
 * of it is still read (and dropped), so the client gets the answer instead
 * of a reset connection, and it costs no memory (the server's request
 * timeout bounds how long).
 */
export async function readBody(source: AsyncIterable<unknown>, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += (chunk as Buffer).length;
    if (size <= maxBytes) chunks.push(chunk as Buffer);
  }
  if (size > maxBytes) throw new HttpError(413, `request body is larger than the limit of ${maxBytes} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a JSON body with the strict reader (document.ts); what it refuses is a 400 that names the path. */
export async function readJson(req: IncomingMessage): Promise<Plain> {
  const text = await readBody(req);
  try {
    return readJsonDocument(text);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    throw new HttpError(
      400,
      `request body ${err.path ? `at ${err.path}` : 'is'} ${err.path ? 'is refused: ' : ''}${err.reason}`,
      err.path ? [{ field: err.path, message: err.reason }] : [],
    );
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Kuma's error body: title/detail plus invalid_parameters (and the older causes) for field errors. */
export function sendError(res: ServerResponse, err: HttpError): void {
  const fieldErrors = err.fieldErrors.map((e) => ({ field: e.field, message: redactText(e.message) }));
  const title = redactText(err.title);
  sendJson(res, err.status, {
    type: '/std-errors',
    status: err.status,
    title,
    detail: err.detail !== undefined ? redactText(err.detail) : fieldErrors.length > 0 ? fieldErrors.map((e) => `${e.field}: ${e.message}`).join('; ') : title,
    ...(fieldErrors.length > 0
      ? {
          invalid_parameters: fieldErrors.map((e) => ({ field: e.field, reason: e.message })),
          causes: fieldErrors,
        }
      : {}),
  });
}
