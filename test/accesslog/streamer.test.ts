// The TCP access-log streamer on a real FIFO with real TCP collectors; the
// test writes to the pipe as Envoy's file access logger does (O_WRONLY|O_APPEND).
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { Destination } from '../../src/accesslog/destination.js';
import { AccessLogStreamer } from '../../src/accesslog/streamer.js';
import { labelValue } from '../../src/exposition/exposition.js';
import { OwnSeries } from '../../src/exposition/own-series.js';
import { createLogger } from '../../src/log/logger.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { startTcpSink, type TcpSink } from './tcp-sink.js';

const log = createLogger('test.access-log');

function workdir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kuma-al-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function streamer(t: Test, path: string, opts: { maxBufferedBytes?: number } = {}): Promise<AccessLogStreamer> {
  const s = new AccessLogStreamer({ path, log, ...opts });
  await s.start();
  t.teardown(() => s.stop(Date.now() + 2000));
  return s;
}

/** Envoy's file access logger: open(O_WRONLY|O_CREAT|O_APPEND), write, close. */
async function envoyWriter(path: string): Promise<FileHandle> {
  return open(path, 'a');
}

async function sinkFor(t: Test, port = 0): Promise<TcpSink> {
  const sink = await startTcpSink(port);
  t.teardown(() => sink.close());
  return sink;
}

t.test('the pipe is a FIFO with mode 0666, made over a stale regular file or FIFO', async (t) => {
  const dir = workdir(t);
  const path = join(dir, 'kuma-al-web-1-default.sock');
  writeFileSync(path, '{"address":"x","message":"left by an Envoy that found no FIFO"}\n');
  const first = await streamer(t, path);
  t.ok(lstatSync(path).isFIFO(), 'a regular file at the path is replaced by a FIFO');
  t.equal(lstatSync(path).mode & 0o777, 0o666);
  await first.stop(Date.now() + 1000);

  execFileSync('mkfifo', [path]); // a FIFO nobody reads, as a crashed kuma-dp leaves it
  const sink = await sinkFor(t);
  await streamer(t, path);
  t.ok(lstatSync(path).isFIFO());
  const w = await envoyWriter(path); // would block forever on a FIFO without a reader
  await w.write(`${sink.address};after a stale FIFO\n`);
  await w.close();
  await waitFor('the line at the sink', () => sink.lines.includes('after a stale FIFO'));
});

t.test('both record forms reach their collectors; object messages are re-encoded as Go does', async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const a = await sinkFor(t);
  const b = await sinkFor(t);
  const s = await streamer(t, path);
  const w = await envoyWriter(path);
  await w.write(JSON.stringify({ address: a.address, message: '[2026-01-01T00:00:00.000Z] default 127.0.0.1(unknown)->10.0.0.5:80 took 3ms\n' }) + '\n');
  await w.write(`{"address":"${b.address}","message":{"z":1,"a":"<b>&","m":[true,null,1.5e-7,-0],"n":{"y":2,"x":1}}}\n`);
  await w.write(`${a.address};legacy;with a semicolon\n`);
  await w.write('neither form\n');
  await w.close();
  await waitFor('both lines at a', () => a.lines.length >= 2);
  await waitFor('the line at b', () => b.lines.length >= 1);
  t.same(a.lines, ['[2026-01-01T00:00:00.000Z] default 127.0.0.1(unknown)->10.0.0.5:80 took 3ms', 'legacy;with a semicolon']);
  t.equal(b.bytes().toString(), '{"a":"\\u003cb\\u003e\\u0026","m":[true,null,1.5e-7,-0],"n":{"x":1,"y":2},"z":1}\n');
  t.equal(a.connections, 1, 'one persistent connection per address');
  t.equal(s.counters().invalidLines, 1);
});

t.test('reading survives Envoy closing and reopening the pipe', async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const sink = await sinkFor(t);
  await streamer(t, path);
  for (let i = 0; i < 3; i++) {
    const w = await envoyWriter(path);
    await w.write(`${sink.address};open ${i}\n`);
    await w.close();
    await waitFor(`line ${i}`, () => sink.lines.includes(`open ${i}`));
  }
  t.same(sink.lines, ['open 0', 'open 1', 'open 2']);
});

t.test('a collector that refuses connections costs the others nothing; it gets lines again once it is up', async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const good = await sinkFor(t);
  const downPort = await freePort();
  const s = await streamer(t, path);
  const w = await envoyWriter(path);
  t.teardown(() => w.close());
  for (let i = 0; i < 50; i++) {
    await w.write(`127.0.0.1:${downPort};lost ${i}\n`);
    await w.write(`${good.address};kept ${i}\n`);
  }
  await waitFor('every line at the good sink', () => good.lines.length === 50);
  t.same(
    good.lines,
    Array.from({ length: 50 }, (_, i) => `kept ${i}`),
  );
  await waitFor('the refused lines counted as dropped', () => (s.counters().destinations[`127.0.0.1:${downPort}`]?.droppedLines ?? 0) > 0);

  const late = await sinkFor(t, downPort);
  await waitFor('a line reaching the sink once it is up', async () => {
    await w.write(`127.0.0.1:${downPort};back\n`);
    return late.lines.includes('back');
  });
  t.pass('the collector that came up gets lines');
});

