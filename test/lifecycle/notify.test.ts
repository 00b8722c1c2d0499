// sd_notify through the real CLI: the messages arrive, in order, on a test
// datagram socket (a python3 receiver: Node has no Unix datagram sockets).
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { waitFor } from '../helpers/wait.js';
import { setup, startAgent, startNotifyReceiver, staticBootstrap, waitForReadiness } from './harness.js';

const python = spawnSync('python3', ['--version']).status === 0;
const systemdNotify = spawnSync('systemd-notify', ['--version']).status === 0;

t.test(
  'READY=1 once Envoy is live, STATUS= on each transition, STOPPING=1 on drain, watchdog pings; in order',
  { skip: !python ? 'python3 is needed as the test datagram receiver' : !systemdNotify ? 'systemd-notify is not installed' : false },
  async (t) => {
    const x = await setup(t);
    const { socket, messages } = await startNotifyReceiver(t, x.s.dir);

    x.cp.respond(staticBootstrap(x));
    const agent = startAgent(t, x, ['--drain-time', '10s', '--drain-min-time', '0s'], { NOTIFY_SOCKET: socket, WATCHDOG_USEC: '600000' });
    await waitForReadiness(x, '200 READY');
    await waitFor('READY=1', () => messages().some((m) => m.startsWith('READY=1')));
    await waitFor('two watchdog pings', () => messages().filter((m) => m === 'WATCHDOG=1').length >= 2, { timeoutMs: 5000 });
    agent.kill('SIGTERM');
    t.equal((await agent.exited).code, 0);

    const all = messages();
    const transitions = all.filter((m) => m !== 'WATCHDOG=1');
    t.same(transitions, [
      'STATUS=Envoy started, waiting for it to be live',
      'READY=1\nSTATUS=Envoy is live',
      'STOPPING=1\nSTATUS=draining connections before stopping',
      'STATUS=stopping Envoy',
    ]);
    const firstPing = all.indexOf('WATCHDOG=1');
    t.ok(firstPing > all.indexOf('STATUS=Envoy started, waiting for it to be live'), 'pings come after the first status');
    t.notOk(
      agent.logs().some((l) => l.msg === 'could not notify systemd'),
      'every message was delivered',
    );
  },
);
