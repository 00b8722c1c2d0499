// Envoy's command line, pinned whole against Kuma's (app/kuma-dp/pkg/dataplane/envoy/envoy.go).
import t from 'tap';
import { envoyArgs } from '../../src/envoy/args.js';

const base = { configPath: '/w/bootstrap.yaml', drainTimeMs: 30_500, logLevel: 'info' };
const kumaPrefix = [
  '--config-path',
  '/w/bootstrap.yaml',
  '--drain-time-s',
  '30',
  '--drain-strategy',
  'immediate',
  '--disable-hot-restart',
  '--log-level',
  'info',
];

t.test('explicit --concurrency: --concurrency N, no --cpuset-threads', (t) => {
  t.same(envoyArgs({ ...base, componentLogLevel: 'upstream:debug', concurrency: 3, platform: 'linux' }), [
    ...kumaPrefix,
    '--component-log-level',
    'upstream:debug',
    '--concurrency',
    '3',
  ]);
  t.end();
});

t.test('no concurrency (or 0, Kuma default): --cpuset-threads on Linux only', (t) => {
  t.same(envoyArgs({ ...base, platform: 'linux' }), [...kumaPrefix, '--cpuset-threads']);
  t.same(envoyArgs({ ...base, concurrency: 0, platform: 'linux' }), [...kumaPrefix, '--cpuset-threads']);
  t.same(envoyArgs({ ...base, platform: 'darwin' }), kumaPrefix);
  t.end();
});
