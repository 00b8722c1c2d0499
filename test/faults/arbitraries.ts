// fast-check generators of hostile input, shared by the fault suite and bench:faults.
import fc from 'fast-check';
import { validDataplane } from './inputs.js';

// Keys and values an attacker would try: built-in property names, odd strings, deep or wide values.
export const nastyKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', '', ' ', 'kuma.io/service', 'a.b', '0'),
  fc.string({ maxLength: 8 }),
);
export const nastyScalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, 65536, 70000, '', 'null', '0.0.0.0', '::', '%zz', '{{x}}', '*a', '&a'),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
export const nastyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, nastyScalar, tie('list'), tie('object')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(nastyKey, tie('value'), { maxKeys: 4 }),
})).value;

/** Paths into a valid Dataplane where a mutation is set. */
const DATAPLANE_PATHS = [
  [],
  ['type'],
  ['mesh'],
  ['name'],
  ['networking'],
  ['networking', 'address'],
  ['networking', 'inbound'],
  ['networking', 'inbound', 0],
  ['networking', 'inbound', 0, 'port'],
  ['networking', 'inbound', 0, 'tags'],
  ['networking', 'inbound', 0, 'tags', 'kuma.io/service'],
  ['networking', 'outbound'],
  ['networking', 'gateway'],
  ['networking', 'transparentProxying'],
  ['metrics'],
  ['metrics', 'conf'],
  ['probes'],
] as const;

/** A valid Dataplane with one field (or a new one) replaced, as JSON text: keys such as __proto__ stay keys. */
export const mutatedDataplane = fc
  .tuple(fc.constantFrom(...DATAPLANE_PATHS), fc.option(nastyKey, { nil: undefined }), nastyValue)
  .map(([path, extraKey, value]) => {
    const doc = validDataplane() as Record<string | number, unknown>;
    let node: Record<string | number, unknown> = doc;
    for (const key of path) {
      if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
      node = node[key] as Record<string | number, unknown>;
    }
    const marker = '"@@marker@@"';
    if (extraKey === undefined && path.length > 0) {
      const parent = path.slice(0, -1).reduce<Record<string | number, unknown>>((n, k) => n[k] as Record<string | number, unknown>, doc);
      parent[path[path.length - 1]!] = '@@marker@@';
    } else {
      node[extraKey ?? 'extra'] = '@@marker@@';
    }
    // The value goes in as text: JSON.stringify keeps a "__proto__" key of a dictionary as a key.
    return JSON.stringify(doc).replace(marker, JSON.stringify(value) ?? 'null');
  });
