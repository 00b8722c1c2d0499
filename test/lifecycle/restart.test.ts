// --envoy-restart through the real CLI and real processes: restarts with
// growing delays, the crash-loop limit with Envoy's last lines in the error,
// and the config dump kept when Envoy dies. The policy's every branch is
// covered in-process, in milliseconds, by supervisor.test.ts.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { alive, waitFor } from '../helpers/wait.js';
import { ENVOY_DOUBLE } from '../cli/agent-harness.js';
import { ADMIN_SHAPES, setup, startAgent, staticBootstrap, waitForReadiness } from './harness.js';

t.test("on-failure: restarts with doubling delays, then gives up at the crash-loop limit with Envoy's last lines", async (t) => {
  const x = await setup(t);
  x.cp.respond(staticBootstrap(x));
  const record = join(x.s.dir, 'envoy-events');
  const envoy = {
    ENVOY_DOUBLE_RECORD: record,
    ENVOY_DOUBLE_EXIT_AFTER_MS: '0',
    ENVOY_DOUBLE_EXIT_CODE: '3',
    ENVOY_DOUBLE_STDERR: '[critical][main] error initializing configuration: listener inbound:1 bind failed\nexiting',
  };
  const agent = startAgent(t, x, ['--envoy-restart', 'on-failure', '--envoy-max-restarts', '3', '--envoy-restart-backoff', '200ms'], envoy, ENVOY_DOUBLE);
  const { code } = await agent.exited;
  t.equal(code, 3, "exits with Envoy's status");
  const starts = readFileSync(record, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event: string; t: number })
    .filter((e) => e.event === 'start')
    .map((e) => e.t);
  t.equal(starts.length, 4, 'the first start and three restarts');
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  t.ok(gaps[0]! >= 200 && gaps[1]! >= 400 && gaps[2]! >= 800, `delays double: ${gaps.join(', ')} ms`);
  t.match(
    agent.stderr(),
    /Error: Envoy keeps exiting: it was restarted 3 times within 5m \(--envoy-max-restarts 3, --envoy-restart-window 5m\) and exited again with status 3\. Envoy's last lines:\n {2}\[critical\]\[main\] error initializing configuration: listener inbound:1 bind failed\n {2}exiting\nFix the cause above, or raise --envoy-max-restarts \(KUMA_DATAPLANE_RUNTIME_ENVOY_MAX_RESTARTS\)/,
  );
  const restarts = agent.logs().filter((l) => l.msg === 'Envoy exited; restarting it');
  t.same(
    restarts.map((l) => l.delayMs),
    [200, 400, 800],
  );
});

for (const admin of ADMIN_SHAPES)
  t.test(`always: a killed Envoy is restarted and live again; its config dump is kept; the limit ends it (${admin} admin)`, async (t) => {
    const x = await setup(t, { admin });
    x.cp.respond(staticBootstrap(x));
    const workDir = x.workDir;
    const agent = startAgent(t, x, [
      '--envoy-restart',
      'always',
      '--envoy-max-restarts',
      '1',
      '--envoy-restart-backoff',
      '100ms',
      ...(admin === 'tcp' ? ['--work-dir', workDir] : []),
    ]);
    await waitForReadiness(x, '200 READY');
    await waitFor('config dump saved when Envoy went live', () => existsSync(join(workDir, 'config_dump.json')));
    const firstPid = agent.logs().find((l) => l.msg === 'envoy running')!.pid as number;
    process.kill(firstPid, 'SIGKILL');

    const kept = await agent.waitForLog((l) => l.msg === 'Envoy exited abnormally; its last config dump is kept for study', 'crash dump kept');
    t.equal(kept.status, 137);
    const dump = JSON.parse(readFileSync(String(kept.file), 'utf8')) as { configs: Array<Record<string, unknown>> };
    t.ok(
      dump.configs.some((c) => /ListenersConfigDump/.test(String(c['@type']))),
      "the dump holds Envoy's listeners",
    );
    t.match(String(kept.file), new RegExp(`^${workDir}/config_dump\\.crash-.*\\.json$`));

    await agent.waitForLog((l) => l.msg === 'envoy running' && l.pid !== firstPid, 'Envoy restarted');
    await agent.waitForLog((l) => l.msg === 'Envoy is live' && l.pid !== firstPid, 'the new Envoy is live');
    await waitForReadiness(x, '200 READY');
    const secondPid = agent
      .logs()
      .filter((l) => l.msg === 'envoy running')
      .at(-1)!.pid as number;
    t.not(secondPid, firstPid);
    process.kill(secondPid, 'SIGKILL');
    const { code } = await agent.exited;
    t.equal(code, 137, 'gives up after --envoy-max-restarts');
    t.match(agent.stderr(), /Error: Envoy keeps exiting: it was restarted 1 time within 5m .*; its last config dump is in .*config_dump\.crash-/);
    t.notOk(alive(secondPid));
  });

t.test('bad restart flags name themselves', async (t) => {
  const x = await setup(t);
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--envoy-restart', 'sometimes'], {}, /--envoy-restart: 'sometimes' must be one of never, on-failure, always/],
    [[], { KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART: 'often' }, /KUMA_DATAPLANE_RUNTIME_ENVOY_RESTART: 'often' must be one of never, on-failure, always/],
    [['--envoy-max-restarts', '-1'], {}, /--envoy-max-restarts: '-1' must be a whole number from 0 to 1000/],
    [['--envoy-restart-backoff', 'quickly'], {}, /--envoy-restart-backoff: 'quickly' is not a duration/],
  ];
  for (const [args, env, expected] of cases) {
    const agent = startAgent(t, x, args, env);
    t.equal((await agent.exited).code, 1, args.join(' ') || JSON.stringify(env));
    t.match(agent.stderr(), expected);
  }
  t.equal(x.cp.requests.length, 0, 'refused before the control plane is contacted');
});

t.test('never (the default): a crashed Envoy ends the agent with its status, and a temporary work dir is kept for its config dump', async (t) => {
  // TCP admin: a socket admin lives in the work dir, which the scripted control plane must know in advance, and this one is temporary.
  const x = await setup(t, { admin: 'tcp' });
  x.cp.respond(staticBootstrap(x));
  const agent = startAgent(t, x, []);
  await waitForReadiness(x, '200 READY');
  const workDir = String(agent.logs().find((l) => l.msg === 'work directory')!.path);
  t.teardown(() => rmSync(workDir, { recursive: true, force: true }));
  await waitFor('config dump saved when Envoy went live', () => existsSync(join(workDir, 'config_dump.json')));
  process.kill(agent.logs().find((l) => l.msg === 'envoy running')!.pid as number, 'SIGSEGV');
  t.equal((await agent.exited).code, 128 + 11);
  const kept = agent.logs().find((l) => l.msg === 'Envoy exited abnormally; its last config dump is kept for study')!;
  t.ok(existsSync(String(kept.file)), 'the crash dump is there after the agent exited');
  t.match(
    agent.logs().find((l) => l.msg === 'the temporary work dir is kept: it holds the config dump of a crashed Envoy'),
    { path: workDir },
  );
});
