// Validation in a short-lived worker thread: the descriptor and everything
// the validator caches live in the worker's heap and go away when it exits,
// so a long-running sidecar (`kuma-dp run`) does not keep them.
import { Worker } from 'node:worker_threads';
import type { ValidationIssue } from './envoy-types.js';

export function validateInWorker(json: unknown, typeName: string): Promise<ValidationIssue[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./validate-worker.js', import.meta.url), { workerData: { json, typeName } });
    let answered = false;
    worker.once('message', (issues: ValidationIssue[]) => {
      answered = true;
      resolve(issues);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the validation worker exited with code ${code} before answering`));
    });
  });
}
