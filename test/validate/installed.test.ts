// An installation has the descriptor the build made, not Envoy's .proto files
// (their package is a dev dependency): `kuma-dp validate` works from the
// shipped descriptor alone, and a damaged one is named with the fix.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { installationCopy, run } from '../helpers/cli.js';

const BOOTSTRAP = `
node: { id: default.web-1, cluster: web }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
static_resources:
  clusters:
    - name: app
      type: STATIC
      connect_timeout: 1s
      load_assignment: { cluster_name: app, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } } }] }] }
`;

t.test("an installation without Envoy's .proto files validates with the shipped descriptor", async (t) => {
  const root = installationCopy(t.testdir({ 'bootstrap.yaml': BOOTSTRAP, 'bad.yaml': BOOTSTRAP.replace('port_value: 8080', 'port_value: 80800') }), {
    distSrc: true,
  });
  // Where the build found the protos: an installation's copy points at a build machine, or is gone.
  rmSync(join(root, 'dist/src/xds/proto-source.json'));
  const kumaDp = join(root, 'bin', 'kuma-dp');

  const ok = await run(kumaDp, ['validate', join(root, '..', 'bootstrap.yaml')]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /OK\n$/);
  const bad = await run(kumaDp, ['validate', join(root, '..', 'bad.yaml')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /port_value/, 'the shipped descriptor carries the rules');

  const descriptor = join(root, 'dist/src/validate/envoy-descriptor.bin');
  writeFileSync(descriptor, readFileSync(descriptor).subarray(0, 5000));
  const damaged = await run(kumaDp, ['validate', join(root, '..', 'bootstrap.yaml')]);
  t.equal(damaged.code, 1);
  t.match(damaged.stderr, `Envoy's descriptor ${descriptor} is missing, damaged or of another kuma-dp version: reinstall kuma-dp`);
});
