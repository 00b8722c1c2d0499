// Memory of a process after one bootstrap validation, run by
// scripts/bench/validate.ts in a fresh process (with --expose-gc):
// `worker` validates in a worker thread that exits, `inline` in this thread.
import { typicalBootstrap } from './validate-sample.js';

const mode = process.argv[2] === 'worker' ? 'worker' : 'inline';
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const before = process.memoryUsage();
if (mode === 'worker') {
  const { validateInWorker } = await import('../../src/validate/worker.js');
  await validateInWorker(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
} else {
  const { loadEnvoyTypes } = await import('../../src/validate/envoy-types.js');
  (await loadEnvoyTypes()).validate(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
}
gc?.();
await new Promise((resolve) => setTimeout(resolve, 200)); // let the exited worker's memory be released
gc?.();
const after = process.memoryUsage();
process.stdout.write(JSON.stringify({ before: before.rss, after: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed }));
