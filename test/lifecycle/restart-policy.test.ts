// The restart policy's arithmetic: doubling delays, the cap, the window.
import t from 'tap';
import { MAX_BACKOFF_MS, RestartPolicy } from '../../src/supervisor/restart-policy.js';

t.test('doubling delays within the window, a crash-loop at the limit, a fresh start once the window has passed', (t) => {
  const policy = new RestartPolicy({ mode: 'on-failure', maxRestarts: 2, windowMs: 10_000, backoffMs: 100 });
  t.same(policy.decide(1, 0), { restart: true, delayMs: 100, attempt: 1 });
  t.same(policy.decide(1, 200), { restart: true, delayMs: 200, attempt: 2 });
  t.same(policy.decide(1, 500), { restart: false, reason: 'crash-loop', restartsInWindow: 2 });
  t.same(policy.decide(1, 20_000), { restart: true, delayMs: 100, attempt: 1 }, 'restarts older than the window no longer count');
  t.end();
});

t.test('modes: never, on-failure, always; the delay is capped', (t) => {
  t.same(new RestartPolicy({ mode: 'never', maxRestarts: 5, windowMs: 1000, backoffMs: 10 }).decide(1, 0), {
    restart: false,
    reason: 'policy',
    restartsInWindow: 0,
  });
  t.same(new RestartPolicy({ mode: 'on-failure', maxRestarts: 5, windowMs: 1000, backoffMs: 10 }).decide(0, 0), {
    restart: false,
    reason: 'policy',
    restartsInWindow: 0,
  });
  t.match(new RestartPolicy({ mode: 'always', maxRestarts: 5, windowMs: 1000, backoffMs: 10 }).decide(0, 0), { restart: true });
  const capped = new RestartPolicy({ mode: 'always', maxRestarts: 100, windowMs: 3_600_000, backoffMs: 1000 });
  const delays = Array.from({ length: 8 }, (_, i) => {
    const d = capped.decide(1, i);
    return d.restart ? d.delayMs : -1;
  });
  t.same(delays, [1000, 2000, 4000, 8000, 16000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  t.end();
});
