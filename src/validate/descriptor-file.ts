// The descriptor's on-disk form, read one entry at a time:
//   a header line  JSON: source, skippedFiles, unverifiable, the table's slot count, the body's size
//   a hash table   per slot three little-endian uint32: hash of the name, offset and length of its entry
//   the body       one JSON line per message or enum
// Opening it reads the header and the table (~25 KB) and parses nothing else;
// a lookup hashes the name, reads that one entry and parses it, so validating
// a bootstrap touches ~50-70 of ~1,200 entries. (A sorted text index was
// tried first: searching it cost more, cold, than the entries themselves.)
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Descriptor, EnumDesc, MessageDesc } from './descriptor.js';

interface Header {
  source: string;
  skippedFiles: string[];
  unverifiable: Record<string, string>;
  /** A power of two; empty slots have length 0. */
  slots: number;
  bodyBytes: number;
}

type Entry = MessageDesc | EnumDesc;

const NEWLINE = 0x0a;
const SLOT_BYTES = 12;

/** FNV-1a over the name's UTF-16 code units. */
function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** The file's bytes for `descriptor`. */
export function serializeDescriptor(descriptor: Descriptor): Buffer {
  const entries: Array<[string, Entry]> = [...Object.entries(descriptor.messages), ...Object.entries(descriptor.enums)];
  let slots = 16;
  while (slots * 0.6 < entries.length) slots *= 2;
  const table = Buffer.alloc(slots * SLOT_BYTES);
  const body: Buffer[] = [];
  let offset = 0;
  for (const [name, desc] of entries) {
    const bytes = Buffer.from(`${JSON.stringify(desc)}\n`);
    const hash = hashName(name);
    let slot = hash & (slots - 1);
    while (table.readUInt32LE(slot * SLOT_BYTES + 8) !== 0) slot = (slot + 1) & (slots - 1);
    table.writeUInt32LE(hash, slot * SLOT_BYTES);
    table.writeUInt32LE(offset, slot * SLOT_BYTES + 4);
    table.writeUInt32LE(bytes.length - 1, slot * SLOT_BYTES + 8);
    body.push(bytes);
    offset += bytes.length;
  }
  const header: Header = { source: descriptor.source, skippedFiles: descriptor.skippedFiles, unverifiable: descriptor.unverifiable, slots, bodyBytes: offset };
  // JSON.stringify never writes a raw newline, so the first one ends the header.
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), table, ...body]);
}

/** Where a descriptor file's bytes are read from: memory, or a file read piece by piece. */
interface Bytes {
  readonly size: number;
  /** Bytes [position, position + length); valid until the next call. */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

function memoryBytes(bytes: Buffer): Bytes {
  return { size: bytes.length, read: (position, length) => bytes.subarray(position, position + length), close: () => undefined };
}

// A file's descriptor is closed when its DescriptorFile is collected without close().
const closeWhenCollected = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
});

class FileBytes implements Bytes {
  private scratch = new Uint8Array(16 * 1024);
  private closed = false;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  read(position: number, length: number): Uint8Array {
    if (this.closed) throw new Error('the descriptor file was closed');
    if (length > this.scratch.length) this.scratch = new Uint8Array(length);
    const read = readSync(this.fd, this.scratch, 0, length, position);
    if (read !== length) throw new Error(`the descriptor file ended early (${read} of ${length} bytes at ${position})`);
    return this.scratch.subarray(0, length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeWhenCollected.unregister(this);
    closeSync(this.fd);
  }
}

const decoder = new TextDecoder();

/** A descriptor file, open for lookups; entries are read and parsed when asked for, and not kept here. */
export class DescriptorFile {
  private constructor(
    private readonly bytes: Bytes,
    private readonly header: Header,
    private readonly table: DataView,
    private readonly bodyStart: number,
  ) {}

  /** The descriptor in `bytes`, or undefined when they are not one in this format (an older format, cut off, damaged). */
  static open(bytes: Buffer): DescriptorFile | undefined {
    return DescriptorFile.from(memoryBytes(bytes));
  }

