// Structured logging: one JSON object per line on stderr, as a sidecar's logs
// are read by machines (journald, kubectl logs | jq) more than by people.
// Hand-written rather than pino: pino's import alone costs more start-up time
// than this whole agent's logging needs, and we log a few lines a minute.

import { isoTime } from '../util/iso-time.js';
import { redact, redactText } from '../util/redact.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

let threshold: number = order.info;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevel(level: string): void {
  const known = (order as Record<string, number>)[level];
  if (known === undefined) {
    throw new Error(`unknown log level '${level}': use one of ${Object.keys(order).join(', ')}`);
  }
  threshold = known;
}

/** Redirects output; tests and embedders (startMiniCp) use it. Returns the previous sink. */
export function setLogSink(next: (line: string) => void): (line: string) => void {
  const previous = sink;
  sink = next;
  return previous;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
}

export function createLogger(name: string): Logger {
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (order[level] < threshold) return;
    const record = { ts: isoTime(), level, logger: name, msg: redactText(msg), ...(fields ? (redact(fields) as object) : {}) };
    sink(JSON.stringify(record));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (sub) => createLogger(`${name}.${sub}`),
  };
}
