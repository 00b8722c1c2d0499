// Prints the README's table of `kuma-dp run` flags and variables from
// src/config/flags.ts, the one place they are defined:
//   node dist/scripts/flags-table.js
import { ENV_ONLY, RUN_FLAGS } from '../src/config/flags.js';

const rows = RUN_FLAGS.map((f) => {
  const name = `\`--${f.name}\`${f.alias ? ` / \`-${f.alias}\`` : ''}`;
  const env = f.env?.length ? f.env.map((e) => `\`${e}\``).join(', ') : '';
  const def = f.default === undefined || f.default === '' ? '' : `\`${String(f.default)}\``;
  return `| ${name} | ${env} | ${def} | ${f.describe.replace(/\|/g, '\\|')} |`;
});
const envRows = ENV_ONLY.map((e) => `| (environment only) | \`${e.env}\` | ${e.default ? `\`${e.default}\`` : ''} | ${e.describe} |`);
process.stdout.write(['| flag | environment variable | default | meaning |', '| --- | --- | --- | --- |', ...rows, ...envRows].join('\n') + '\n');
