// One line of the access-log pipe → where it goes and the bytes to send, in
// the two forms Kuma's streamer reads (app/kuma-dp/pkg/dataplane/accesslogs):
//  - a JSON object {"address": "<host:port>", "message": <string|any>} (what
//    MeshAccessLog's Tcp backend makes Envoy write): a string message is sent
//    as is (the control plane ends the format with a newline), anything else
//    is re-encoded as Go's json.Marshal does, plus a newline;
//  - otherwise the legacy TrafficLog form `address;message`, split on the
//    first `;`, the message keeping its newline.
import { goJsonMarshal } from './go-json.js';
import { DOCUMENT_LIMITS, readJsonDocument } from '../util/document.js';

/** A line is bounded by the streamer (1 MiB by default); its nesting and values are bounded here. */
const ACCESS_LOG_LINE_LIMITS = { ...DOCUMENT_LIMITS, maxBytes: Number.MAX_SAFE_INTEGER, maxDepth: 256, maxValues: 1_000_000 };

export type AccessLogRecord = { address: string; message: Buffer } | { invalid: string };

const NEWLINE = Buffer.from('\n');

/**
 * Go decodes the line into struct{Address string; Message any}: key names match
 * case-insensitively (the last matching key wins), and a non-string address
 * fails the decode, so the line is read in the legacy form instead.
 */
function fromJson(value: unknown): AccessLogRecord | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  let address: unknown = '';
  let message: unknown = null;
  for (const [key, v] of Object.entries(value)) {
    const folded = key.toLowerCase();
    if (folded === 'address') address = v;
    else if (folded === 'message') message = v;
  }
  if (address === null) address = '';
  if (typeof address !== 'string') return undefined;
  if (typeof message === 'string') return { address, message: Buffer.from(message, 'utf8') };
  return { address, message: Buffer.concat([Buffer.from(goJsonMarshal(message), 'utf8'), NEWLINE]) };
}

/** Parses one line as read from the pipe, its trailing newline included. */
export function parseRecord(line: Buffer): AccessLogRecord {
  if (line.includes(0x7b /* { */)) {
    let value: unknown;
    try {
      // The pipe is writable by any local process: the strict reader bounds nesting, so re-encoding
      // the message cannot overflow the stack (a JSON line it refuses is read in the legacy form).
      value = readJsonDocument(line.toString('utf8'), ACCESS_LOG_LINE_LIMITS);
    } catch {
      value = undefined;
    }
    const record = fromJson(value);
    if (record) return record;
  }
  const semicolon = line.indexOf(0x3b /* ; */);
  if (semicolon < 0) return { invalid: "expected a JSON object {address, message} or 'address;message'" };
  return { address: line.subarray(0, semicolon).toString('utf8'), message: line.subarray(semicolon + 1) };
}
