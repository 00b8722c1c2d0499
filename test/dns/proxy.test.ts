import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';
import t, { type Test } from 'tap';
import { parseDnsMap } from '../../src/dns/map.js';
import { DnsProxy } from '../../src/dns/proxy.js';
import { parseUpstreamAddress, upstreamFromResolvConf } from '../../src/dns/upstream.js';
import { labelValue } from '../../src/exposition/exposition.js';
import { OwnSeries } from '../../src/exposition/own-series.js';
import { recordingLogger } from '../helpers/log.js';

type Packet = dnsPacket.DecodedPacket & { rcode?: string };
/** [name, type, ttl, data] of each answer. */
const records = (p: Packet): Array<[string, string, number | undefined, unknown]> =>
  (p.answers ?? []).map((r) => [r.name, r.type, 'ttl' in r ? r.ttl : undefined, 'data' in r ? r.data : undefined]);

/** An upstream resolver: answers every A question with 17.0.0.1 (TTL 125), or SERVFAIL for servfail.test. */
async function fakeUpstream(t: Test): Promise<{ port: number; queries: string[] }> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0]!;
    queries.push(question.name);
    const servfail = question.name === 'servfail.test';
    const reply = dnsPacket.encode({
      id: q.id,
      type: 'response',
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (servfail ? 2 : 0),
      questions: q.questions,
      answers: servfail ? [] : [{ name: question.name, type: 'A', class: 'IN', ttl: 125, data: '17.0.0.1' }],
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  return { port: socket.address().port, queries };
}

let nextId = 1;
function query(port: number, name: string, type: 'A' | 'AAAA' | 'TXT' = 'A'): Promise<Packet> {
  const socket = createSocket('udp4');
  const id = nextId++ & 0xffff;
  return new Promise<Packet>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer for ${name}`)), 5000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      resolve(dnsPacket.decode(msg));
    });
    socket.send(dnsPacket.encode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] }), port, '127.0.0.1');
  }).finally(() => socket.close());
}

function queryTcp(port: number, names: string[]): Promise<Packet[]> {
  return new Promise((resolve, reject) => {
    const conn = connect(port, '127.0.0.1');
    const replies: Packet[] = [];
    let buffered = Buffer.alloc(0);
    conn.on('error', reject);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(dnsPacket.decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0))));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (replies.length === names.length) {
        conn.end();
        resolve(replies);
      }
    });
    // Pipelined: all queries in one write.
    conn.write(Buffer.concat(names.map((name, i) => dnsPacket.streamEncode({ id: i + 1, type: 'query', questions: [{ name, type: 'A', class: 'IN' }] }))));
  });
}

const MAP =
  '{"records":[{"name":"backend.mesh","ips":["240.0.0.0","::ffff:f000:0"]},{"name":"httpbin.mesh","ips":["240.0.0.1"]}],"ttl":30,"extraLabels":{"mesh":"default"}}';

async function startProxy(t: Test, upstreamPort: number, timeoutMs = 2000): Promise<{ proxy: DnsProxy; series: OwnSeries }> {
  const series = new OwnSeries();
  const proxy = new DnsProxy({
    addresses: ['127.0.0.1'],
    port: 0,
    upstream: { host: '127.0.0.1', port: upstreamPort },
    series,
    log: recordingLogger(),
    upstreamTimeoutMs: timeoutMs,
  });
  await proxy.start();
  t.teardown(() => proxy.stop());
  return { proxy, series };
}

t.test('answers mesh names from the map, authoritatively; NODATA for the other family; the rest from upstream', async (t) => {
  const upstream = await fakeUpstream(t);
  const { proxy, series } = await startProxy(t, upstream.port);
  const port = proxy.port!;
  t.equal((await query(port, 'backend.mesh')).answers?.length, 1, 'before the map: forwarded');
  t.same(upstream.queries, ['backend.mesh']);
  proxy.consumer.apply(MAP);
  t.ok(proxy.ready);

  const a = await query(port, 'backend.mesh');
  t.equal(a.rcode, 'NOERROR');
  t.ok(a.flag_aa, 'authoritative');
  t.notOk(a.flag_ra, 'no recursion offered, as Kuma');
  t.ok(a.flag_rd, 'RD copied from the query');
  t.same(records(a), [['backend.mesh', 'A', 30, '240.0.0.0']]);
  const aaaa = await query(port, 'backend.mesh', 'AAAA');
  t.same(records(aaaa), [['backend.mesh', 'AAAA', 30, '::ffff:f000:0']]);
  const nodata = await query(port, 'httpbin.mesh', 'AAAA');
  t.equal(nodata.rcode, 'NOERROR');
  t.same(nodata.answers, [], 'known name, no IPv6: empty answer');

  const outside = await query(port, 'example.com');
  t.same(records(outside), [['example.com', 'A', 125, '17.0.0.1']], 'forwarded as is');
  await query(port, 'Backend.mesh');
  await query(port, 'backend.mesh', 'TXT');
  t.same(upstream.queries.slice(1), ['example.com', 'Backend.mesh', 'backend.mesh'], 'other case and other types go upstream, as Kuma');

  const servfail = await query(port, 'servfail.test');
  t.equal(servfail.rcode, 'SERVFAIL', "upstream's SERVFAIL passed on");

  const text = series.families();
  const queries = text.find((f) => f.name === 'kuma_dp_dns_queries_total')!;
  t.ok(
    queries.samples.some((s) => labelValue(s.labels, 'source') === 'local' && labelValue(s.labels, 'mesh') === 'default'),
    'counters carry the extra labels',
  );
  t.equal(text.find((f) => f.name === 'kuma_dp_dns_entries_total')?.samples[0]?.value, '2');
});

t.test('TCP, pipelined queries on one connection', async (t) => {
  const upstream = await fakeUpstream(t);
  const { proxy } = await startProxy(t, upstream.port);
  proxy.consumer.apply(MAP);
  const replies = await queryTcp(proxy.port!, ['backend.mesh', 'example.com', 'httpbin.mesh']);
  // Replies come as they are ready (the forwarded one last), each with its query's ID.
  t.same(
    replies.map((r) => [r.id, records(r)[0]?.[3]]).sort((x, y) => Number(x[0]) - Number(y[0])),
    [
      [1, '240.0.0.0'],
      [2, '17.0.0.1'],
      [3, '240.0.0.1'],
    ],
  );
});

t.test('an upstream that does not answer gives SERVFAIL and counts a failure', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const { proxy, series } = await startProxy(t, silent.address().port, 200);
  const reply = await query(proxy.port!, 'example.com');
  t.equal(reply.rcode, 'SERVFAIL');
  t.equal(series.families().find((f) => f.name === 'kuma_dp_dns_upstream_request_failure_count')?.samples[0]?.value, '1');
});

t.test('reloading the map while queries flow drops none', async (t) => {
  const upstream = await fakeUpstream(t);
  const { proxy } = await startProxy(t, upstream.port);
  proxy.consumer.apply(MAP);
  const answers: Array<Promise<Packet>> = [];
  for (let i = 0; i < 200; i++) {
    answers.push(query(proxy.port!, 'backend.mesh'));
    if (i % 10 === 0) proxy.consumer.apply(`{"records":[{"name":"backend.mesh","ips":["240.0.0.${i % 250}"]}],"ttl":30}`);
  }
  const replies = await Promise.all(answers);
  t.equal(replies.filter((r) => r.answers?.length === 1 && r.flag_aa).length, 200);
});

t.test('bind failure names the setting to change', async (t) => {
  const upstream = await fakeUpstream(t);
  const { proxy } = await startProxy(t, upstream.port);
  const second = new DnsProxy({
    addresses: ['127.0.0.1'],
    port: proxy.port!,
    upstream: { host: '127.0.0.1', port: upstream.port },
    series: new OwnSeries(),
    log: recordingLogger(),
  });
  await t.rejects(second.start(), /cannot listen on UDP 127\.0\.0\.1:\d+ \(the port is in use\); set --dns-proxy-port \(KUMA_DNS_PROXY_PORT\)/);
});

t.test('the map body: names, families, bad IPs skipped, bad shapes rejected', (t) => {
  const map = parseDnsMap('{"records":[{"name":"a.mesh","ips":["240.0.0.1","nope","fd00::1"]}],"ttl":10}');
  t.same(map.names.get('a.mesh'), { a: ['240.0.0.1'], aaaa: ['fd00::1'] });
  t.same(map.skipped, ['nope']);
  t.throws(() => parseDnsMap('{"records":{}}'), /records must be a list/);
  t.throws(() => parseDnsMap('{"records":[{"ips":[]}]}'), /records\[0\]\.name/);
  t.end();
});

t.test('the upstream: the first nameserver of resolv.conf, or KUMA_DNS_UPSTREAM_ADDRESS', (t) => {
  t.same(upstreamFromResolvConf('# x\nsearch a\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n', 'f'), { host: '10.0.0.2', port: 53 });
  t.throws(() => upstreamFromResolvConf('search a\n', '/etc/resolv.conf'), /\/etc\/resolv\.conf names no nameserver/);
  t.same(parseUpstreamAddress('[::1]:5353', 'X'), { host: '::1', port: 5353 });
  t.throws(() => parseUpstreamAddress('localhost:53', 'KUMA_DNS_UPSTREAM_ADDRESS'), /KUMA_DNS_UPSTREAM_ADDRESS: 'localhost:53' must be IP:port/);
  t.end();
});
