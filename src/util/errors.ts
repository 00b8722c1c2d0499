/**
 * An error caused by what the user gave (a flag, a file, the control plane's
 * answer). The CLI prints its message without a stack trace and exits with
 * `exitCode`; anything else is a bug and is printed with its stack.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** One problem in a structured document, located by a dotted path. */
export interface FieldError {
  field: string;
  message: string;
}

export function formatFieldErrors(errors: FieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}
