import { redactText } from './redact.js';

/**
 * An error caused by what the user gave (a flag, a file, the control plane's
 * answer). The CLI prints its message without a stack trace and exits with
 * `exitCode`; anything else is a bug and is printed with its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * How a command line reports the error that ended it: a UserError's message
 * and exit code, anything else (a bug) with its stack and exit code 2.
 * Returns the exit code.
 */
export function reportFailure(program: string, err: unknown): number {
  if (err instanceof UserError) {
    process.stderr.write(`Error: ${redactText(err.message)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`${program}: unexpected error: ${redactText(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  return 2;
}

/** One problem in a structured document, located by a dotted path. */
export interface FieldError {
  field: string;
  message: string;
}

export function formatFieldErrors(errors: FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}
