// Benchmark of the Envoy config validator (npm run build, then
// `node dist/scripts/bench/validate.js`):
//  - cold: a fresh process imports the validator, opens the descriptor and validates a bootstrap
//    (the typical one, and one with rendered inbounds and outbounds), as `kuma-dp run` does (median of runs);
//  - warm: validate (and encode) per resource once loaded, median over many rounds;
//  - memory: RSS and JS heap after one validation with a schema that is dropped (kuma-dp run) vs kept (mini-CP).
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
  const child = (script: string, ...args: string[]) =>
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', script, ...args], { encoding: 'utf8' })) as Record<string, number>;

  for (const bootstrap of ['typical', 'rendered']) {
    const colds = Array.from({ length: 9 }, () => child(COLD, bootstrap));
    const at = (key: string) => median(colds.map((c) => c[key]!)).toFixed(1);
    console.log(
      `cold, ${bootstrap} bootstrap: ${at('ms')} ms median of ${colds.length} fresh processes = import the validator ${at('importMs')} ms + open the descriptor ${at('loadMs')} ms + validate ${at('validateMs')} ms;` +
        ` ${colds[0]!.parsed} of ${colds[0]!.indexed} descriptor entries parsed`,
    );
  }

  const { loadEnvoyTypes } = await import('../../src/envoy-codec/envoy-types.js');
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
  console.log(
    `warm: validate ${(median(validateTimes) * 1000).toFixed(1)} µs/resource, encode (validate + binary) ${(median(encodeTimes) * 1000).toFixed(1)} µs/resource (median of ${rounds} rounds over ${resources.length} resources: rendered listeners, clusters, load assignments, and a bootstrap); bootstrap alone ${(median(bootstrapTimes) * 1000).toFixed(1)} µs`,
  );

  const once = child(MEMORY, 'once');
  const kept = child(MEMORY, 'kept');
  const line = (r: Record<string, number>) =>
    `RSS ${mb(r.before!)} → ${mb(r.after!)} (${signed(r.after! - r.before!)}), JS heap ${signed(r.heapAfter! - r.heapBefore!)}, external ${signed(r.externalAfter! - r.externalBefore!)}`;
  console.log(
    `memory after one bootstrap validation (code already imported, after GC): schema dropped (validateOnce, kuma-dp run): ${line(once)}; schema kept (loadEnvoyTypes): ${line(kept)}`,
  );
}

await main();
