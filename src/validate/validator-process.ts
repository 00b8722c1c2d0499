// Validation in a short-lived child process: the descriptor and everything
// the validator caches live in its memory and go back to the system when it
// exits, so a long-running sidecar (`kuma-dp run`) keeps none of it (a worker
// thread's heap, once freed, stays in the agent's RSS). It is started early,
// so Envoy's types load on the other core while the agent does other work.
import { fork } from 'node:child_process';
import type { ValidationIssue } from './envoy-types.js';

export interface Validator {
  /** Validates one document; the validator exits afterwards. */
  validate(json: unknown, typeName: string): Promise<ValidationIssue[]>;
  /** Stops the validator without validating (the agent is stopping). */
  cancel(): void;
}

export function startValidator(): Validator {
  const child = fork(new URL('./validate-child.js', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
    serialization: 'advanced',
  });
  let failure: Error | undefined;
  let onFailure: ((err: Error) => void) | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    onFailure?.(failure);
  };
  child.once('error', fail);
  child.once('exit', (code, signal) => fail(new Error(`the validator exited (${signal ?? `code ${code}`}) before answering`)));
  let used = false;
  return {
    validate(json, typeName) {
      if (used) return Promise.reject(new Error('a validator validates one document'));
      used = true;
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        onFailure = reject;
        child.once('message', (issues) => {
          onFailure = undefined;
          resolve(issues as ValidationIssue[]);
        });
        child.send({ json, typeName });
      });
    },
    cancel() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

export function validateInChildProcess(json: unknown, typeName: string): Promise<ValidationIssue[]> {
  return startValidator().validate(json, typeName);
}
