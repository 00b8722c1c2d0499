// `kuma-dp wait`: polls a readiness URL (Envoy's admin /ready by default, or
// the agent's readiness port), or Envoy's admin /ready over its Unix socket
// (--unix-socket, Kuma >= 2.14's admin), until it answers 200, as Kuma's
// `kuma-dp wait` does, so that an application container can start after its proxy.
import { isLoopback } from '../util/loopback.js';
import type { Logger } from '../log/logger.js';
import { formatDuration } from '../util/duration.js';
import { UserError } from '../util/errors.js';
import { httpGet, type Endpoint, type GetResult } from './http-get.js';

export interface WaitOptions {
  url: string;
  /** Envoy's admin socket: GET http://localhost/ready over it, instead of `url`. */
  unixSocket?: string;
  timeoutMs: number;
  checkFrequencyMs: number;
  requestTimeoutMs: number;
  log: Logger;
}

export const DEFAULT_WAIT_URL = 'http://localhost:9901/ready';

/** The URL's host as a socket takes it: an IPv6 address without its brackets. */
const hostOf = (url: URL): string => url.hostname.replace(/^\[|\]$/g, '');

/** The URL, checked: plain HTTP to a loopback host. */
export function readinessUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`--url: '${text}' is not a URL; expected e.g. ${DEFAULT_WAIT_URL}`);
  }
  if (url.protocol !== 'http:') throw new UserError(`--url: '${text}' must be http:// (the admin and readiness ports are plain HTTP on loopback)`);
  const host = hostOf(url);
  if (host !== 'localhost' && !isLoopback(host))
    throw new UserError(`--url: '${text}' is not a loopback address; kuma-dp wait checks the proxy on this host (localhost, 127.0.0.1 or [::1])`);
  return url;
}

/**
 * The endpoints for the URL, tried in turn while they refuse: its address, or
 * for `localhost` the loopback addresses (RFC 6761, 6.3), 127.0.0.1 first as
 * Envoy's admin listens by default. Naming them keeps Node's resolver out: for
 * a host name Node loads its DNS module, ~6 ms of a check that a container's
 * HEALTHCHECK runs every 10 s (readinessUrl lets no other name through).
 */
function endpoints(url: URL, unixSocket: string | undefined): Endpoint[] {
  if (unixSocket) return [{ path: unixSocket }];
  const port = Number(url.port || 80);
  const host = hostOf(url);
  return host === 'localhost'
    ? [
        { host: '127.0.0.1', port },
        { host: '::1', port },
      ]
    : [{ host, port }];
}

/** Errors that say nothing listens at that address: the next loopback address may. */
const NOT_THERE = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'ENETUNREACH', 'EAFNOSUPPORT']);

async function check(url: URL, unixSocket: string | undefined, timeoutMs: number): Promise<GetResult> {
  const list = endpoints(url, unixSocket);
  for (let i = 0; ; i++) {
    try {
      return await httpGet(list[i]!, url.host, `${url.pathname}${url.search}`, timeoutMs);
    } catch (err) {
      if (i === list.length - 1 || !NOT_THERE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
}

/** Resolves once the URL answers 200; throws a UserError at the timeout. */
export async function waitUntilReady(opts: WaitOptions): Promise<void> {
  const url = opts.unixSocket ? new URL('http://localhost/ready') : readinessUrl(opts.url);
  const where = opts.unixSocket ? `${opts.unixSocket} (GET /ready)` : url.href;
  const deadline = Date.now() + opts.timeoutMs;
  opts.log.info('waiting for the data plane proxy to be ready', { url: where, timeout: formatDuration(opts.timeoutMs) });
  let last = 'no answer yet';
  for (;;) {
    try {
      const { status, body } = await check(url, opts.unixSocket, opts.requestTimeoutMs);
      if (status === 200) {
        opts.log.info('the data plane proxy is ready', { url: where });
        return;
      }
      last = `${status}${body ? ` ${body}` : ''}`;
    } catch (err) {
      last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    opts.log.info('the data plane proxy is not ready', { url: where, last });
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new UserError(
        `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${where} to answer 200 (last: ${last}); raise --timeout, or check that the proxy is running and gets its config from the control plane`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(opts.checkFrequencyMs, left)));
  }
}
