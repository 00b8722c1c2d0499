// envoy.access_loggers.file: per connection (tcp_proxy) or request (HTTP
// connection manager), one record formatted from Envoy's command operators,
// appended to the logger's path. The file is opened as Envoy's
// AccessLogManager opens it — open(O_WRONLY|O_CREAT|O_APPEND, 0644) when the
// listener is created, on the main thread, so a FIFO that nobody reads blocks
// this double just as it blocks Envoy — and shared by every logger naming the
// same path. Records are written as they come (Envoy buffers them and flushes
// every --file-flush-interval-msec, default 10 s, or past 64 KiB), in order,
// without blocking the event loop.
import { openSync, write } from 'node:fs';
import { ConfigError, type Json } from './config.js';
import type { Log } from './log.js';

export const FILE_ACCESS_LOG_TYPE = 'envoy.extensions.access_loggers.file.v3.FileAccessLog';

/** envoy.config.core.v3.SubstitutionFormatString, as much of it as this double reads. */
interface LogFormat {
  json_format?: Record<string, unknown>;
  text_format_source?: { inline_string?: string };
  text_format?: string;
  omit_empty_values?: boolean;
}

/** envoy.config.accesslog.v3.AccessLog with a FileAccessLog (or another type, passed over). */
interface AccessLogConfig {
  name?: string;
  typed_config?: { '@type'?: string; path?: string; log_format?: LogFormat };
}

