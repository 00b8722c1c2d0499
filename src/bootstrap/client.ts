// Fetches Envoy's bootstrap from the control plane: `POST <cp>/bootstrap`,
// retried as Kuma's kuma-dp does (remote_bootstrap.go), with errors that say
// what to change.
//
// node:http/node:https rather than undici: one small POST per attempt needs
// nothing undici adds, and on Node 24 with the compile cache a program doing
// that POST starts ~10 ms after `node -e 0` with node:http against ~50 ms with
// undici 8's Client bundled (its index brings fetch, WebSocket, caches...).
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Logger } from '../log/logger.js';
import { UserError } from '../util/errors.js';
import { formatDuration } from '../util/duration.js';
import { serializeBootstrapRequest, type BootstrapRequest } from './request.js';
import { BadBootstrapResponse, decodeBootstrapResponse, type BootstrapResult } from './response.js';
import { abortError, retryWithConstantBackoff, RetriesExhaustedError } from './retry.js';

export interface FetchBootstrapOptions {
  /** e.g. https://localhost:5678 (the DP server port). */
  cpAddress: string;
  /** PEM; when given it is the only CA trusted for the control plane. */
  caCertPem?: string;
  skipVerify: boolean;
  retryBackoffMs?: number;
  retryMaxDurationMs?: number;
  requestTimeoutMs?: number;
  /** Aborting it (SIGTERM/SIGINT) ends the wait and any request in flight: rejects with an AbortError. */
  signal: AbortSignal;
  log: Logger;
  /** Called as each request is made, with its number (the agent counts them for its metrics). */
  onAttempt?: (attempt: number) => void;
}

export const DEFAULT_RETRY_BACKOFF_MS = 3_000;
export const DEFAULT_RETRY_MAX_DURATION_MS = 300_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

const CA_FLAGS = '--ca-cert-file / KUMA_CONTROL_PLANE_CA_CERT_FILE';
const MAX_BODY_IN_MESSAGE = 4_000;

// Certificate verification failures that mean "signed by an unknown authority".
const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

let https: Promise<typeof import('node:https')> | undefined;

// node:https brings node:tls and node:crypto: loaded only for an https:// control plane.
/** For an https:// control plane, starts loading the TLS client now (e.g. while Envoy's version is read), so the first request does not wait for it. */
export function preloadHttpClient(cpAddress: string): void {
  if (cpAddress.startsWith('https:')) loadHttps().catch(() => undefined); // a failure surfaces at the request
}

function loadHttps(): Promise<typeof import('node:https')> {
  https ??= import('node:https');
  return https;
}

interface Answer {
  status: number;
  contentType: string | undefined;
  text: string;
}

/** One POST on its own connection (closed after the answer: the next attempt is seconds away). */
async function post(url: URL, body: string, options: FetchBootstrapOptions, signal: AbortSignal): Promise<Answer> {
  const target = new URL(`/bootstrap${url.search}`, url.origin);
  const common: RequestOptions = {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    agent: false,
    signal,
  };
  const tls = url.protocol === 'https:' ? await loadHttps() : undefined;
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
        else req.destroy(new UserError(`the control plane at ${url.origin} answered /bootstrap with more than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`));
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    };
    const req = tls
      ? tls.request(
          target,
          { ...common, minVersion: 'TLSv1.2', rejectUnauthorized: !options.skipVerify, ...(options.caCertPem ? { ca: options.caCertPem } : {}) },
          onResponse,
        )
      : httpRequest(target, common, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

/** A failed attempt that another attempt may fix; `hint` selects Kuma's advice. */
class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly hint?: 'dataplane-not-found' | 'wrong-port',
  ) {
    super(message);
    this.name = 'RetryableFailure';
  }
}

