// Memory of a process after one bootstrap validation, run by
// scripts/bench/validate.ts in a fresh process (with --expose-gc):
// `child` validates in a short-lived child process, `inline` in this thread.
import { typicalBootstrap } from './validate-sample.js';

const mode = process.argv[2] === 'child' ? 'child' : 'inline';
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
if (mode === 'child') {
  const { validateInChildProcess } = await import('../../src/validate/validator-process.js');
  await validateInChildProcess(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
} else {
  const { loadEnvoyTypes } = await import('../../src/validate/envoy-types.js');
  (await loadEnvoyTypes()).validate(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
}
gc?.();
await new Promise((resolve) => setTimeout(resolve, 200)); // let the exited child be reaped
gc?.();
const after = process.memoryUsage();
process.stdout.write(JSON.stringify({ before: before.rss, after: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed }));
