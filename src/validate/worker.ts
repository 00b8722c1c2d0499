// Validation in a short-lived worker thread: the descriptor and everything
// the validator caches live in the worker's heap and go away when it exits,
// so a long-running sidecar (`kuma-dp run`) does not keep them. The worker
// can be started early, so Envoy's types load while other work goes on.
import { Worker } from 'node:worker_threads';
import type { ValidationIssue } from './envoy-types.js';

export interface Validator {
  /** Validates one document; the worker exits afterwards. */
  validate(json: unknown, typeName: string): Promise<ValidationIssue[]>;
  /** Stops the worker without validating (the agent is stopping). */
  cancel(): void;
}

export function startValidator(): Validator {
  const worker = new Worker(new URL('./validate-worker.js', import.meta.url));
  let failure: Error | undefined;
  let onFailure: ((err: Error) => void) | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    onFailure?.(failure);
  };
  worker.once('error', fail);
  worker.once('exit', (code) => fail(new Error(`the validation worker exited with code ${code} before answering`)));
  let used = false;
  return {
    validate(json, typeName) {
      if (used) return Promise.reject(new Error('a validator validates one document'));
      used = true;
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        onFailure = reject;
        worker.once('message', (issues: ValidationIssue[]) => {
          onFailure = undefined;
          resolve(issues);
        });
        worker.postMessage({ json, typeName });
      });
    },
    cancel() {
      void worker.terminate();
    },
  };
}

export function validateInWorker(json: unknown, typeName: string): Promise<ValidationIssue[]> {
  return startValidator().validate(json, typeName);
}