  /** The descriptor in `path`, read as lookups need it (close() when done); undefined when it is not one in this format. Throws when it cannot be read. */
  static openFile(path: string): DescriptorFile | undefined {
    const fd = openSync(path, 'r');
    try {
      const bytes = new FileBytes(fd, fstatSync(fd).size);
      const file = DescriptorFile.from(bytes);
      if (!file) closeSync(fd);
      else closeWhenCollected.register(file, fd, bytes);
      return file;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static from(bytes: Bytes): DescriptorFile | undefined {
    const headerBytes = firstLineLength(bytes);
    if (headerBytes === undefined) return undefined;
    let header: Header;
    try {
      header = JSON.parse(decoder.decode(bytes.read(0, headerBytes))) as Header;
    } catch {
      return undefined;
    }
    const { slots, bodyBytes } = header ?? {};
    if (typeof header?.source !== 'string' || !Number.isSafeInteger(slots) || slots <= 0 || (slots & (slots - 1)) !== 0 || !Number.isSafeInteger(bodyBytes))
      return undefined;
    const tableStart = headerBytes + 1;
    if (bytes.size !== tableStart + slots * SLOT_BYTES + bodyBytes) return undefined;
    const table = new Uint8Array(bytes.read(tableStart, slots * SLOT_BYTES)); // a copy: a file's read buffer is reused
    return new DescriptorFile(bytes, header, new DataView(table.buffer, table.byteOffset, table.byteLength), tableStart + table.length);
  }

  /** What the descriptor was built from; a different value means it must be rebuilt. */
  get source(): string {
    return this.header.source;
  }

  /** Proto files left out because an import is not shipped. */
  get skippedFiles(): readonly string[] {
    return this.header.skippedFiles;
  }

  /** Messages declared in those files (name → file). */
  get unverifiable(): Readonly<Record<string, string>> {
    return this.header.unverifiable;
  }

  /** How many messages and enums the file holds (counted in the table: nothing is parsed). */
  entryCount(): number {
    let count = 0;
    for (let slot = 0; slot < this.header.slots; slot++) if (this.table.getUint32(slot * SLOT_BYTES + 8, true) > 0) count++;
    return count;
  }

  /** Every message's name, sorted; reads every entry (for tests and tools, not lookups). */
  messageNames(): string[] {
    return this.allEntries()
      .flatMap((e) => (isMessage(e) ? [e.name] : []))
      .sort();
  }

  /** Every enum's name, sorted; reads every entry. */
  enumNames(): string[] {
    return this.allEntries()
      .flatMap((e) => (isMessage(e) ? [] : [e.name]))
      .sort();
  }

  readMessage(name: string): MessageDesc | undefined {
    const entry = this.find(name);
    return entry && isMessage(entry) ? entry : undefined;
  }

  readEnum(name: string): EnumDesc | undefined {
    const entry = this.find(name);
    return entry && !isMessage(entry) ? entry : undefined;
  }

  /** Releases the file (a no-op for one in memory); lookups fail afterwards. */
  close(): void {
    this.bytes.close();
  }

  private find(name: string): Entry | undefined {
    const hash = hashName(name);
    const mask = this.header.slots - 1;
    // Linear probing: at most every slot once; an empty slot ends the search.
    for (let i = 0, slot = hash & mask; i <= mask; i++, slot = (slot + 1) & mask) {
      const length = this.table.getUint32(slot * SLOT_BYTES + 8, true);
      if (length === 0) return undefined;
      if (this.table.getUint32(slot * SLOT_BYTES, true) !== hash) continue;
      const entry = this.entryAt(slot, length);
      if (entry.name === name) return entry;
    }
    return undefined;
  }

  private entryAt(slot: number, length: number): Entry {
    const offset = this.table.getUint32(slot * SLOT_BYTES + 4, true);
    return JSON.parse(decoder.decode(this.bytes.read(this.bodyStart + offset, length))) as Entry;
  }

  private allEntries(): Entry[] {
    const entries: Entry[] = [];
    for (let slot = 0; slot < this.header.slots; slot++) {
      const length = this.table.getUint32(slot * SLOT_BYTES + 8, true);
      if (length > 0) entries.push(this.entryAt(slot, length));
    }
    return entries;
  }
}

const isMessage = (entry: Entry): entry is MessageDesc => 'fields' in entry;

/** Bytes before the first newline; undefined when there is none. */
function firstLineLength(bytes: Bytes): number | undefined {
  for (let chunk = 4096; ; chunk *= 4) {
    const head = bytes.read(0, Math.min(chunk, bytes.size));
    const end = head.indexOf(NEWLINE);
    if (end >= 0) return end;
    if (head.length === bytes.size) return undefined;
  }
}
