// The README documents every flag and variable: it must not drift from src/config/flags.ts.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ENV_ONLY, RUN_FLAGS } from '../../src/config/flags.js';
import { ROOT } from '../helpers/cli.js';

const readme = readFileSync(`${ROOT}README.md`, 'utf8');

t.test('every kuma-dp run flag and its variables are in the README', (t) => {
  for (const flag of RUN_FLAGS) {
    t.ok(readme.includes(`\`--${flag.name}\``), `--${flag.name}`);
    for (const env of flag.env ?? []) t.ok(readme.includes(`\`${env}\``), env);
  }
  for (const e of ENV_ONLY) t.ok(readme.includes(`\`${e.env}\``), e.env);
  t.end();
});

t.test('the README names the two commands that .ci/run and users rely on', (t) => {
  t.match(readme, /npm install && npm run demo/);
  t.match(readme, /\nnpm test\n/);
  t.end();
});
