// The GUI at /gui on the API ports (5681, 5682): static files shipped with the
// package (no CDN: it works without network access) that read the same API as
// everyone else, and /gui/events, a server-sent-events stream that only says
// "something changed" (it carries no data, so it needs no access rule of its own).
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { CpMode } from '../mode.js';

const ASSETS = fileURLToPath(new URL('../../../../src/minicp/gui/assets/', import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  '/gui/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/gui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/gui/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};
/** Enough for a few people with a few tabs each; more get 503 and the page falls back to polling. */
const MAX_EVENT_CLIENTS = 64;
const HEARTBEAT_MS = 15_000;
const COALESCE_MS = 100;

export interface GuiOptions {
  mode: CpMode;
  zoneName?: string;
  /** Subscribes to any change the page shows (store, proxies connecting, zones); returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

export interface Gui {
  /** Serves the request when it is the GUI's; false leaves it to the API. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function createGuiHandler(options: GuiOptions): Gui {
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer => {
    let body = cache.get(file);
    if (!body) {
      let text = readFileSync(ASSETS + file, 'utf8');
      if (file === 'index.html') {
        const config = JSON.stringify({ mode: options.mode, zone: options.zoneName ?? null }).replace(/</g, '\\u003c');
        text = text.replace('<!--kuma-config-->', `<script id="kuma-config" type="application/json">${config}</script>`);
      }
      cache.set(file, (body = Buffer.from(text)));
    }
    return body;
  };

  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  let sequence = 0;
  const broadcast = (): void => {
    timer = undefined;
    sequence++;
    for (const res of clients) res.write(`event: change\ndata: ${sequence}\n\n`);
  };
  const unsubscribe = options.onChange(() => {
    timer ??= setTimeout(broadcast, COALESCE_MS);
  });
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  heartbeat.unref();

  const events = (req: IncomingMessage, res: ServerResponse): void => {
    if (clients.size >= MAX_EVENT_CLIENTS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end('too many GUI event streams; the page polls instead\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 1000\nevent: change\ndata: ${sequence}\n\n`);
    clients.add(res);
    req.socket.setTimeout(0);
    const drop = (): void => void clients.delete(res);
    req.on('close', drop);
    res.on('error', drop);
  };

  return {
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0]!;
      if (path !== '/gui' && !path.startsWith('/gui/')) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('the GUI is read-only: use GET\n');
        return true;
      }
      if (path === '/gui') {
        res.writeHead(301, { location: '/gui/' }).end();
        return true;
      }
      if (path === '/gui/events') {
        events(req, res);
        return true;
      }
      // Any other path under /gui/ is the page itself (the app keeps its view in the URL's hash).
      const asset = FILES[path] ?? FILES['/gui/']!;
      const body = read(asset.file);
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'",
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },
    close() {
      unsubscribe();
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
