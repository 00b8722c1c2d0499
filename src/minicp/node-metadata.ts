// Reading an xDS node's metadata (a google.protobuf.Struct as the ADS server's
// proto loader decodes it: keepCase, so `string_value`; camelCase is accepted too).
import type { Node } from '../xds/ads-server.js';

type StructValue = { kind?: string; string_value?: string; stringValue?: string };

/** A string field of the node's metadata, or undefined when absent or not a string. */
export function nodeMetadataString(node: Node | undefined, key: string): string | undefined {
  const value = (node?.metadata as { fields?: Record<string, StructValue> } | undefined)?.fields?.[key];
  const text = value?.string_value ?? value?.stringValue;
  return typeof text === 'string' ? text : undefined;
}
