// Memory of a process after one bootstrap validation, run by
// scripts/bench/validate.ts in a fresh process (with --expose-gc), the
// validator's code already imported: `once` validates as `kuma-dp run` does
// (validateOnce: a schema of its own, dropped after), `kept` keeps the shared
// types (loadEnvoyTypes, as the mini-CP does).
import { setTimeout as sleep } from 'node:timers/promises';
import { typicalBootstrap } from './validate-sample.js';

const mode = process.argv[2] === 'kept' ? 'kept' : 'once';
const gc = (globalThis as { gc?: () => void }).gc;
const { validateOnce, BOOTSTRAP_TYPE } = await import('../../src/validate/validation.js');
const { loadEnvoyTypes } = await import('../../src/envoy-codec/envoy-types.js');
gc?.();
const before = process.memoryUsage();
let kept: unknown;
if (mode === 'once') {
  await validateOnce(typicalBootstrap(), BOOTSTRAP_TYPE);
} else {
  kept = await loadEnvoyTypes();
  (kept as Awaited<ReturnType<typeof loadEnvoyTypes>>).validate(typicalBootstrap(), BOOTSTRAP_TYPE);
}
gc?.();
await sleep(200);
gc?.();
const after = process.memoryUsage();
process.stdout.write(
  JSON.stringify({
    before: before.rss,
    after: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    externalBefore: before.external,
    externalAfter: after.external,
    kept: kept !== undefined,
  }),
);
