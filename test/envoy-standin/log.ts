// Log lines on stderr in the shape of Envoy's default format
// ("[%Y-%m-%d %T.%e][%t][%l][%n] %v"), so tools that read Envoy's output can
// read ours. Every component logs through one sink.
import { appendFileSync } from 'node:fs';
import { LOG_LEVELS } from './cli.js';

const SEVERITY: Record<string, number> = { trace: 0, debug: 1, info: 2, warning: 3, warn: 3, error: 4, critical: 5, off: 6 };

let threshold = SEVERITY.info!;
let write = (line: string): void => void process.stderr.write(line);

/** --log-path: log lines go to this file instead of stderr, as Envoy does. */
export function setLogPath(path: string): void {
  write = (line) => appendFileSync(path, line);
}
const componentThreshold = new Map<string, number>();

export function setLevels(level: string, componentLevels: string): void {
  threshold = SEVERITY[level] ?? SEVERITY.info!;
  componentThreshold.clear();
  for (const part of componentLevels ? componentLevels.split(',') : []) {
    const [name, lvl] = part.split(':');
    if (name && lvl && (LOG_LEVELS as readonly string[]).includes(lvl)) componentThreshold.set(name, SEVERITY[lvl]!);
  }
}

function timestamp(d: Date): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

export type Level = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical';

export interface Log {
  (level: Level, msg: string): void;
}

export function logger(component: string): Log {
  return (level, msg) => {
    const min = componentThreshold.get(component) ?? threshold;
    if (SEVERITY[level]! < min) return;
    write(`[${timestamp(new Date())}][${process.pid}][${level}][${component}] ${msg}\n`);
  };
}
