// The project's strict Envoy validator, loaded once and only when a config
// has to be read (it parses a large descriptor).
import type { EnvoyTypes } from '../../src/envoy-codec/envoy-types.js';

export type { EnvoyTypes };

let loaded: Promise<EnvoyTypes> | undefined;

export function envoyTypes(): Promise<EnvoyTypes> {
  loaded ??= import('../../src/envoy-codec/envoy-types.js').then((m) => m.loadEnvoyTypes());
  return loaded;
}
