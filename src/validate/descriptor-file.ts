// The descriptor's on-disk form, read one entry at a time: JSON Lines, a
// header (source, skipped files, unverifiable messages, and the byte range of
// each message's and enum's line), then one line per message or enum.
// Opening it parses the header only; an entry is parsed when it is looked up,
// so validating one bootstrap parses a few hundred of ~3,000 entries.
import type { Descriptor, EnumDesc, MessageDesc } from './descriptor.js';

/** Byte range [start, length] of an entry, counted from the end of the header line. */
type Span = [number, number];

interface Header {
  source: string;
  skippedFiles: string[];
  unverifiable: Record<string, string>;
  /** Bytes after the header line: a shorter file was cut off. */
  bodyLength: number;
  messages: Record<string, Span>;
  enums: Record<string, Span>;
}

const NEWLINE = 0x0a;

/** The file's bytes for `descriptor`. */
export function serializeDescriptor(descriptor: Descriptor): Buffer {
  const entries: Buffer[] = [];
  let offset = 0;
  const place = (described: Record<string, MessageDesc | EnumDesc>): Record<string, Span> => {
    const index: Record<string, Span> = {};
    for (const [name, desc] of Object.entries(described)) {
      const bytes = Buffer.from(`${JSON.stringify(desc)}\n`);
      index[name] = [offset, bytes.length - 1];
      entries.push(bytes);
      offset += bytes.length;
    }
    return index;
  };
  const messages = place(descriptor.messages);
  const enums = place(descriptor.enums);
  const header: Header = { source: descriptor.source, skippedFiles: descriptor.skippedFiles, unverifiable: descriptor.unverifiable, bodyLength: offset, messages, enums };
  // JSON.stringify never writes a raw newline, so each newline ends a line.
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...entries]);
}

/** A descriptor file held as bytes (off the JS heap); entries are parsed on lookup and not kept. */
export class DescriptorFile {
  private constructor(
    private readonly bytes: Buffer,
    private readonly header: Header,
    private readonly bodyStart: number,
  ) {}

  /** The file in `bytes`, or undefined when they are not one in this format (an older format, cut off, damaged). */
  static open(bytes: Buffer): DescriptorFile | undefined {
    const end = bytes.indexOf(NEWLINE);
    if (end < 0) return undefined;
    let header: Header;
    try {
      header = JSON.parse(bytes.toString('utf8', 0, end)) as Header;
    } catch {
      return undefined;
    }
    if (typeof header?.source !== 'string' || typeof header.messages !== 'object' || typeof header.enums !== 'object') return undefined;
    if (bytes.length !== end + 1 + header.bodyLength) return undefined;
    return new DescriptorFile(bytes, header, end + 1);
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

  messageNames(): string[] {
    return Object.keys(this.header.messages);
  }

  enumNames(): string[] {
    return Object.keys(this.header.enums);
  }

  readMessage(name: string): MessageDesc | undefined {
    return this.entry(this.header.messages, name) as MessageDesc | undefined;
  }

  readEnum(name: string): EnumDesc | undefined {
    return this.entry(this.header.enums, name) as EnumDesc | undefined;
  }

  private entry(index: Record<string, Span>, name: string): unknown {
    if (!Object.hasOwn(index, name)) return undefined;
    const [offset, length] = index[name]!;
    const start = this.bodyStart + offset;
    return JSON.parse(this.bytes.toString('utf8', start, start + length));
  }
}
