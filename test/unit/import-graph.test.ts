// The layering of src/ (src/README.md) holds: no module imports from a folder
// in its own or a higher layer, and every folder has a layer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import { ROOT } from '../helpers/cli.js';

const SRC = join(ROOT, 'src');

/** Folder → layer number, from the numbered list under "## Layering". */
function layering(readme: string): Map<string, number> {
  const section = readme.split(/^## Layering$/m)[1]?.split(/^## /m)[0] ?? '';
  const layers = new Map<string, number>();
  for (const line of section.split('\n')) {
    const m = /^(\d+)\. (.*?) — /.exec(line);
    if (!m) continue;
    for (const folder of m[2]!.matchAll(/`([^`]+)`/g)) layers.set(folder[1]!, Number(m[1]));
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The relative specifiers a module imports: static imports and exports, `import()` and `import('...')` types. */
export function importsOf(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)'(\.{1,2}\/[^']+)'/gm)) found.add(m[1]!);
  return [...found];
}

const folderOf = (file: string): string => relative(SRC, file).split('/')[0]!;

t.test('imports find what they name', (t) => {
  t.same(
    importsOf(
      `import { a } from '../util/errors.js';\nimport type { B } from './b.js';\nconst c = await import('../log/logger.js');\nimport './side.js';\nexport { d } from '../x/d.js';`,
    ),
    ['../util/errors.js', './b.js', '../log/logger.js', './side.js', '../x/d.js'],
  );
  t.same(importsOf(`import x from 'node:fs';\nimport y from 'undici';`), [], 'packages are not ours');
  t.end();
});

t.test('no module under src/ imports from its own layer or a higher one', (t) => {
  const layers = layering(readFileSync(join(SRC, 'README.md'), 'utf8'));
  t.ok(layers.size > 10, 'src/README.md lists the layering');
  const folders = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  for (const folder of folders) t.ok(layers.has(folder), `src/${folder} has a layer in src/README.md (add it to the layer it belongs to)`);

  const breaks: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      if (relative(SRC, target).startsWith('..')) continue; // outside src (none today)
      const to = folderOf(target);
      if (to === from || !layers.has(from) || !layers.has(to)) continue;
      if (layers.get(to)! >= layers.get(from)!) {
        breaks.push(`src/${relative(SRC, file)} (layer ${layers.get(from)}) imports ${spec} (src/${to}, layer ${layers.get(to)})`);
      }
    }
  }
  t.same(breaks, [], 'every import goes to a lower layer');
  t.end();
});