function parseCpAddress(cpAddress: string): URL {
  let url: URL;
  try {
    url = new URL(cpAddress);
  } catch {
    throw new UserError(`--cp-address: '${cpAddress}' is not a URL; use e.g. https://kuma-control-plane:5678`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UserError(`--cp-address: unsupported scheme '${url.protocol.slice(0, -1)}' in '${cpAddress}'; use http:// or https://`);
  }
  return url;
}

function checkOptions(options: FetchBootstrapOptions): void {
  if (options.caCertPem !== undefined && !/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(options.caCertPem)) {
    throw new UserError(`the control plane CA (${CA_FLAGS} / KUMA_CONTROL_PLANE_CA_CERT) holds no PEM certificate`);
  }
  const positive: Array<[number | undefined, string]> = [
    [options.retryBackoffMs, 'KUMA_CONTROL_PLANE_RETRY_BACKOFF'],
    [options.retryMaxDurationMs, 'KUMA_CONTROL_PLANE_RETRY_MAX_DURATION'],
    [options.requestTimeoutMs, 'the request timeout'],
  ];
  for (const [value, name] of positive) {
    if (value !== undefined && !(value > 0)) throw new UserError(`${name} must be a positive duration`);
  }
}

function codeOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns a transport failure into a RetryableFailure, or a UserError for a
 * certificate the agent will not trust: unlike Kuma, which retries those for
 * the whole budget, we stop at once since waiting cannot fix them.
 */
function transportFailure(err: unknown, url: URL, options: FetchBootstrapOptions): Error {
  const code = codeOf(err) ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const skip = 'or --skip-verify (for testing only)';
  if (UNKNOWN_CA.has(code)) {
    const cause = options.caCertPem
      ? `is not signed by the CA given in ${CA_FLAGS} / KUMA_CONTROL_PLANE_CA_CERT (${code}); pass the CA that signed it`
      : `is signed by an unknown authority (${code}); pass the CA that signed it with ${CA_FLAGS}`;
    return new UserError(`the control plane's certificate at ${url.origin} ${cause}, ${skip}`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (err as { cert?: { subjectaltname?: string } }).cert?.subjectaltname;
    const has = names ? `it names ${names}` : 'it has no subject alternative names';
    return new UserError(
      `the control plane's certificate at ${url.origin} is not valid for '${url.hostname}' (${code}: ${has})` +
        `; use an address the certificate names in --cp-address, ${skip}`,
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new UserError(
      `the control plane's certificate at ${url.origin} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${code}); check it and this host's clock, ${skip}`,
    );
  }
  // OpenSSL's failures come as ERR_SSL_* with a reason, or, when they surface while the request is written, as EPROTO with the reason in the message.
  const openSslReason = /SSL routines:[^:]*:([^:]+):/.exec(message)?.[1];
  if (code.startsWith('ERR_SSL_') || (code === 'EPROTO' && openSslReason)) {
    const reason = (err as { reason?: string }).reason ?? openSslReason ?? code;
    const plainHttp =
      code === 'ERR_SSL_WRONG_VERSION_NUMBER' || reason === 'wrong version number'
        ? '; if the control plane serves plain HTTP there, use http:// in --cp-address'
        : '';
    return new RetryableFailure(`TLS handshake with ${url.origin} failed (${reason})${plainHttp}`);
  }
  return new RetryableFailure(`request to ${url.origin} failed: ${code && !message.includes(code) ? `${code} ` : ''}${message}`);
}

function truncate(text: string): string {
  return text.length > MAX_BODY_IN_MESSAGE ? `${text.slice(0, MAX_BODY_IN_MESSAGE)}… (${text.length} characters)` : text;
}

function statusFailure(status: number, body: string, request: BootstrapRequest): Error {
  if (status === 404 && body.length === 0) {
    return new RetryableFailure(`the control plane has no Dataplane '${request.name}' in mesh '${request.mesh}' yet (404)`, 'dataplane-not-found');
  }
  if (status === 404) {
    return new RetryableFailure(
      `404 for /bootstrap (${JSON.stringify(truncate(body.trim()))}): --cp-address is probably the control plane's HTTP API port (5681 by default), not its DP server port (5678 by default)`,
      'wrong-port',
    );
  }
  if (status >= 400 && status < 500) {
    return new UserError(`the control plane rejected the bootstrap request (HTTP ${status}): ${truncate(body.trim()) || '(empty body)'}`);
  }
  return new RetryableFailure(`unexpected status code ${status} from the control plane${body.trim() ? `: ${truncate(body.trim())}` : ''}`);
}

function describeElapsed(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatDuration(Math.round(ms / 1000) * 1000);
}

export async function fetchBootstrap(request: BootstrapRequest, options: FetchBootstrapOptions): Promise<BootstrapResult> {
  const url = parseCpAddress(options.cpAddress);
  checkOptions(options);
  const backoffMs = options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
  const maxDurationMs = options.retryMaxDurationMs ?? DEFAULT_RETRY_MAX_DURATION_MS;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const log = options.log;
  if (options.signal.aborted) throw abortError();

  if (url.protocol === 'https:' && options.skipVerify) {
    log.warn('--skip-verify is set: the control plane certificate will not be verified');
  }
  const body = serializeBootstrapRequest(request);

  const attempt = async (n: number): Promise<BootstrapResult> => {
    options.onAttempt?.(n);
    const timeout = AbortSignal.timeout(timeoutMs);
    let answer: Answer;
    try {
      answer = await post(url, body, options, AbortSignal.any([options.signal, timeout]));
    } catch (err) {
      if (options.signal.aborted) throw abortError();
      if (timeout.aborted) throw new RetryableFailure(`no answer from ${url.origin} within ${formatDuration(timeoutMs)}`);
      if (err instanceof UserError) throw err;
      throw transportFailure(err, url, options);
    }
    const { status, contentType, text } = answer;
    // A CP that echoes the request must not get the token into our messages.
    if (status !== 200) throw statusFailure(status, request.dataplaneToken ? text.replaceAll(request.dataplaneToken, '[redacted]') : text, request);
    try {
      return decodeBootstrapResponse(contentType, text);
    } catch (err) {
      if (err instanceof BadBootstrapResponse) {
        throw new UserError(`the control plane at ${url.origin} answered /bootstrap with something other than a bootstrap: ${err.message}`);
      }
      throw err;
    }
  };

  log.info('fetching the bootstrap configuration from the control plane', { cpAddress: url.origin, features: request.features });
  try {
    return await retryWithConstantBackoff(attempt, {
      backoffMs,
      maxDurationMs,
      signal: options.signal,
      retryable: (err) => err instanceof RetryableFailure,
      onRetry: (err, attemptNo, waitMs) => {
        const failure = err as RetryableFailure;
        const fields = { attempt: attemptNo, backoff: formatDuration(waitMs) };
        if (failure.hint === 'dataplane-not-found') {
          log.info(
            'the Dataplane is not in the control plane yet: on Universal create it first or pass it with --dataplane-file; ' +
              'on Kubernetes the control plane may still be creating it from the Pod (check Pod events and control plane logs if this lasts). Retrying',
            fields,
          );
        } else if (failure.hint === 'wrong-port') {
          log.warn(`${failure.message}. Retrying`, fields);
        } else {
          log.info('could not fetch the bootstrap configuration; retrying', { ...fields, error: failure.message });
        }
      },
    });
  } catch (err) {
    if (err instanceof RetriesExhaustedError) {
      const last = err.lastError instanceof Error ? err.lastError.message : String(err.lastError);
      throw new UserError(
        `could not fetch the bootstrap configuration from ${url.origin}: tried for ${describeElapsed(err.elapsedMs)} (${err.attempts} attempts, ` +
          `KUMA_CONTROL_PLANE_RETRY_MAX_DURATION is ${formatDuration(maxDurationMs)}); last error: ${last}`,
      );
    }
    throw err;
  }
}
