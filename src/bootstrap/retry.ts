// Constant-backoff retries bounded by a total duration, as Kuma's kuma-dp does
// with go-retry's WithMaxDuration(max, NewConstant(backoff)): the last wait is
// cut to what is left of the budget, then one final attempt is made.

/** The error every aborted wait or request rejects with (name 'AbortError', as fetch uses). */
export function abortError(message = 'aborted'): Error {
  const err = new Error(message);
  err.name = 'AbortError';
  return err;
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Waits `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError());
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  backoffMs: number;
  maxDurationMs: number;
  signal: AbortSignal;
  /** Whether a failed attempt is worth another; others are rethrown at once. */
  retryable: (err: unknown) => boolean;
  /** Called before each wait, with the error that caused it. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void;
  now?: () => number;
}

/** Raised when the time budget ran out; `lastError` is the final attempt's failure. */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
    readonly elapsedMs: number,
  ) {
    super(`gave up after ${attempts} attempts in ${elapsedMs} ms: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
    this.name = 'RetriesExhaustedError';
  }
}

export async function retryWithConstantBackoff<T>(attempt: (n: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const start = now();
  for (let n = 1; ; n++) {
    if (opts.signal.aborted) throw abortError();
    try {
      return await attempt(n);
    } catch (err) {
      if (opts.signal.aborted || isAbortError(err)) throw abortError();
      if (!opts.retryable(err)) throw err;
      const remaining = opts.maxDurationMs - (now() - start);
      if (remaining <= 0) throw new RetriesExhaustedError(err, n, now() - start);
      const waitMs = Math.min(opts.backoffMs, remaining);
      opts.onRetry?.(err, n, waitMs);
      await sleep(waitMs, opts.signal);
    }
  }
}
