// Kuma's published bootstrap golden files (pkg/xds/bootstrap/testdata in the
// Kuma source, read in place, never copied here) pass the validator, and each
// of them with one field misspelt fails with that field's path. Runs only
// when KUMA_SOURCE_DIR names a Kuma checkout or bare clone; skipped otherwise.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseYaml } from '../../src/util/yaml.js';
import { TYPE_NAME, loadEnvoyTypes } from '../../src/envoy-codec/envoy-types.js';

const GOLDEN_DIR = 'pkg/xds/bootstrap/testdata';
const kumaDir = process.env.KUMA_SOURCE_DIR;

/** The golden files as name → text, from a checkout or a bare repository; a reason string when there are none. */
function readGoldens(kumaDir: string | undefined): Map<string, string> | string {
  if (!kumaDir) return 'KUMA_SOURCE_DIR is not set (set it to a Kuma checkout or bare clone to check its golden bootstrap files)';
  const checkout = join(kumaDir, GOLDEN_DIR);
  if (existsSync(checkout) && statSync(checkout).isDirectory()) {
    const names = readdirSync(checkout).filter((n) => n.endsWith('.golden.yaml'));
    return new Map(names.map((n) => [n, readFileSync(join(checkout, n), 'utf8')]));
  }
  if (!existsSync(kumaDir)) return `no Kuma source at ${kumaDir} (set KUMA_SOURCE_DIR to a Kuma checkout or bare clone)`;
  try {
    const git = (...args: string[]) => execFileSync('git', ['--git-dir', kumaDir, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
    const paths = git('ls-tree', '-r', '--name-only', 'HEAD', GOLDEN_DIR)
      .split('\n')
      .filter((p) => p.endsWith('.golden.yaml'));
    return new Map(paths.map((p) => [p.slice(GOLDEN_DIR.length + 1), git('show', `HEAD:${p}`)]));
  } catch (err) {
    return `cannot read ${GOLDEN_DIR} from ${kumaDir}: ${(err as Error).message.split('\n')[0]}`;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const step = (path: string, key: string) => (/^[A-Za-z_]\w*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);
const misspell = (key: string) => `${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`;

/** The path of the first object holding "@type" (depth first), and the object. */
function firstAny(value: unknown, path: string): [string, Json] | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstAny(value[i], `${path}[${i}]`);
      if (found) return found;
    }
  } else if (isObject(value)) {
    if ('@type' in value && Object.keys(value).length > 1) return [path, value];
    for (const [k, v] of Object.entries(value)) {
      const found = firstAny(v, step(path, k));
      if (found) return found;
    }
  }
  return undefined;
}

/** Renames `key` in `obj` in place, keeping key order; returns the new name. */
function renameKey(obj: Json, key: string): string {
  const renamed = misspell(key);
  const entries = Object.entries(obj);
  for (const k of Object.keys(obj)) delete obj[k];
  for (const [k, v] of entries) obj[k === key ? renamed : k] = v;
  return renamed;
}

const goldens = readGoldens(kumaDir);
if (typeof goldens === 'string') {
  t.skip(`Kuma golden bootstrap files: ${goldens}`, (t) => t.end());
} else {
  const types = await loadEnvoyTypes();
  t.ok(goldens.size >= 3, `found ${goldens.size} golden files in ${String(kumaDir)}`);
  for (const [name, text] of goldens) {
    t.test(name, (t) => {
      t.same(types.validate(parseYaml(text), TYPE_NAME.bootstrap), [], 'the golden file is valid');

      // one top-level field misspelt
      const top = parseYaml(text) as Json;
      const firstKey = Object.keys(top)[0]!;
      const topName = renameKey(top, firstKey);
      const topIssues = types.validate(top, TYPE_NAME.bootstrap);
      t.ok(
        topIssues.some((i) => i.path === topName && /unknown field/.test(i.message)),
        `'${firstKey}' misspelt as '${topName}' is found: ${JSON.stringify(topIssues)}`,
      );

      // one field inside the first typed config (an Any) misspelt
      const deep = parseYaml(text) as Json;
      const any = firstAny(deep, '');
      t.ok(any, 'the golden file has a typed config');
      if (!any) {
        t.end();
        return;
      }
      const [anyPath, anyObj] = any;
      const key = Object.keys(anyObj).find((k) => k !== '@type')!;
      const renamed = renameKey(anyObj, key);
      const expected = step(anyPath, renamed);
      const deepIssues = types.validate(deep, TYPE_NAME.bootstrap);
      t.ok(
        deepIssues.some((i) => i.path === expected && /unknown field/.test(i.message)),
        `'${key}' misspelt at ${expected} is found: ${JSON.stringify(deepIssues)}`,
      );

      // one field of the first static cluster misspelt
      const clusters = (parseYaml(text) as { staticResources?: { clusters?: Json[] } }).staticResources?.clusters;
      if (clusters?.[0]) {
        const doc = parseYaml(text) as { staticResources: { clusters: Json[] } };
        const cluster = doc.staticResources.clusters[0]!;
        const lastKey = Object.keys(cluster).at(-1)!;
        const clusterName = renameKey(cluster, lastKey);
        const issues = types.validate(doc, TYPE_NAME.bootstrap);
        t.ok(
          issues.some((i) => i.path === `staticResources.clusters[0].${clusterName}` && /unknown field/.test(i.message)),
          `cluster field '${lastKey}' misspelt is found`,
        );
      }
      t.end();
    });
  }
}
