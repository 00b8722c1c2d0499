// Cold start of the validator, run by scripts/bench/validate.ts in a fresh
// process: import, load the descriptor, validate a typical bootstrap.
import { typicalBootstrap } from './validate-sample.js';

const started = performance.now();
const { loadEnvoyTypes } = await import('../../src/validate/envoy-types.js');
const types = await loadEnvoyTypes();
const issues = types.validate(typicalBootstrap(), 'envoy.config.bootstrap.v3.Bootstrap');
if (issues.length > 0) throw new Error(`the benchmark bootstrap is invalid: ${JSON.stringify(issues)}`);
process.stdout.write(JSON.stringify({ ms: performance.now() - started, sinceProcessStart: performance.now() }));
