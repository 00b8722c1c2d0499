// Entry point of the worker started by validateInWorker (worker.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { loadEnvoyTypes } from './envoy-types.js';

const { json, typeName } = workerData as { json: unknown; typeName: string };
const types = await loadEnvoyTypes();
parentPort!.postMessage(types.validate(json, typeName));
