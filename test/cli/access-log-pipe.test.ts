// `kuma-dp run` and its access-log pipe, as a user meets them: the FIFO is
// there, in place of what an earlier run left, before Envoy starts; a path
// that cannot be made a pipe stops the agent before Envoy, saying why.
import { lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { bootstrapYaml, jsonBootstrapResponse } from '../helpers/fake-cp.js';
import { waitFor } from '../helpers/wait.js';
import { agentSetup, startAgent } from './agent-harness.js';

process.env.KUMA_READINESS_PORT = '0';

async function setup(t: Test) {
  const { s, cp, dpFile, vars } = await agentSetup(t);
  cp.respond(jsonBootstrapResponse(bootstrapYaml(s.adminPort, { lds: true })));
  const workDir = join(s.dir, 'work');
  mkdirSync(workDir);
  const args = ['--cp-address', cp.url, '-d', dpFile, ...vars, '--work-dir', workDir, '--skip-config-validation'];
  return { s, workDir, pipe: join(workDir, 'kuma-al-web-1-default.sock'), args };
}

t.test('the pipe replaces the regular file an earlier Envoy left, before Envoy starts, and is removed on exit', async (t) => {
  const { s, workDir, pipe, args } = await setup(t);
  writeFileSync(pipe, '{"address":"x:1","message":"an earlier run appended here"}\n');
  const agent = startAgent(s, [...args, '--drain-time', '1s']);
  t.teardown(() => agent.kill('SIGKILL'));
  await waitFor('Envoy double started', () => s.events().find((e) => e.event === 'start'));
  t.ok(lstatSync(pipe).isFIFO(), `${pipe} is a FIFO when Envoy starts`);
  t.equal(lstatSync(pipe).mode & 0o777, 0o666);
  const started = agent.logs().findIndex((l) => l.msg === 'access-log pipe ready');
  t.ok(started >= 0, 'logged');
  t.match(
    agent.logs().find((l) => String(l.msg).startsWith('removed what an earlier run left')),
    { was: 'a regular file' },
  );
  agent.kill('SIGTERM');
  t.equal((await agent.exited).code, 0);
  t.throws(() => lstatSync(pipe), { code: 'ENOENT' }, 'the pipe is removed on exit (the work dir itself was given, so it stays)');
  t.ok(lstatSync(workDir).isDirectory());
});

t.test('a path that cannot become a pipe stops the agent before Envoy, naming it', async (t) => {
  const { s, pipe, args } = await setup(t);
  mkdirSync(pipe);
  writeFileSync(join(pipe, 'keep'), 'not ours to delete');
  const agent = startAgent(s, args);
  const { code } = await agent.exited;
  t.equal(code, 1);
  t.match(agent.stderr(), new RegExp(`Error: cannot create the access-log pipe ${pipe}: cannot remove a directory .*--work-dir`));
  t.same(
    s.events().filter((e) => e.event === 'start'),
    [],
    'Envoy never started',
  );
});