const typeOf = (c: AccessLogConfig): string => String(c.typed_config?.['@type'] ?? '').replace(/^.*\//, '');

// Envoy's default access-log format (source/common/formatter/substitution_format_string.cc).
const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** What a record is made of: a TCP connection or an HTTP request, once it is over. */
export interface StreamInfo {
  startTime: Date;
  endTime: Date;
  bytesReceived: number;
  bytesSent: number;
  /** `ip:port` of the upstream host, when one was picked. */
  upstreamHost?: string;
  upstreamCluster?: string;
  /** Envoy's short flags (UF, UH, NR, UT…); none is '-'. */
  responseFlags: string[];
  /** 'HTTP/1.1' or 'HTTP/2'; absent for TCP. */
  protocol?: string;
  /** 0 for TCP, as Envoy. */
  responseCode: number;
  requestHeaders?: Record<string, string | string[] | undefined>;
  responseHeaders?: Record<string, string | string[] | number | undefined>;
  downstreamRemote?: { address: string; port: number };
  downstreamLocal?: { address: string; port: number };
}

type Value = string | number | undefined;
type Operator = (s: StreamInfo) => Value;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The strftime subset Kuma's and Envoy's default formats use, in UTC; %s is epoch seconds, %E3S seconds with milliseconds. */
function strftime(format: string, d: Date): string {
  return format.replace(/%(E3S|[YmdHMSsz%])/g, (_m, f: string) => {
    switch (f) {
      case 'Y':
        return String(d.getUTCFullYear());
      case 'm':
        return pad(d.getUTCMonth() + 1);
      case 'd':
        return pad(d.getUTCDate());
      case 'H':
        return pad(d.getUTCHours());
      case 'M':
        return pad(d.getUTCMinutes());
      case 'S':
        return pad(d.getUTCSeconds());
      case 'E3S':
        return `${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
      case 's':
        return String(Math.floor(d.getTime() / 1000));
      case 'z':
        return '+0000';
      default:
        return '%';
    }
  });
}

function header(headers: StreamInfo['requestHeaders'] | StreamInfo['responseHeaders'], names: string[]): Value {
  for (const name of names) {
    const v = headers?.[name.toLowerCase()];
    if (v !== undefined && v !== '') return Array.isArray(v) ? v.join(',') : String(v);
  }
  return undefined;
}

const addr = (a: { address: string; port: number } | undefined, withPort: boolean): Value =>
  a ? (withPort ? (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : a.address) : undefined;

const NUMERIC = new Set(['DURATION', 'BYTES_SENT', 'BYTES_RECEIVED', 'RESPONSE_CODE']);

/** One command operator (without its %s): its value for a record. Unknown operators are a config error, as in Envoy. */
function operator(name: string, arg: string | undefined, maxLen: number | undefined): Operator {
  const cut = (op: Operator): Operator => (maxLen === undefined ? op : (s) => (typeof op(s) === 'string' ? (op(s) as string).slice(0, maxLen) : op(s)));
  switch (name) {
    case 'START_TIME':
      return (s) => (arg ? strftime(arg, s.startTime) : s.startTime.toISOString());
    case 'DURATION':
      return (s) => s.endTime.getTime() - s.startTime.getTime();
    case 'BYTES_SENT':
      return (s) => s.bytesSent;
    case 'BYTES_RECEIVED':
      return (s) => s.bytesReceived;
    case 'RESPONSE_CODE':
      return (s) => s.responseCode;
    case 'RESPONSE_FLAGS':
      return (s) => (s.responseFlags.length ? s.responseFlags.join(',') : undefined);
    case 'PROTOCOL':
      return (s) => s.protocol;
    case 'UPSTREAM_HOST':
      return (s) => s.upstreamHost;
    case 'UPSTREAM_CLUSTER':
      return (s) => s.upstreamCluster;
    case 'DOWNSTREAM_REMOTE_ADDRESS':
      return (s) => addr(s.downstreamRemote, true);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (s) => addr(s.downstreamRemote, false);
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return (s) => addr(s.downstreamLocal, true);
    case 'DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT':
      return (s) => addr(s.downstreamLocal, false);
    case 'REQ':
    case 'RESP': {
      if (!arg) throw new ConfigError(`Invalid header configuration. Format string contains empty header.`);
      const names = arg.split('?');
      return cut((s) => header(name === 'REQ' ? s.requestHeaders : s.responseHeaders, names));
    }
    default:
      throw new ConfigError(`Not supported field in StreamInfo: ${name}`);
  }
}

type Piece = string | Operator;

/** A format string → literal text and operators (%NAME%, %NAME(arg)%, %NAME(arg):maxlen%; %% is a literal %). */
function parseFormat(format: string): { pieces: Piece[]; numeric: boolean } {
  const pieces: Piece[] = [];
  const re = /%%|%([A-Z_0-9]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let operators = 0;
  let numeric = false;
  while ((m = re.exec(format))) {
    if (m.index > last) pieces.push(format.slice(last, m.index));
    last = re.lastIndex;
    if (m[0] === '%%') {
      pieces.push('%');
      continue;
    }
    operators++;
    numeric = NUMERIC.has(m[1]!);
    pieces.push(operator(m[1]!, m[2], m[3] === undefined ? undefined : Number(m[3])));
  }
  if (last < format.length) pieces.push(format.slice(last));
  return { pieces, numeric: numeric && operators === 1 && pieces.length === 1 };
}

function formatText(pieces: Piece[], s: StreamInfo): string {
  return pieces.map((p) => (typeof p === 'string' ? p : (p(s) ?? '-'))).join('');
}

type Formatter = (s: StreamInfo) => string;

/** A SubstitutionFormatString: text (text_format_source / text_format) or json_format; none gives Envoy's default. */
export function formatter(logFormat: LogFormat | undefined): Formatter {
  if (logFormat?.json_format) {
    const omitEmpty = logFormat.omit_empty_values === true;
    const build = (value: unknown): ((s: StreamInfo) => unknown) => {
      if (typeof value === 'string') {
        const { pieces, numeric } = parseFormat(value);
        return (s) => {
          if (numeric) return (pieces[0] as Operator)(s) ?? null;
          const parts = pieces.map((p) => (typeof p === 'string' ? p : p(s)));
          if (pieces.length === 1 && typeof pieces[0] !== 'string') return parts[0] === undefined ? null : String(parts[0]);
          return parts.map((p) => p ?? '-').join('');
        };
      }
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const fields = Object.entries(value as Json)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([k, v]) => [k, build(v)] as const);
        return (s) => {
          const out: Json = {};
          for (const [k, f] of fields) {
            const v = f(s);
            if (omitEmpty && (v === null || v === '')) continue;
            out[k] = v;
          }
          return out;
        };
      }
      return () => value;
    };
    const top = build(logFormat.json_format);
    return (s) => JSON.stringify(top(s)) + '\n';
  }
  const text = logFormat?.text_format_source?.inline_string ?? logFormat?.text_format ?? DEFAULT_FORMAT;
  if (logFormat?.text_format_source && logFormat.text_format_source.inline_string === undefined)
    throw new ConfigError('access log text_format_source: only inline_string is implemented by this test double');
  const { pieces } = parseFormat(text);
  return (s) => formatText(pieces, s);
}

interface SharedFile {
  fd: number;
  queue: Buffer[];
  writing: boolean;
  queuedBytes: number;
}

const files = new Map<string, SharedFile>();
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

function openShared(path: string): SharedFile {
  let file = files.get(path);
  if (!file) {
    // As Envoy: blocking, on the main thread; a FIFO without a reader stops everything here.
    file = { fd: openSync(path, 'a', 0o644), queue: [], writing: false, queuedBytes: 0 };
    files.set(path, file);
  }
  return file;
}

function pump(file: SharedFile, log: Log, path: string): void {
  if (file.writing || file.queue.length === 0) return;
  const chunk = Buffer.concat(file.queue);
  file.queue = [];
  file.queuedBytes = 0;
  file.writing = true;
  write(file.fd, chunk, (err) => {
    file.writing = false;
    if (err) log('warning', `access log ${path}: write failed: ${err.message}`);
    pump(file, log, path);
  });
}

export type AccessLogger = (s: StreamInfo) => void;

/** Checks a filter's `access_log` list (unknown operators are a config error) without opening anything. */
export function checkAccessLogs(configs: unknown): void {
  for (const c of (configs ?? []) as AccessLogConfig[]) if (typeOf(c) === FILE_ACCESS_LOG_TYPE) formatter(c.typed_config?.log_format);
}

/** The file access loggers of a filter's `access_log` list; other logger types are passed over with a warning. */
export function accessLoggers(configs: unknown, log: Log): AccessLogger[] {
  const out: AccessLogger[] = [];
  for (const c of (configs ?? []) as AccessLogConfig[]) {
    if (typeOf(c) !== FILE_ACCESS_LOG_TYPE) {
      log('warning', `access logger '${c.name}' (${typeOf(c)}) is not implemented by this test double; it logs nothing`);
      continue;
    }
    const path = String(c.typed_config?.path);
    const format = formatter(c.typed_config?.log_format);
    const file = openShared(path);
    out.push((s) => {
      const line = Buffer.from(format(s), 'utf8');
      if (file.queuedBytes + line.length > MAX_QUEUED_BYTES) return; // bounded, so a reader that stopped cannot grow this double's memory
      file.queue.push(line);
      file.queuedBytes += line.length;
      pump(file, log, path);
    });
  }
  return out;
}
