// Entry point of the worker started by startValidator (worker.ts): loads
// Envoy's types at once, then validates the one document it is sent.
import { parentPort } from 'node:worker_threads';
import { loadEnvoyTypes } from './envoy-types.js';

const types = loadEnvoyTypes();
parentPort!.once('message', async ({ json, typeName }: { json: unknown; typeName: string }) => {
  parentPort!.postMessage((await types).validate(json, typeName));
  parentPort!.close();
});
