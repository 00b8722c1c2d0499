import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigFetcher, unixSocketGet, type Clock, type DynconfGet, type DynconfResponse } from '../../src/dynconf/fetcher.js';
import { OwnSeries } from '../../src/exposition/own-series.js';
import { recordingLogger } from '../helpers/log.js';

/** A clock whose sleeps end only when the test advances it. */
function fakeClock(): Clock & { advance(ms: number): Promise<void>; sleeping(): number } {
  let now = 0;
  const sleepers: Array<{ until: number; resolve: () => void }> = [];
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const entry = { until: now + ms, resolve };
        sleepers.push(entry);
        signal.addEventListener('abort', () => resolve(), { once: true });
      }),
    async advance(ms) {
      now += ms;
      for (const s of sleepers.splice(0)) {
        if (s.until <= now) s.resolve();
        else sleepers.push(s);
      }
      for (let i = 0; i < 20; i++) await Promise.resolve();
    },
    sleeping: () => sleepers.length,
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

function scripted(responses: Array<DynconfResponse | Error>): { get: DynconfGet; requests: Array<{ path: string; etag?: string }> } {
  const requests: Array<{ path: string; etag?: string }> = [];
  return {
    requests,
    get: (path, etag) => {
      requests.push(etag ? { path, etag } : { path });
      const next = responses.shift() ?? { status: 304, body: '' };
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
  };
}

t.test("ETag protocol: 200 applies and stores the ETag, 304 keeps it, a consumer's error clears it", async (t) => {
  const clock = fakeClock();
  const applied: Array<string | undefined> = [];
  const { get, requests } = scripted([
    { status: 200, etag: 'abc', body: 'one' },
    { status: 304, body: '' },
    { status: 200, etag: 'def', body: 'bad' },
    { status: 200, etag: 'def', body: 'two' },
  ]);
  const series = new OwnSeries();
  const fetcher = new ConfigFetcher({
    get,
    consumers: [
      {
        path: '/dns',
        apply: (body) => {
          if (body === 'bad') throw new Error('rejected');
          applied.push(body);
        },
      },
    ],
    intervalMs: 1000,
    series,
    log: recordingLogger(),
    clock,
  });
  await fetcher.start();
  await settle();
  t.same(requests, [{ path: '/dns' }], 'one immediate step');
  await clock.advance(999);
  t.equal(requests.length, 1, 'nothing before the interval');
  await clock.advance(1);
  t.same(requests[1], { path: '/dns', etag: 'abc' });
  await clock.advance(1000);
  t.same(requests[2], { path: '/dns', etag: 'abc' }, '304 kept the ETag');
  await clock.advance(1000);
  t.same(requests[3], { path: '/dns' }, 'a rejected body is fetched again without ETag');
  t.same(applied, ['one', 'two']);
  const calls = series.families().find((f) => f.name === 'kuma_dp_envoyconfigfetcher_handler_call_count');
  t.equal(calls?.samples[0]?.value, '4');
  t.equal(series.families().find((f) => f.name === 'kuma_dp_envoyconfigfetcher_handler_error_count')?.samples[0]?.value, '1');
  await fetcher.stop();
});

t.test('a 404 after a config removes it (Kuma keeps it); before any config it is nothing', async (t) => {
  const clock = fakeClock();
  const applied: Array<string | undefined> = [];
  const { get } = scripted([
    { status: 404, body: '' },
    { status: 200, etag: 'x', body: 'map' },
    { status: 404, body: '' },
    { status: 404, body: '' },
  ]);
  const fetcher = new ConfigFetcher({
    get,
    consumers: [{ path: '/dns', apply: (b) => void applied.push(b) }],
    intervalMs: 1000,
    series: new OwnSeries(),
    log: recordingLogger(),
    clock,
  });
  await fetcher.start();
  for (let i = 0; i < 3; i++) await clock.advance(1000);
  t.same(applied, ['map', undefined]);
  await fetcher.stop();
});

t.test('steps never overlap: a slow fetch delays the next step, it does not stack', async (t) => {
  const clock = fakeClock();
  let inFlight = 0;
  let maxInFlight = 0;
  const releases: Array<() => void> = [];
  const get: DynconfGet = () => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise((resolve) =>
      releases.push(() => {
        inFlight--;
        resolve({ status: 304, body: '' });
      }),
    );
  };
  const fetcher = new ConfigFetcher({
    get,
    consumers: [
      { path: '/a', apply: () => undefined },
      { path: '/b', apply: () => undefined },
    ],
    intervalMs: 1000,
    series: new OwnSeries(),
    log: recordingLogger(),
    clock,
  });
  await fetcher.start();
  await clock.advance(5000);
  t.equal(releases.length, 1, 'one request while the first hangs');
  releases.shift()!();
  await settle();
  t.equal(releases.length, 1, 'then the next path, in turn');
  releases.shift()!();
  await settle();
  t.equal(clock.sleeping(), 1);
  await clock.advance(0);
  t.equal(releases.length, 1, 'the overrun step is followed at once by the next, not by a burst');
  t.equal(maxInFlight, 1);
  const stopping = fetcher.stop();
  releases.splice(0).forEach((release) => release());
  await stopping;
});

t.test('failures are logged once per change of state, not once per poll', async (t) => {
  const clock = fakeClock();
  const enoent = Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' });
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  const log = recordingLogger();
  const { get } = scripted([
    enoent,
    enoent,
    refused,
    { status: 500, body: '' },
    { status: 500, body: '' },
    { status: 200, body: '{}', etag: 'e' },
    refused,
    refused,
    enoent,
  ]);
  const fetcher = new ConfigFetcher({
    get,
    consumers: [{ path: '/meshmetric', apply: () => undefined }],
    intervalMs: 1000,
    series: new OwnSeries(),
    log,
    clock,
  });
  await fetcher.start();
  for (let i = 0; i < 9; i++) await clock.advance(1000);
  t.same(
    log.lines.map((l) => `${l.level} ${l.msg}`),
    [
      'debug no dynamic configuration listener yet',
      'warn unexpected status fetching dynamic configuration',
      'info dynamic configuration applied',
      'info the dynamic configuration listener is gone; the last configuration stays',
    ],
  );
  await fetcher.stop();
});

t.test('over a real Unix socket: If-None-Match sent, ETag read, a missing socket is not fatal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dynconf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'kuma-mesh-metric-config.sock');
  const get = unixSocketGet(socketPath);
  await t.rejects(get('/dns', undefined), { code: 'ENOENT' });
  const seen: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    seen.push(req.headers['if-none-match']);
    if (req.headers['if-none-match'] === 'abc') res.writeHead(304).end();
    else res.writeHead(200, { etag: 'abc' }).end('{"records":[]}');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => server.close());
  t.same(await get('/dns', undefined), { status: 200, etag: 'abc', body: '{"records":[]}' });
  t.same(await get('/dns', 'abc'), { status: 304, body: '' });
  t.same(seen, [undefined, 'abc']);
});
