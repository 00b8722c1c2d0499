// Hostile inputs shared by the fault suite and bench:faults: the reproductions
// of issue 11 and the valid documents the property tests mutate.

/** A Dataplane the mini-CP and the agent accept. */
export function validDataplane(name = 'web-1'): Record<string, unknown> {
  return {
    type: 'Dataplane',
    mesh: 'default',
    name,
    networking: { address: '127.0.0.1', inbound: [{ port: 10001, servicePort: 8080, tags: { 'kuma.io/service': 'web' } }] },
  };
}

/** Reproduction 3: an object nested `depth` levels deep inside a free-form field. */
export function deeplyNested(depth: number): string {
  const dp = JSON.stringify({ ...validDataplane(), metrics: { type: 'prometheus', conf: '@@' } });
  return dp.replace('"@@"', '{"a":'.repeat(depth) + '1' + '}'.repeat(depth));
}

/** Reproduction 6: a billion-laughs YAML Dataplane (825 bytes in the issue; this one is about as small). */
export function aliasBomb(): string {
  const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i <= 9; i++)
    lines.push(
      `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(',')}]`,
    );
  return `type: Dataplane
mesh: default
name: web-1
networking:
  address: 127.0.0.1
  inbound:
    - port: 10001
      servicePort: 8080
      tags:
        kuma.io/service: web
metrics:
  type: prometheus
  conf:
${lines.map((l) => `    ${l}`).join('\n')}
`;
}

/** Reproduction 1: a null list item. */
export function nullInbound(): string {
  const dp = validDataplane();
  return JSON.stringify({ ...dp, networking: { address: '127.0.0.1', inbound: [null] } });
}

/** Reproduction 2: unknown fields named like built-in object properties. */
export const BUILT_IN_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'] as const;
export function builtInField(name: string): string {
  // Written as text: an object literal with __proto__ would set the prototype instead.
  return JSON.stringify(validDataplane()).replace(/^\{/, `{${JSON.stringify(name)}:{"polluted":true},`);
}

/** Reproduction 5: valid JSON, not a store. */
export const WRONG_STORES = [
  '{"version": 1, "meshes": ["default"], "dataplanes": [null]}',
  '{"version": 1, "meshes": null, "dataplanes": []}',
  '{"version": 1, "meshes": ["default"], "dataplanes": [{"dataplane": null, "origin": "api"}]}',
  '[]',
  'null',
];