t.test('a collector that stops reading loses its own lines only; its buffer stays bounded', async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const good = await sinkFor(t);
  const stuck = await startTcpSink(0, { read: false });
  t.teardown(() => stuck.close());
  const max = 256 * 1024;
  const s = await streamer(t, path, { maxBufferedBytes: max });
  const w = await envoyWriter(path);
  t.teardown(() => w.close());
  const big = 'x'.repeat(16 * 1024);
  let i = 0;
  // Until the stuck collector's lines are being dropped (its kernel buffers are full too).
  await waitFor(
    'lines for the stuck collector being dropped',
    async () => {
      for (let k = 0; k < 64; k++) await w.write(`${stuck.address};${big}\n`);
      await w.write(`${good.address};kept ${i++}\n`);
      return (s.counters().destinations[stuck.address]?.droppedLines ?? 0) > 0;
    },
    { timeoutMs: 60_000, intervalMs: 1 },
  );
  await waitFor('every line at the good sink', () => good.lines.length === i);
  t.equal(good.lines.at(-1), `kept ${i - 1}`);
});

t.test('Destination: the unsent bytes of a collector that does not read never pass the bound', async (t) => {
  const stuck = await startTcpSink(0, { read: false });
  t.teardown(() => stuck.close());
  const max = 128 * 1024;
  const d = new Destination(stuck.address, { maxBufferedBytes: max, connectTimeoutMs: 5000, log });
  t.teardown(() => d.close(Date.now()));
  const line = Buffer.alloc(32 * 1024, 'y');
  let sent = 0;
  let most = 0;
  while (d.send(line)) {
    most = Math.max(most, d.bufferedBytes);
    sent += line.length;
    if (sent > 512 * 1024 * 1024) throw new Error('never dropped');
    await nextTurn();
  }
  t.ok(most <= max && d.bufferedBytes <= max, `at most ${max} bytes kept (saw ${most})`);
  t.equal(d.counters.droppedLines, 1);
});

t.test('Destination: an address that is not host:port drops its lines with a reason', async (t) => {
  const d = new Destination('no-port-here', { maxBufferedBytes: 1024, connectTimeoutMs: 5000, log });
  d.send(Buffer.from('a\n'));
  t.equal(d.counters.droppedLines, 1);
  t.equal(d.counters.connectFailures, 1);
  await d.close(Date.now());
});

t.test('a line longer than the limit is dropped; the lines around it pass', async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const sink = await sinkFor(t);
  const s = new AccessLogStreamer({ path, log, maxLineBytes: 1024 });
  await s.start();
  t.teardown(() => s.stop(Date.now() + 2000));
  const w = await envoyWriter(path);
  t.teardown(() => w.close());
  await w.write(`${sink.address};before\n`);
  await w.write(`${sink.address};${'z'.repeat(8 * 1024)}\n`);
  await w.write(`${sink.address};after\n`);
  await waitFor('the line after the long one', () => sink.lines.includes('after'));
  t.same(sink.lines, ['before', 'after']);
  t.equal(s.counters().overlongLines, 1);
});

t.test("the agent's own series count lines sent and dropped per collector", async (t) => {
  const path = join(workdir(t), 'kuma-al-web-1-default.sock');
  const sink = await sinkFor(t);
  const down = `127.0.0.1:${await freePort()}`;
  const series = new OwnSeries();
  const s = new AccessLogStreamer({ path, log, series });
  await s.start();
  t.teardown(() => s.stop(Date.now() + 2000));
  const w = await envoyWriter(path);
  t.teardown(() => w.close());
  await w.write(`${sink.address};one\n${sink.address};two\n${down};lost\nnot a record\n`);
  await waitFor('both lines at the sink', () => sink.lines.length === 2);
  await waitFor('the lost line counted', () => (s.counters().destinations[down]?.droppedLines ?? 0) === 1);
  const value = (name: string, address?: string): string | undefined =>
    series
      .families()
      .find((f) => f.name === name)
      ?.samples.find((x) => address === undefined || labelValue(x.labels, 'address') === address)?.value;
  t.equal(value('kuma_dp_access_log_lines_total'), '4');
  t.equal(value('kuma_dp_access_log_ignored_lines_total'), '1');
  t.equal(value('kuma_dp_access_log_sent_lines_total', sink.address), '2');
  t.equal(value('kuma_dp_access_log_dropped_lines_total', down), '1');
});
