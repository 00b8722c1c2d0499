// Fault injection on the agent's access-log streamer, as a real `kuma-dp run`
// process: one TCP collector that never reads (slow) and one that is not
// there (dead) next to a healthy one. The agent stays up, the healthy
// collector gets every one of its lines, and the agent's memory stays bounded
// however much is written for the bad ones.
import { mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { bootstrapYaml, jsonBootstrapResponse } from '../helpers/fake-cp.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { startTcpSink } from '../accesslog/tcp-sink.js';
import { agentSetup, startAgent } from '../cli/agent-harness.js';

process.env.KUMA_READINESS_PORT = '0';

const WRITTEN_FOR_BAD_SINKS = 24 * 1024 * 1024;
const MAX_GROWTH_BYTES = 64 * 1024 * 1024;

function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

t.test('a slow and a dead TCP collector cost the agent bounded memory and the healthy collector nothing', async (t) => {
  const { s, cp, dpFile, vars } = await agentSetup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const workDir = join(s.dir, 'work');
  mkdirSync(workDir);
  const pipe = join(workDir, 'kuma-al-web-1-default.sock');
  const agent = startAgent(s, ['--cp-address', cp.url, '-d', dpFile, ...vars, '--work-dir', workDir, '--drain-time', '1s', '--skip-config-validation']);
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));
  await waitFor('access-log pipe ready', () => agent.logs().find((l) => l.msg === 'access-log pipe ready'));

  const good = await startTcpSink();
  const slow = await startTcpSink(0, { read: false });
  const deadAddress = `127.0.0.1:${await freePort()}`; // nothing listens there
  t.teardown(() => Promise.all([good.close(), slow.close()]));

  const pid = agent.child.pid!;
  const before = rssBytes(pid);
  let peak = before;
  const writer = await open(pipe, 'a'); // as Envoy's file access logger
  t.teardown(() => writer.close());
  const big = 'x'.repeat(32 * 1024);
  let goodLines = 0;
  for (let written = 0; written < WRITTEN_FOR_BAD_SINKS; written += 2 * big.length) {
    await writer.write(`${slow.address};${big}\n${deadAddress};${big}\n${good.address};line ${goodLines++}\n`);
    if (goodLines % 64 === 0) peak = Math.max(peak, rssBytes(pid));
  }
  await waitFor(`all ${goodLines} lines at the healthy collector`, () => good.lines.length === goodLines, { timeoutMs: 60_000 });
  peak = Math.max(peak, rssBytes(pid));
  t.same(good.lines.slice(-2), [`line ${goodLines - 2}`, `line ${goodLines - 1}`], 'in order, none lost');
  t.equal(agent.child.exitCode, null, 'the agent is still running');
  t.ok(
    peak - before < MAX_GROWTH_BYTES,
    `agent RSS ${(before / 1e6).toFixed(0)} MB → peak ${(peak / 1e6).toFixed(0)} MB after ${WRITTEN_FOR_BAD_SINKS / 1024 / 1024} MiB for the bad collectors`,
  );
  agent.kill('SIGTERM');
  t.equal((await agent.exited).code, 0, 'and stops cleanly');
});
