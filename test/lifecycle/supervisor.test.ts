// The supervisor's logic in-process, with a fake clock, an Envoy double that
// is an object, and Envoy's admin API answered by a function: drain, the three
// signals, SIGUSR2, the restart policy, the crash loop, component failures.
// Everything here runs in milliseconds; test/lifecycle/{drain,restart,
// readiness}.test.ts keep covering real processes and real signals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RestartSettings } from '../../src/config/agent-config.js';
import type { AdminResponse } from '../../src/envoy/admin.js';
import { EnvoyExited } from '../../src/envoy/process.js';
import { AgentStats } from '../../src/lifecycle/agent-stats.js';
import type { Component, FailureReport } from '../../src/lifecycle/component.js';
import type { Phase } from '../../src/lifecycle/phase.js';
import { SignalCounter } from '../../src/supervisor/signals.js';
import { Supervisor, type SupervisedEnvoy } from '../../src/supervisor/supervisor.js';
import { UserError } from '../../src/util/errors.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/log.js';

/** Envoy as the supervisor sees it; the test says when it exits. */
class ScriptedEnvoy implements SupervisedEnvoy {
  readonly name = 'envoy';
  starts = 0;
  stops = 0;
  killed = false;
  running = false;
  failStart?: Error;
  private failed?: FailureReport;

  get pid(): number {
    return 1000 + this.starts;
  }

  start(failed: FailureReport): Promise<void> {
    if (this.failStart) return Promise.reject(this.failStart);
    this.starts += 1;
    this.running = true;
    this.failed = failed;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stops += 1;
    this.running = false;
    return Promise.resolve();
  }

  /** Envoy exits on its own with `status`. */
  exit(status: number): void {
    this.running = false;
    this.failed?.(new EnvoyExited({ code: status, signal: null, status }));
  }

  lastLines(): string[] {
    return ['[critical] error initializing configuration: bad cluster'];
  }

  kill(): void {
    this.killed = true;
    this.running = false;
  }
}

/** Envoy's admin API: /ready, the drain endpoints, listener stats with `active` inbound connections. */
class Admin {
  live = true;
  active = 0;
  readonly calls: string[] = [];

  readonly client = (method: 'GET' | 'POST', path: string): Promise<AdminResponse> => {
    this.calls.push(`${method} ${path}`);
    const ok = (body: string, status = 200) => Promise.resolve({ status, body });
    if (path === '/ready') return this.live ? ok('LIVE\n') : ok('PRE_INITIALIZING\n', 503);
    if (path.startsWith('/listeners'))
      return ok(JSON.stringify({ listener_statuses: [{ name: 'inbound:127.0.0.1:8080', local_address: { socket_address: { port_value: 8080 } } }] }));
    if (path.startsWith('/stats')) return ok(`listener.127.0.0.1_8080.downstream_cx_active: ${this.active}\n`);
    if (path.startsWith('/config_dump')) return ok('{"configs":[]}');
    return ok('OK\n');
  };

  posted(path: string): boolean {
    return this.calls.some((c) => c.startsWith(`POST ${path}`));
  }
}

/** A component beside Envoy that records its start and stop. */
function besideComponent(name: string, order: string[], opts: { failStart?: Error } = {}): Component & { fail(err: Error): void } {
  let failed: FailureReport | undefined;
  return {
    name,
    start: (report) => {
      if (opts.failStart) return Promise.reject(opts.failStart);
      failed = report;
      order.push(`start ${name}`);
      return Promise.resolve();
    },
    stop: () => {
      order.push(`stop ${name}`);
      return Promise.resolve();
    },
    fail: (err) => failed?.(err),
  };
}

const NEVER: RestartSettings = { mode: 'never', maxRestarts: 5, windowMs: 60_000, backoffMs: 1000 };

