// Benchmark of the Envoy config validator (npm run build, then
// `node dist/scripts/bench/validate.js`):
//  - cold: a fresh process loads the descriptor and validates a typical bootstrap (median of runs);
//  - warm: validate (and encode) per resource once loaded, median over many rounds;
//  - memory: the parent's RSS and JS heap after validating in a short-lived child process vs in-process.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { renderSampleResources } from './validate-resources.js';
import { typicalBootstrap } from './validate-sample.js';

const MEMORY = fileURLToPath(new URL('./validate-memory.js', import.meta.url));
const COLD = fileURLToPath(new URL('./validate-cold.js', import.meta.url));

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const signed = (bytes: number): string => `${bytes >= 0 ? '+' : '-'}${mb(Math.abs(bytes))}`;

async function main(): Promise<void> {
  const child = (script: string, ...args: string[]) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', script, ...args], { encoding: 'utf8' })) as Record<string, number>;

  const colds = Array.from({ length: 7 }, () => child(COLD));
  const coldMs = median(colds.map((c) => c.ms!));
  const sinceStart = median(colds.map((c) => c.sinceProcessStart!));
  console.log(`cold: ${coldMs.toFixed(1)} ms median of ${colds.length} fresh processes (import the validator + load the descriptor + validate a typical bootstrap); ${sinceStart.toFixed(1)} ms counted from node's own process start`);

  const { loadEnvoyTypes } = await import('../../src/validate/envoy-types.js');
  const types = await loadEnvoyTypes();
  const resources: Array<[string, Record<string, unknown>]> = [...renderSampleResources(), ['envoy.config.bootstrap.v3.Bootstrap', typicalBootstrap()]];
  for (const [typeName, r] of resources) {
    const issues = types.validate(r, typeName);
    if (issues.length > 0) throw new Error(`${typeName} is invalid: ${JSON.stringify(issues)}`);
  }
  const rounds = 2000;
  const validateTimes: number[] = [];
  const encodeTimes: number[] = [];
  for (let i = 0; i < rounds; i++) {
    let t0 = performance.now();
    for (const [typeName, r] of resources) types.validate(r, typeName);
    validateTimes.push((performance.now() - t0) / resources.length);
    t0 = performance.now();
    for (const [typeName, r] of resources) types.encode(r, typeName);
    encodeTimes.push((performance.now() - t0) / resources.length);
  }
  const bootstrapTimes: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t0 = performance.now();
    types.validate(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
    bootstrapTimes.push(performance.now() - t0);
  }
  console.log(`warm: validate ${(median(validateTimes) * 1000).toFixed(1)} µs/resource, encode (validate + binary) ${(median(encodeTimes) * 1000).toFixed(1)} µs/resource (median of ${rounds} rounds over ${resources.length} resources: rendered listeners, clusters, load assignments, and a bootstrap); bootstrap alone ${(median(bootstrapTimes) * 1000).toFixed(1)} µs`);

  const inChild = child(MEMORY, 'child');
  const inline = child(MEMORY, 'inline');
  const line = (r: Record<string, number>) => `RSS ${mb(r.before!)} → ${mb(r.after!)} (${signed(r.after! - r.before!)}), JS heap ${signed(r.heapAfter! - r.heapBefore!)}`;
  console.log(`memory of the parent after one bootstrap validation: in a child process (exited): ${line(inChild)}; in-process: ${line(inline)}`);
}

await main();
