// Fast look-ups over the descriptor, built lazily per message so a process
// only pays for the types it actually meets: a message or enum is parsed from
// the descriptor file when first asked for, then kept here.
import type { DescriptorFile } from './descriptor-file.js';
import type { EnumDesc, FieldDesc, MessageDesc } from './descriptor.js';

/** A message value read from JSON or binary: the fields that are present, in a form the wire encoder writes. */
export interface NMessage {
  desc: MessageDesc;
  values: Map<FieldDesc, NValue>;
}

/**
 * number: 32-bit ints, floats, doubles, enums; bigint: 64-bit ints; a
 * Uint8Array or an NMessage (Any.value) for bytes; arrays for repeated
 * fields; [key, value] pairs for maps.
 */
export type NValue = number | bigint | string | boolean | Uint8Array | NMessage | NValue[] | Array<[NScalarKey, NValue]>;
export type NScalarKey = string | number | bigint | boolean;

export const WELL_KNOWN = 'google.protobuf.';

export class Schema {
  private readonly messages = new Map<string, MessageDesc>();
  private readonly enums = new Map<string, EnumDesc>();
  private readonly byKey = new WeakMap<MessageDesc, Map<string, FieldDesc>>();
  private readonly byId = new WeakMap<MessageDesc, Map<number, FieldDesc>>();
  private readonly enumNames = new WeakMap<EnumDesc, Map<number, string>>();

  constructor(readonly descriptor: DescriptorFile) {}

  message(name: string): MessageDesc | undefined {
    return cached(this.messages, name, () => this.descriptor.readMessage(name));
  }

  enum(name: string): EnumDesc | undefined {
    return cached(this.enums, name, () => this.descriptor.readEnum(name));
  }

  /** The file a message Envoy knows was declared in, when that file could not be read (see DescriptorFile.unverifiable). */
  unverifiableFile(name: string): string | undefined {
    return Object.hasOwn(this.descriptor.unverifiable, name) ? this.descriptor.unverifiable[name] : undefined;
  }

  /** How many messages and enums this schema has parsed, of how many the descriptor holds. */
  entries(): { parsed: number; indexed: number } {
    return { parsed: this.messages.size + this.enums.size, indexed: this.descriptor.entryCount() };
  }

  /** A message's fields by their proto name and their JSON name. */
  fieldsByKey(desc: MessageDesc): Map<string, FieldDesc> {
    let index = this.byKey.get(desc);
    if (!index) {
      index = new Map();
      for (const f of desc.fields) {
        index.set(f.name, f);
        index.set(f.json, f);
      }
      this.byKey.set(desc, index);
    }
    return index;
  }

  fieldsById(desc: MessageDesc): Map<number, FieldDesc> {
    let index = this.byId.get(desc);
    if (!index) {
      index = new Map(desc.fields.map((f) => [f.id, f]));
      this.byId.set(desc, index);
    }
    return index;
  }

  /** The (first) name of an enum number, or undefined when the number is not defined. */
  enumName(desc: EnumDesc, value: number): string | undefined {
    let names = this.enumNames.get(desc);
    if (!names) {
      names = new Map();
      for (const [name, n] of Object.entries(desc.values)) if (!names.has(n)) names.set(n, name);
      this.enumNames.set(desc, names);
    }
    return names.get(value);
  }
}

// Only found entries are kept: names that miss come from documents (an Any's @type) and would grow the cache without bound.
function cached<T>(cache: Map<string, T>, name: string, read: () => T | undefined): T | undefined {
  let value = cache.get(name);
  if (value === undefined) {
    value = read();
    if (value !== undefined) cache.set(name, value);
  }
  return value;
}

/** The message name a type URL names: the part after the last '/'. */
export function typeNameOfUrl(url: string): string | undefined {
  const slash = url.lastIndexOf('/');
  return slash < 0 || slash === url.length - 1 ? undefined : url.slice(slash + 1);
}
