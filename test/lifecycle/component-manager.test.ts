// The component manager that runs the agent's and the mini-CP's long-running
// parts: order, deadlines and failure reports, with a fake clock.
import t from 'tap';
import { ComponentManager, stopOnly, type Component, type FailureReport } from '../../src/lifecycle/component.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/log.js';

function part(name: string, order: string[], opts: { stop?: () => Promise<void> } = {}): Component & { fail(err: Error): void } {
  let report: FailureReport | undefined;
  return {
    name,
    start: (failed) => {
      report = failed;
      order.push(`start ${name}`);
      return Promise.resolve();
    },
    stop: () => {
      order.push(`stop ${name}`);
      return opts.stop ? opts.stop() : Promise.resolve();
    },
    fail: (err) => report?.(err),
  };
}

t.test('starts in order, stops in reverse; a stop that never ends is left at the deadline', async (t) => {
  const clock = new FakeClock();
  const log = recordingLogger();
  const manager = new ComponentManager({ log, clock });
  const order: string[] = [];
  const stuck = part('stuck', order, { stop: () => new Promise(() => undefined) });
  await manager.startAll([part('a', order), stuck, part('c', order)], 1000);
  const stopping = manager.stopAll(clock.now() + 1000);
  await settle();
  t.same(order, ['start a', 'start stuck', 'start c', 'stop c', 'stop stuck'], 'waiting for stuck');
  await clock.advance(1300);
  await stopping;
  t.same(order.slice(-1), ['stop a'], 'then the next one');
  t.ok(log.lines.some((l) => l.msg === 'component did not stop by the deadline' && l.fields.component === 'stuck'));
});

t.test('a failure after start is reported once and the component no longer runs; before start it fails the start', async (t) => {
  const failures: string[] = [];
  const manager = new ComponentManager({ log: recordingLogger(), onFailure: (c, err) => failures.push(`${c.name}: ${err.message}`) });
  const order: string[] = [];
  const a = part('a', order);
  await manager.start(a);
  a.fail(new Error('socket closed'));
  a.fail(new Error('again'));
  t.same(failures, ['a: socket closed']);
  t.notOk(manager.isRunning(a));
  await manager.stopAll(Date.now() + 1000);
  t.notOk(order.includes('stop a'), 'a failed component is not stopped again');

  const early: Component = { name: 'early', start: (failed) => (failed(new Error('gone at once')), Promise.resolve()), stop: () => Promise.resolve() };
  await t.rejects(manager.start(early), { message: 'gone at once' });
  t.same(failures, ['a: socket closed'], 'a failure to start is the start error, not a report');
});

t.test('startAll stops what it started when a later component cannot start', async (t) => {
  const manager = new ComponentManager({ log: recordingLogger() });
  const order: string[] = [];
  const broken: Component = { name: 'broken', start: () => Promise.reject(new Error('port in use')), stop: () => Promise.resolve() };
  let stopped = false;
  await t.rejects(manager.startAll([part('a', order), stopOnly('timer', () => void (stopped = true)), broken, part('d', order)], 1000), {
    message: 'port in use',
  });
  t.same(order, ['start a', 'stop a']);
  t.ok(stopped, 'stopOnly components are stopped too');
});