function setup(t: Test, opts: { restart?: RestartSettings; drainTimeMs?: number; drainMinTimeMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'supervisor-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const envoy = new ScriptedEnvoy();
  const admin = new Admin();
  const signals = new SignalCounter(undefined, false);
  const stats = new AgentStats();
  const log = recordingLogger();
  const kept: string[] = [];
  const supervisor = new Supervisor({
    envoy,
    admin: admin.client,
    drainTimeMs: opts.drainTimeMs ?? 30_000,
    drainMinTimeMs: opts.drainMinTimeMs ?? 1_000,
    inboundPorts: [8080],
    killGraceMs: 5_000,
    restart: opts.restart ?? NEVER,
    workDir: { path: dir, keep: (reason) => kept.push(reason) },
    signals,
    stats,
    log,
    clock,
  });
  const phases: Phase[] = [];
  supervisor.lifecycle.onPhase((phase) => phases.push(phase));
  return { clock, envoy, admin, signals, stats, log, supervisor, phases, kept };
}

/** Runs the supervisor; `outcome()` is undefined until it has ended. */
function run(supervisor: Supervisor, beside: Component[] = [], after: Component[] = []) {
  let result: { status?: number; error?: unknown } | undefined;
  const done = supervisor.run(beside, after).then(
    (status) => (result = { status }),
    (error: unknown) => (result = { error }),
  );
  return { outcome: () => result, done };
}

t.test('components start before Envoy and stop after it; Envoy goes live once /ready says LIVE', async (t) => {
  const x = setup(t);
  x.admin.live = false;
  const order: string[] = [];
  const readiness = besideComponent('readiness', order);
  const metrics = besideComponent('metrics', order);
  const running = run(x.supervisor, [readiness, metrics]);
  await settle();
  t.same(order, ['start readiness', 'start metrics']);
  t.equal(x.envoy.starts, 1, 'Envoy started after them');
  t.equal(x.supervisor.lifecycle.phase, 'starting');
  await x.clock.advance(5_000);
  t.equal(x.supervisor.lifecycle.phase, 'starting', 'not live while /ready is not LIVE');
  x.admin.live = true;
  await x.clock.advance(1_000);
  t.equal(x.supervisor.lifecycle.phase, 'live', 'live within a poll interval (at most a second)');

  x.signals.trigger('SIGTERM');
  await x.clock.advance(1_000);
  await running.done;
  t.same(running.outcome(), { status: 0 });
  t.same(order, ['start readiness', 'start metrics', 'stop metrics', 'stop readiness']);
  t.equal(x.envoy.stops, 1);
});

t.test('components that need nothing before Envoy start right after its spawn, and stop with the others', async (t) => {
  const x = setup(t);
  const order: string[] = [];
  const seen = (name: string): Component => {
    const c = besideComponent(name, order);
    return { ...c, start: (report) => (order.push(`Envoy started ${x.envoy.starts} time(s)`), c.start(report)) };
  };
  const running = run(x.supervisor, [seen('readiness')], [seen('fetcher'), seen('notify')]);
  await settle();
  t.same(order, ['Envoy started 0 time(s)', 'start readiness', 'Envoy started 1 time(s)', 'start fetcher', 'Envoy started 1 time(s)', 'start notify']);
  x.signals.trigger('SIGTERM');
  await x.clock.advance(1_000);
  await running.done;
  t.same(running.outcome(), { status: 0 });
  t.same(order.slice(-3), ['stop notify', 'stop fetcher', 'stop readiness'], 'in reverse order of their start');
  t.equal(x.envoy.stops, 1);
});

t.test('a component after Envoy that cannot start stops Envoy and those before it', async (t) => {
  const x = setup(t);
  const order: string[] = [];
  const broken = new Error('cannot start');
  const running = run(x.supervisor, [besideComponent('readiness', order)], [besideComponent('fetcher', order, { failStart: broken })]);
  await running.done;
  t.equal(running.outcome()?.error, broken);
  t.equal(x.envoy.stops, 1, 'Envoy was stopped');
  t.same(order, ['start readiness', 'stop readiness']);
});

t.test('a component that cannot start stops the agent before Envoy is spawned', async (t) => {
  const x = setup(t);
  const order: string[] = [];
  const busy = new UserError('KUMA_READINESS_PORT: port 9902 is already in use');
  const running = run(x.supervisor, [besideComponent('notify', order), besideComponent('readiness', order, { failStart: busy })]);
  await running.done;
  t.equal(running.outcome()?.error, busy, 'the error that names the setting');
  t.equal(x.envoy.starts, 0, 'Envoy never started');
  t.same(order, ['start notify', 'stop notify']);
});

t.test('a component that fails after starting stops Envoy and the agent exits 1', async (t) => {
  const x = setup(t);
  const order: string[] = [];
  const metrics = besideComponent('metrics', order);
  const running = run(x.supervisor, [metrics]);
  await settle();
  metrics.fail(new Error('socket closed'));
  await running.done;
  t.same(running.outcome(), { status: 1 });
  t.equal(x.envoy.stops, 1, 'Envoy was stopped');
  t.ok(x.log.lines.some((l) => l.level === 'error' && l.fields.component === 'metrics'));
});

t.test('SIGTERM drains: /healthcheck/fail, at least --drain-min-time, over once inbound connections are gone', async (t) => {
  const x = setup(t, { drainMinTimeMs: 1_000, drainTimeMs: 30_000 });
  const running = run(x.supervisor);
  await x.clock.advance(100);
  x.admin.active = 2;
  x.signals.trigger('SIGTERM');
  await settle();
  t.equal(x.supervisor.lifecycle.phase, 'draining');
  t.ok(x.admin.posted('/healthcheck/fail'), 'Envoy fails its health checks');
  await x.clock.advance(10_000);
  t.notOk(running.outcome(), 'still draining while connections are open');
  t.equal(x.envoy.stops, 0);
  x.admin.active = 0;
  await x.clock.advance(500);
  await running.done;
  t.same(running.outcome(), { status: 0 });
  t.same(x.phases.slice(-2), ['draining', 'stopping']);
  t.equal(x.stats.drainSeconds.length, 1);
  t.ok(x.stats.drainSeconds[0]! >= 10 && x.stats.drainSeconds[0]! <= 11, `the drain lasted ~10.5 s of clock time (${x.stats.drainSeconds[0]})`);
});

t.test('with no connections the drain still lasts --drain-min-time', async (t) => {
  const x = setup(t, { drainMinTimeMs: 2_000 });
  const running = run(x.supervisor);
  await settle();
  x.signals.trigger('SIGINT');
  await x.clock.advance(1_900);
  t.notOk(running.outcome(), 'not before --drain-min-time');
  await x.clock.advance(200);
  await running.done;
  t.same(running.outcome(), { status: 0 });
});

t.test('--drain-time bounds a drain whose connections never close', async (t) => {
  const x = setup(t, { drainMinTimeMs: 100, drainTimeMs: 5_000 });
  x.admin.active = 1;
  const running = run(x.supervisor);
  await settle();
  x.signals.trigger('SIGTERM');
  await x.clock.advance(4_900);
  t.notOk(running.outcome());
  await x.clock.advance(200);
  await running.done;
  t.same(running.outcome(), { status: 0 });
  t.match(x.log.lines.find((l) => l.msg === 'drain finished')?.fields, { reason: 'drain time elapsed' });
});

t.test('a second signal cuts the drain short; a third exits at once with the signal status', async (t) => {
  const x = setup(t);
  x.admin.active = 1;
  const envoy = x.envoy;
  // Envoy that does not stop: the agent waits for it until the third signal.
  envoy.stop = () => new Promise(() => undefined);
  const running = run(x.supervisor);
  await settle();
  x.signals.trigger('SIGTERM');
  await x.clock.advance(5_000);
  t.equal(x.supervisor.lifecycle.phase, 'draining');
  x.signals.trigger('SIGTERM');
  await settle();
  t.match(x.log.lines.find((l) => l.msg === 'drain finished')?.fields, { reason: 'second signal' });
  t.equal(x.supervisor.lifecycle.phase, 'stopping');
  t.notOk(running.outcome(), 'waiting for Envoy to stop');
  x.signals.trigger('SIGINT');
  await running.done;
  t.same(running.outcome(), { status: 130 });
  t.ok(envoy.killed, 'Envoy got SIGKILL');
});

t.test('Envoy exiting during the drain ends it', async (t) => {
  const x = setup(t);
  x.admin.active = 1;
  const running = run(x.supervisor);
  await settle();
  x.signals.trigger('SIGTERM');
  await x.clock.advance(3_000);
  x.envoy.exit(0);
  await settle();
  await running.done;
  t.same(running.outcome(), { status: 0 });
  t.match(x.log.lines.find((l) => l.msg === 'drain finished')?.fields, { reason: 'Envoy exited' });
});

t.test('SIGUSR2 (and controls.drainInbound) drain inbound listeners and keep running', async (t) => {
  const x = setup(t);
  const running = run(x.supervisor);
  await settle();
  x.signals.requestDrain();
  await settle();
  t.ok(x.admin.posted('/drain_listeners?inboundonly&graceful&skip_exit'));
  t.notOk(running.outcome(), 'still running');
  t.not(x.supervisor.lifecycle.phase, 'draining');
  x.signals.trigger('SIGTERM');
  await x.clock.advance(2_000);
  await running.done;
  t.same(running.outcome(), { status: 0 });
});

t.test('by default (never) the agent exits with the status of an Envoy that exits', async (t) => {
  const x = setup(t);
  const order: string[] = [];
  const running = run(x.supervisor, [besideComponent('readiness', order)]);
  await x.clock.advance(100);
  x.envoy.exit(3);
  await running.done;
  t.same(running.outcome(), { status: 3 });
  t.equal(x.envoy.starts, 1);
  t.same(order, ['start readiness', 'stop readiness']);
});

t.test('on-failure: restarts after a doubling delay, then gives up in a crash loop with Envoy last lines', async (t) => {
  const x = setup(t, { restart: { mode: 'on-failure', maxRestarts: 2, windowMs: 60_000, backoffMs: 1_000 } });
  const running = run(x.supervisor);
  await x.clock.advance(100);
  x.envoy.exit(1);
  await settle();
  t.equal(x.supervisor.lifecycle.phase, 'restarting');
  await x.clock.advance(900);
  t.equal(x.envoy.starts, 1, 'not before the delay');
  await x.clock.advance(100);
  t.equal(x.envoy.starts, 2, 'restarted after 1 s');
  t.same(x.phases, ['live', 'restarting', 'starting', 'live'], 'a restarted Envoy goes through starting to live again');
  x.envoy.exit(1);
  await x.clock.advance(1_999);
  t.equal(x.envoy.starts, 2, 'the second delay is twice the first');
  await x.clock.advance(1);
  t.equal(x.envoy.starts, 3);
  t.equal(x.stats.envoyStarts, 3);
  t.equal(x.stats.envoyRestarts, 2);
  x.envoy.exit(1);
  await running.done;
  const error = running.outcome()?.error;
  t.ok(error instanceof UserError, 'a crash loop is an error for the user');
  t.match((error as Error).message, /restarted 2 times within 1m.*--envoy-max-restarts 2.*bad cluster/s);
});

t.test('on-failure: an Envoy that exits 0 is not restarted; a signal while waiting to restart exits 0', async (t) => {
  const clean = setup(t, { restart: { mode: 'on-failure', maxRestarts: 5, windowMs: 60_000, backoffMs: 1_000 } });
  const first = run(clean.supervisor);
  await settle();
  clean.envoy.exit(0);
  await first.done;
  t.same(first.outcome(), { status: 0 });
  t.equal(clean.envoy.starts, 1);

  const waiting = setup(t, { restart: { mode: 'always', maxRestarts: 5, windowMs: 60_000, backoffMs: 10_000 } });
  const second = run(waiting.supervisor);
  await settle();
  waiting.envoy.exit(1);
  await waiting.clock.advance(1_000);
  waiting.signals.trigger('SIGTERM');
  await second.done;
  t.same(second.outcome(), { status: 0 });
  t.equal(waiting.envoy.starts, 1, 'not restarted');
});

t.test("a crashed Envoy's config dump is kept, and the work dir with it", async (t) => {
  const x = setup(t);
  const running = run(x.supervisor);
  await x.clock.advance(100);
  t.equal(x.supervisor.lifecycle.phase, 'live');
  t.ok(x.admin.calls.includes('GET /config_dump?include_eds'), 'the dump is saved once Envoy is live');
  x.envoy.exit(139);
  await running.done;
  t.same(running.outcome(), { status: 139 });
  t.same(x.kept, ['it holds the config dump of a crashed Envoy']);
});

t.test('an Envoy that cannot be started is an error naming --binary-path; the components are stopped', async (t) => {
  const x = setup(t);
  x.envoy.failStart = new Error('spawn ENOENT');
  const order: string[] = [];
  const running = run(x.supervisor, [besideComponent('readiness', order)]);
  await running.done;
  t.match(String(running.outcome()?.error), /could not start Envoy: spawn ENOENT; check --binary-path/);
  t.same(order, ['start readiness', 'stop readiness']);
});
