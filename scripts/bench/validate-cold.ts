// Cold start of the validator, run by scripts/bench/validate.ts in a fresh
// process: import it, open the descriptor, validate one bootstrap (argv[2]:
// 'typical', or 'rendered' with the sample dataplane's inbounds and outbounds),
// as `kuma-dp run` does. The rendering happens before the clock starts.
import { typicalBootstrap } from './validate-sample.js';

const bootstrap = process.argv[2] === 'rendered' ? (await import('./validate-resources.js')).renderSampleBootstrap() : typicalBootstrap();

const started = performance.now();
const { BOOTSTRAP_TYPE, readDocument } = await import('../../src/validate/validation.js');
const { loadDescriptor } = await import('../../src/validate/descriptor.js');
const { Schema } = await import('../../src/validate/schema.js');
const imported = performance.now();
const schema = new Schema(await loadDescriptor());
const loaded = performance.now();
const { issues } = readDocument(schema, bootstrap, BOOTSTRAP_TYPE);
const validated = performance.now();
if (issues.length > 0) throw new Error(`the benchmark bootstrap is invalid: ${JSON.stringify(issues)}`);
const { parsed, indexed } = schema.entries();
process.stdout.write(
  JSON.stringify({
    ms: validated - started,
    importMs: imported - started,
    loadMs: loaded - imported,
    validateMs: validated - loaded,
    parsed,
    indexed,
    sinceProcessStart: performance.now(),
  }),
);
