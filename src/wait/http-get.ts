// One HTTP/1.1 GET over a TCP or Unix socket, for `kuma-dp wait`'s checks.
// wait needs only a response's status and the start of its body (for the
// log), and runs as a container's HEALTHCHECK every 10 s: node:http, loaded
// on top of the node:net a socket needs anyway, cost ~5 ms of a ~40 ms start
// (npm run bench:startup). The request asks the server to close the
// connection after answering; the response is read until its body is
// complete or BODY_KEPT bytes of it are in.
import { connect } from 'node:net';
import { formatDuration } from '../util/duration.js';

/** Where a check connects: a Unix socket (Envoy's admin socket), or one IP address and port. */
export type Endpoint = { path: string } | { host: string; port: number };

export interface GetResult {
  status: number;
  /** The start of the body (BODY_KEPT bytes at most) as UTF-8, trimmed. */
  body: string;
}

const HEAD_LIMIT = 16 * 1024;
/** More than any response needs to show its status and BODY_KEPT bytes of body: reading stops there. */
const READ_LIMIT = 64 * 1024;
export const BODY_KEPT = 200;

/**
 * What the bytes of a response read so far say: undefined while more are
 * needed, else the final response's status and the start of its body.
 * `ended`: the server closed the connection after these bytes.
 */
export function readResponse(bytes: Buffer, ended: boolean): GetResult | undefined {
  const result = readSoFar(bytes, ended);
  if (result === undefined && bytes.length > READ_LIMIT) {
    throw new Error(`no final status and ${BODY_KEPT} bytes of body in the first ${READ_LIMIT / 1024} KiB of the response`);
  }
  return result;
}

function readSoFar(bytes: Buffer, ended: boolean): GetResult | undefined {
  let at = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) {
      if (bytes.length - at > HEAD_LIMIT) throw new Error(`the response's header is over ${HEAD_LIMIT / 1024} KiB`);
      if (ended) throw new Error(at === bytes.length ? 'the connection closed without a response' : 'the connection closed in the response header');
      return undefined;
    }
    const [statusLine = '', ...fields] = bytes.toString('latin1', at, headEnd).split('\r\n');
    const match = /^HTTP\/1\.[01] ([1-5]\d\d)(?: |$)/.exec(statusLine);
    if (!match) throw new Error(`not an HTTP/1.x response: '${statusLine.slice(0, 40)}'`);
    const status = Number(match[1]);
    at = headEnd + 4;
    if (status < 200) continue; // an interim response (103 Early Hints): the final one follows
    const header = (name: string): string | undefined => {
      const line = fields.find((f) => f.includes(':') && f.slice(0, f.indexOf(':')).trim().toLowerCase() === name);
      return line?.slice(line.indexOf(':') + 1).trim();
    };
    if (status === 204 || status === 304) return { status, body: '' };
    const body = /\bchunked\b/i.test(header('transfer-encoding') ?? '')
      ? readChunked(bytes, at, ended)
      : readPlain(bytes.subarray(at), header('content-length'), ended);
    return body && { status, body: body.toString('utf8').trim() };
  }
}

/** A body framed by Content-Length, or by the end of the connection without one. */
function readPlain(rest: Buffer, contentLength: string | undefined, ended: boolean): Buffer | undefined {
  if (contentLength !== undefined && !/^\d+$/.test(contentLength)) throw new Error(`bad Content-Length '${contentLength.slice(0, 20)}'`);
  const length = contentLength === undefined ? Infinity : Number(contentLength);
  const wanted = Math.min(length, BODY_KEPT);
  if (rest.length >= wanted) return rest.subarray(0, wanted);
  if (!ended) return undefined;
  if (length === Infinity) return rest;
  throw new Error('the connection closed in the middle of the body');
}

/** A chunked body (RFC 9112, 7.1): its chunks' data, BODY_KEPT bytes at most. */
function readChunked(bytes: Buffer, from: number, ended: boolean): Buffer | undefined {
  const data: Buffer[] = [];
  let kept = 0;
  let at = from;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) break;
    const size = bytes.toString('latin1', at, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(size)) throw new Error(`bad chunk size '${size.slice(0, 20)}'`);
    const length = parseInt(size, 16);
    if (length === 0) return Buffer.concat(data);
    const chunk = bytes.subarray(lineEnd + 2, Math.min(lineEnd + 2 + length, bytes.length));
    data.push(chunk.subarray(0, BODY_KEPT - kept));
    kept += chunk.length;
    if (kept >= BODY_KEPT) return Buffer.concat(data);
    if (chunk.length < length) break;
    at = lineEnd + 2 + length + 2;
  }
  if (ended) throw new Error('the connection closed in the middle of the body');
  return undefined;
}

/**
 * GET `path` from the endpoint with the Host header `host`: resolves with the
 * response; rejects with the socket's error (its code kept: ECONNREFUSED says
 * nothing listens there), with an Error saying what in the response could not
 * be read, or when no complete answer came within timeoutMs (a deadline for
 * the whole request, as Go's http.Client Timeout in Kuma's wait).
 */
export function httpGet(to: Endpoint, host: string, path: string, timeoutMs: number): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(to);
    let bytes = Buffer.alloc(0);
    const settle = (err: Error | undefined, result?: GetResult): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    const read = (ended: boolean): void => {
      let result: GetResult | undefined;
      try {
        result = readResponse(bytes, ended);
      } catch (err) {
        settle(err as Error);
        return;
      }
      if (result) settle(undefined, result);
    };
    const timer = setTimeout(() => settle(new Error(`no answer within ${formatDuration(timeoutMs)}`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      read(false);
    });
    socket.on('end', () => read(true));
    socket.on('error', settle);
    // Not half-closed after the request: Envoy, by default, takes a client's FIN for the end of the connection.
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: kuma-dp\r\nConnection: close\r\n\r\n`);
  });
}
