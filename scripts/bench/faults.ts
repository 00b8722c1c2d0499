// bench:faults — the fault suite's figures: how many hostile inputs were
// tried against a running kuma-mini-cp and kuma-dp, how many were survived
// (answered below 500, or refused with exit 1, the process still up), and the
// peak RSS of each under the worst input (VmHWM of the mini-CP; /usr/bin/time's
// maximum RSS of each kuma-dp run); then how long a mini-CP SIGKILLed and
// restarted under N live Envoy stand-ins (a test double) takes until every
// one of them is configured again.
// Usage: npm run bench:faults [-- --cases N --seed S --proxies N]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { KUMA_DP, run } from '../../test/helpers/cli.js';
import { startMiniCp } from '../../test/helpers/mesh.js';
import { waitFor } from '../../test/helpers/wait.js';
import { configured, startProxies, stopProxies } from '../../test/faults/standins.js';
import { ENVOY_DOUBLE } from '../../test/cli/agent-harness.js';
import { mutatedDataplane, nastyValue } from '../../test/faults/arbitraries.js';
import { aliasBomb, builtInField, deeplyNested, nullInbound, validDataplane } from '../../test/faults/inputs.js';

const { values } = parseArgs({
  options: { cases: { type: 'string', default: '500' }, seed: { type: 'string', default: '20261206' }, proxies: { type: 'string', default: '50' } },
});
const CASES = Number(values.cases);
const SEED = Number(values.seed);
const PROXIES = Number(values.proxies);

/** The worst inputs we know of, by surface. */
const WORST_DOCUMENTS: Array<[string, string]> = [
  ['YAML alias bomb (billion laughs)', aliasBomb()],
  ['100,000-level nesting', deeplyNested(100_000)],
  ['a 4 MiB string (over the 256 KiB limit)', JSON.stringify({ ...validDataplane(), name: 'x'.repeat(4 * 1024 * 1024) })],
  ['50,000 values (at the limit)', JSON.stringify({ ...validDataplane(), metrics: { type: 'prometheus', conf: Array(49_990).fill(0) } })],
  ['256 KiB of YAML list items', `${'- 0\n'.repeat(65_000)}`],
  ['null list item', nullInbound()],
  ['__proto__ field', builtInField('__proto__')],
];

function vmHwmMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-faults-'));
  const cp = await startMiniCp(['--store-file', join(dir, 'store.json'), '--auth', 'none', '--no-dp-server-tls', '--log-level', 'error']);
  const pid = cp.proc.child.pid!;
  let tried = 0;
  let survived = 0;
  const failures: string[] = [];
  const attempt = async (what: string, send: () => Promise<number>): Promise<void> => {
    tried++;
    try {
      const status = await send();
      if (status < 500 && cp.proc.child.exitCode === null) survived++;
      else failures.push(`${what}: HTTP ${status}`);
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  const put = (body: string) => async () =>
    (await fetch(`${cp.apiHttp}/meshes/default/dataplanes/web-1`, { method: 'PUT', body, signal: AbortSignal.timeout(10_000) })).status;
  const bootstrap = (body: string) => async () =>
    (await fetch(`${cp.dpServer}/bootstrap`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) })).status;

  try {
    const generated = fc.sample(fc.tuple(mutatedDataplane, nastyValue), { seed: SEED, numRuns: CASES });
    for (const [dp, value] of generated) {
      await attempt('PUT', put(dp));
      await attempt('POST /bootstrap', bootstrap(JSON.stringify({ mesh: 'default', name: 'web-1', dataplaneResource: dp, version: value })));
    }
    const baselineMb = vmHwmMb(pid);
    for (const [what, doc] of WORST_DOCUMENTS) {
      await attempt(`PUT ${what}`, put(doc));
      await attempt(`POST /bootstrap ${what}`, bootstrap(JSON.stringify({ mesh: 'default', name: 'web-1', dataplaneResource: doc })));
    }
    const cpPeakMb = vmHwmMb(pid);

    // The agent: each worst document as --dataplane-file, a control plane nobody listens on (it must not get that far).
    let agentPeakKb = 0;
    let agentWorst = '';
    for (const [what, doc] of [['a tiny invalid Dataplane (baseline)', '{"type": "Mesh"}'], ...WORST_DOCUMENTS] as Array<[string, string]>) {
      const file = join(dir, 'dp.yaml');
      writeFileSync(file, doc);
      tried++;
      const r = await run(
        '/usr/bin/time',
        ['-f', 'maxrss_kb=%M', KUMA_DP, 'run', '--binary-path', ENVOY_DOUBLE, '--cp-address', 'http://127.0.0.1:9', '--dataplane-file', file],
        {
          timeoutMs: 60_000,
        },
      );
      const kb = Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1] ?? 0);
      if (r.code === 1 && !/unexpected error/.test(r.stderr)) survived++;
      else failures.push(`kuma-dp ${what}: exit ${r.code}`);
      console.log(`  kuma-dp ${what}: exit ${r.code}, max RSS ${(kb / 1024).toFixed(1)} MB`);
      if (kb > agentPeakKb) [agentPeakKb, agentWorst] = [kb, what];
    }

    console.log(`bench:faults (seed ${SEED})`);
    console.log(`  cases tried:    ${tried}`);
    console.log(`  survived:       ${survived}`);
    console.log(`  failed:         ${failures.length}${failures.length ? `\n    ${failures.slice(0, 10).join('\n    ')}` : ''}`);
    console.log(
      `  mini-CP peak RSS: ${cpPeakMb.toFixed(1)} MB (${baselineMb.toFixed(1)} MB before the worst inputs, +${(cpPeakMb - baselineMb).toFixed(1)} MB)`,
    );
    console.log(`  kuma-dp peak RSS: ${(agentPeakKb / 1024).toFixed(1)} MB (worst: ${agentWorst})`);
    const list = await cp.api('GET', '/meshes/default/dataplanes');
    console.log(`  mini-CP still answering: ${list.status === 200 ? 'yes' : `no (${list.status})`}`);
    process.exitCode = failures.length > 0 ? 1 : 0;
  } finally {
    await cp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Kills the mini-CP under live stand-ins and times until all are configured again by its successor. */
async function restartUnderProxies(): Promise<void> {
  if (PROXIES <= 0) return;
  const dir = mkdtempSync(join(tmpdir(), 'bench-faults-restart-'));
  const common = ['--store-file', join(dir, 'store.json'), '--auth', 'none', '--no-dp-server-tls', '--log-level', 'warn'];
  const first = await startMiniCp(common);
  const proxies = await startProxies(first, PROXIES, dir);
  try {
    const all = async (cp: typeof first) => (await configured(cp, proxies)).length === PROXIES || undefined;
    await waitFor(`all ${PROXIES} stand-ins configured`, () => all(first), { timeoutMs: 180_000, intervalMs: 200 });
    const port = (url: string) => new URL(url).port;
    first.proc.kill('SIGKILL');
    await first.proc.exited;
    const restartedAt = Date.now();
    const second = await startMiniCp([...common, '--dp-server-port', port(first.dpServer), '--api-server-http-port', port(first.apiHttp)]);
    const readyMs = Date.now() - restartedAt;
    try {
      await waitFor(`all ${PROXIES} stand-ins configured again`, () => all(second), { timeoutMs: 180_000, intervalMs: 50 });
      const tookMs = Date.now() - restartedAt;
      console.log(`  mini-CP SIGKILLed and restarted under ${PROXIES} live stand-ins: ready in ${readyMs} ms, all ${PROXIES} configured again in ${tookMs} ms`);
    } finally {
      await second.stop();
    }
  } finally {
    await stopProxies(proxies);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
await restartUnderProxies();
console.log(
  `  load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} (the host is shared; figures scale with it)`,
);
