import t from 'tap';
import { retryWithConstantBackoff, RetriesExhaustedError, sleep } from '../../src/bootstrap/retry.js';

class Flaky extends Error {}

t.test('retries retryable failures with a constant backoff until one succeeds', async (t) => {
  const waits: number[] = [];
  const result = await retryWithConstantBackoff((n) => (n < 3 ? Promise.reject(new Flaky(`attempt ${n}`)) : Promise.resolve(n)), {
    backoffMs: 5,
    maxDurationMs: 10_000,
    signal: new AbortController().signal,
    retryable: (e) => e instanceof Flaky,
    onRetry: (_e, _n, ms) => waits.push(ms),
  });
  t.equal(result, 3);
  t.same(waits, [5, 5]);
});

t.test('a non-retryable failure is rethrown at once', async (t) => {
  let calls = 0;
  const fatal = new Error('fatal');
  await t.rejects(
    retryWithConstantBackoff(
      () => {
        calls++;
        return Promise.reject(fatal);
      },
      { backoffMs: 5, maxDurationMs: 10_000, signal: new AbortController().signal, retryable: (e) => e instanceof Flaky },
    ),
    fatal,
  );
  t.equal(calls, 1);
});

t.test('the last wait is cut to the budget left, then one final attempt', async (t) => {
  // A fake clock: each attempt takes 40 ms and waits are 100 ms, in a 250 ms budget.
  let clock = 0;
  const waits: number[] = [];
  const err = await retryWithConstantBackoff(
    () => {
      clock += 40;
      return Promise.reject(new Flaky('down'));
    },
    {
      backoffMs: 100,
      maxDurationMs: 250,
      signal: new AbortController().signal,
      retryable: (e) => e instanceof Flaky,
      now: () => clock,
      onRetry: (_e, _n, ms) => {
        waits.push(ms);
        clock += ms;
      },
    },
  ).catch((e: unknown) => e);
  // 0-40 fail, wait 100; 140-180 fail, wait 70 (the rest); 250-290 fail, budget spent.
  t.same(waits, [100, 70]);
  t.type(err, RetriesExhaustedError);
  t.equal((err as RetriesExhaustedError).attempts, 3);
  t.match((err as RetriesExhaustedError).message, /gave up after 3 attempts in 290 ms: down/);
});

t.test('abort ends a wait at once with an AbortError', async (t) => {
  const controller = new AbortController();
  const started = Date.now();
  const waiting = sleep(60_000, controller.signal);
  controller.abort();
  await t.rejects(waiting, { name: 'AbortError' });
  t.ok(Date.now() - started < 1_000);
  await t.rejects(sleep(1, controller.signal), { name: 'AbortError' }, 'an aborted signal rejects at once');
});
