// A logger that keeps its lines, for tests that check what a component logs.
import type { Logger } from '../../src/log/logger.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      lines.push({ level, msg, fields });
    };
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log, lines };
  return log;
}
