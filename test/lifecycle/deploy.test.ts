// scripts/deploy: the systemd unit checked by systemd-analyze, and kuma-dp as
// a container's PID 1 (exec-form ENTRYPOINT) run in a new PID namespace, where
// the kernel delivers only the signals PID 1 handles. Building and running the
// image needs a container engine, which these tests do not assume.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KUMA_DP, ROOT } from '../helpers/cli.js';
import { alive, waitFor } from '../helpers/wait.js';
import { ENVOY_DOUBLE } from '../cli/agent-harness.js';
import { setup, startAgent, staticBootstrap, waitForReadiness } from './harness.js';

const UNIT = join(ROOT, 'scripts/deploy/kuma-dp.service');
const DOCKERFILE = join(ROOT, 'scripts/deploy/Dockerfile');
const unit = readFileSync(UNIT, 'utf8');
const directive = (name: string): string | undefined => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1];

t.test('the unit file', (t) => {
  t.equal(directive('Type'), 'notify');
  t.equal(directive('NotifyAccess'), 'all', "systemd-notify sends on kuma-dp's behalf");
  t.equal(directive('Restart'), 'always');
  t.equal(directive('KillMode'), 'mixed', 'SIGTERM to kuma-dp alone, which drains Envoy');
  const stopSeconds = Number(/^(\d+)s$/.exec(directive('TimeoutStopSec') ?? '')?.[1]);
  t.ok(stopSeconds > 30 + 5, `TimeoutStopSec (${stopSeconds}s) is above the default --drain-time (30s) + 5s`);
  for (const [name, value] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
  ])
    t.equal(directive(name!), value, `${name}=${value}`);
  t.match(directive('ExecStart'), /^\/usr\/local\/bin\/kuma-dp run /);
  t.end();
});

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
t.test('systemd-analyze verify accepts the unit without a warning', { skip: analyze ? false : 'systemd-analyze is not installed' }, (t) => {
  // verify also checks that ExecStart exists: point it at this checkout's kuma-dp.
  const dir = mkdtempSync(join(tmpdir(), 'kuma-dp-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'kuma-dp.service');
  writeFileSync(copy, unit.replaceAll('/usr/local/bin/kuma-dp', KUMA_DP));
  const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  t.same(
    `${verify.stdout}${verify.stderr}`.split('\n').filter((l) => l.includes('kuma-dp.service')),
    [],
    'no warning about the unit',
  );

  const broken = join(dir, 'broken.service');
  writeFileSync(broken, unit.replaceAll('/usr/local/bin/kuma-dp', KUMA_DP).replace(/^NotifyAccess=all$/m, 'NotifyAccess=everyone'));
  const check = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8' });
  t.match(`${check.stdout}${check.stderr}`, /broken\.service:\d+: Failed to parse notify access/, 'the same check catches a broken unit');

  const security = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
  const exposure = /Overall exposure level for kuma-dp\.service: ([\d.]+)/.exec(security.stdout + security.stderr)?.[1];
  if (exposure) t.ok(Number(exposure) <= 4, `systemd's exposure score ${exposure} is "OK" or better`);
  t.end();
});

t.test('the Dockerfile runs kuma-dp itself as PID 1', (t) => {
  const dockerfile = readFileSync(DOCKERFILE, 'utf8');
  t.match(dockerfile, /^ENTRYPOINT \["kuma-dp", "run"\]$/m, 'exec form: no shell in between to swallow signals');
  t.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
  t.match(dockerfile, /util-linux/, 'setpriv, so Envoy dies with kuma-dp');
  t.end();
});

/** Host pid of the process that is PID 1 in the namespace unshare created. */
function namespaceInit(unsharePid: number): number | undefined {
  try {
    const child = Number(readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim().split(/\s+/)[0]);
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${child}/status`, 'utf8'))?.[1]?.split(/\s+/);
    return nspid?.at(-1) === '1' && /kuma-dp/.test(readFileSync(`/proc/${child}/cmdline`, 'utf8')) ? child : undefined;
  } catch {
    return undefined;
  }
}

const pidNamespaces = spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true']).status === 0;
const UNSHARE = ['/usr/bin/unshare', '--pid', '--fork', '--kill-child'];

t.test(
  'as PID 1: SIGTERM drains and exits 0; Envoy does not survive',
  { skip: pidNamespaces ? false : 'cannot create a PID namespace here (needs root or user namespaces)' },
  async (t) => {
    const x = await setup(t);
    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, ['--drain-time', '10s', '--drain-min-time', '200ms'], {}, undefined, UNSHARE);
    await waitForReadiness(x, '200 READY');
    const init = await waitFor('kuma-dp as PID 1 of the namespace', () => namespaceInit(agent.child.pid!));
    const envoyPid = Number(readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/)[0]);
    t.ok(alive(envoyPid), "Envoy runs as PID 1's child");
    process.kill(init, 'SIGTERM');
    t.equal((await agent.exited).code, 0, 'exit 0 after the drain');
    const logs = agent.logs();
    t.ok(
      logs.some((l) => l.msg === 'draining'),
      'PID 1 handled SIGTERM: it drained',
    );
    t.match(
      logs.find((l) => l.msg === 'drain finished'),
      { reason: 'no active connections' },
    );
    t.notOk(alive(envoyPid), 'Envoy is gone');
  },
);

t.test("as PID 1: Envoy's exit status becomes the container's", { skip: pidNamespaces ? false : 'cannot create a PID namespace here' }, async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(
    t,
    x,
    [],
    { ENVOY_DOUBLE_EXIT_AFTER_MS: '0', ENVOY_DOUBLE_EXIT_CODE: '7', ENVOY_DOUBLE_STDERR: 'bad config' },
    ENVOY_DOUBLE,
    UNSHARE,
  );
  t.equal((await agent.exited).code, 7);
});
