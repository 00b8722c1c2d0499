// MeshAccessLog in the mini-CP: the API checks it as Kuma's validator does
// (and says what the mini-CP does not implement), the store keeps it across
// restarts, and listeners get Envoy's file access logger as Kuma's plugin
// writes it (pkg/plugins/policies/meshaccesslog/plugin/v1alpha1/testdata).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseDataplane } from '../../src/dataplane/parse.js';
import type { MeshAccessLog } from '../../src/minicp/meshaccesslog.js';
import { applyMeshAccessLogs, DEFAULT_TCP_FORMAT } from '../../src/minicp/meshaccesslog-plugin.js';
import { inboundResources, outboundResources } from '../../src/render/resources.js';
import { Templates } from '../../src/render/templates.js';
import { api, inProcessCp } from './fixtures.js';

const tcp = (address: string, format?: unknown) => ({ type: 'Tcp', tcp: { address, ...(format ? { format } : {}) } });
const policy = (name: string, spec: unknown) => ({ type: 'MeshAccessLog', mesh: 'default', name, spec });

t.test('API: valid policies are stored and survive a restart; invalid ones are a 400 naming the field', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storeFile = join(dir, 'store.json');
  const first = (await inProcessCp({ storeFile, workDir: join(dir, 'cp') })).cp;
  const good = policy('logs', { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('127.0.0.1:5000')] } }] });
  t.equal((await api(first, 'PUT', '/meshes/default/meshaccesslogs/logs', good)).status, 201);
  t.equal((await api(first, 'PUT', '/meshes/default/meshaccesslogs/logs', good)).status, 200);

  const cases: Array<[string, unknown, RegExp]> = [
    [
      'file',
      { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [{ type: 'File', file: { path: '/tmp/x' } }] } }] },
      /spec\.to\[0\]\.default\.backends\[0\]\.type: File backends are not implemented/,
    ],
    [
      'no-port',
      { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('logging.backend')] } }] },
      /tcp\.address: tcp backend requires a valid address/,
    ],
    ['no-backends', { to: [{ targetRef: { kind: 'Mesh' }, default: {} }] }, /default\.backends: must be defined/],
    ['nothing', { targetRef: { kind: 'Mesh' } }, /at least one of 'from', 'rules' or 'to'/],
    ['matches', { rules: [{ matches: [{ spiffeId: { type: 'Exact', value: 'x' } }], default: { backends: [] } }] }, /rules\[0\]\.matches: is not implemented/],
    [
      'kind',
      { to: [{ targetRef: { kind: 'MeshHTTPRoute', name: 'r' }, default: { backends: [] } }] },
      /to\[0\]\.targetRef\.kind: 'MeshHTTPRoute' is a Kuma kind/,
    ],
    [
      'json',
      { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('a:1', { type: 'Json', json: [{ key: '', value: 'x' }] })] } }] },
      /json\[0\]\.key: key cannot be empty/,
    ],
    ['plain', { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('a:1', { type: 'Plain' })] } }] }, /format\.plain: must be a non-empty string/],
  ];
  for (const [name, spec, error] of cases) {
    const res = await api(first, 'PUT', `/meshes/default/meshaccesslogs/${name}`, policy(name, spec));
    t.equal(res.status, 400, name);
    const reasons = ((res.json as { invalid_parameters?: Array<{ field: string; reason: string }> }).invalid_parameters ?? []).map(
      (p) => `${p.field}: ${p.reason}`,
    );
    t.match(reasons.join('\n'), error, name);
  }
  await first.close();

  const again = (await inProcessCp({ storeFile, workDir: join(dir, 'cp') })).cp;
  t.teardown(() => again.close());
  const got = await api(again, 'GET', '/meshes/default/meshaccesslogs/logs');
  t.equal(got.status, 200);
  t.match(got.json, { type: 'MeshAccessLog', mesh: 'default', name: 'logs', spec: good.spec });
  t.equal((await api(again, 'DELETE', '/meshes/default/meshaccesslogs/logs')).status, 200);
  t.equal((await api(again, 'GET', '/meshes/default/meshaccesslogs/logs')).status, 404);
});

const templates = Templates.load();
const dp = parseDataplane(
  `type: Dataplane
mesh: default
name: web-1
networking:
  address: 10.0.0.5
  inbound:
    - { port: 10000, servicePort: 8080, tags: { kuma.io/service: web, kuma.io/protocol: http } }
  outbound:
    - { port: 20000, tags: { kuma.io/service: backend, kuma.io/protocol: http } }
    - { port: 20001, tags: { kuma.io/service: db, kuma.io/protocol: tcp } }
`,
  'dp.yaml',
);
const apply = (policies: MeshAccessLog[]) =>
  applyMeshAccessLogs(policies, {
    dp,
    inboundListeners: inboundResources(templates, dp).listeners,
    outboundListeners: outboundResources(templates, dp, { eds: true }).listeners,
    workdir: '/tmp/kuma-dp-1',
    identity: 'web',
  });
type FileLog = { '@type': string; path: string; log_format: { json_format: { address: string; message: unknown }; omit_empty_values?: boolean } };
type Listener = { filter_chains: Array<{ filters: Array<{ typed_config: { access_log?: Array<{ typed_config: FileLog }> } }> }> };
const logsOf = (l: unknown) => (l as Listener).filter_chains[0]!.filters.at(-1)!.typed_config.access_log?.map((a) => a.typed_config) ?? [];
const mal = (name: string, spec: MeshAccessLog['spec']): MeshAccessLog => ({ mesh: 'default', name, spec });

t.test("listeners get Envoy's file access logger as Kuma's plugin writes it", (t) => {
  const { inbound, outbound } = apply([
    mal('all', {
      targetRef: { kind: 'Mesh' },
      from: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('in.logs:5000') as never] } }],
      to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('logging.backend:5000') as never] } }],
    }),
  ]);
  // outbound_tcp_backend_default_format.listener.golden.yaml, with this proxy's values.
  t.same(logsOf(outbound[1]), [
    {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path: '/tmp/kuma-dp-1/kuma-al-web-1-default.sock',
      log_format: {
        json_format: {
          address: 'logging.backend:5000',
          message:
            '[%START_TIME%] %RESPONSE_FLAGS% default 10.0.0.5(web)->%UPSTREAM_HOST%(db) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes\n',
        },
      },
    },
  ]);
  t.match(
    logsOf(outbound[0])[0]!.log_format.json_format.message,
    /^\[%START_TIME%\] default "%REQ\(:METHOD\)% .* "web" "backend" "10\.0\.0\.5" "%UPSTREAM_HOST%"\n$/,
    'HTTP default',
  );
  t.match(
    logsOf(inbound[0])[0],
    { log_format: { json_format: { address: 'in.logs:5000', message: /"unknown" "web" "10\.0\.0\.5"/ } } },
    'inbound: source unknown',
  );
  t.notOk(DEFAULT_TCP_FORMAT.endsWith('\n'), 'the newline is added by the plugin, as Kuma does');
  t.end();
});

t.test('Json format: a struct message; omitEmptyValues', (t) => {
  const { outbound } = apply([
    mal('json', {
      to: [
        {
          targetRef: { kind: 'Mesh' },
          default: {
            backends: [
              tcp('l:1', {
                type: 'Json',
                omitEmptyValues: true,
                json: [
                  { key: 'duration', value: '%DURATION%' },
                  { key: 'dst', value: '%KUMA_DESTINATION_SERVICE%' },
                ],
              }) as never,
            ],
          },
        },
      ],
    }),
  ]);
  t.same(logsOf(outbound[1])[0]!.log_format, { json_format: { address: 'l:1', message: { duration: '%DURATION%', dst: 'db' } }, omit_empty_values: true });
  t.end();
});

t.test('precedence: a MeshService `to` beats a Mesh one, a Dataplane policy beats a Mesh one, an empty list turns logs off', (t) => {
  const { outbound } = apply([
    mal('mesh-wide', { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('mesh:1') as never] } }] }),
    mal('db-only', { to: [{ targetRef: { kind: 'MeshService', name: 'db' }, default: { backends: [tcp('db:1') as never] } }] }),
  ]);
  t.equal(logsOf(outbound[0])[0]!.log_format.json_format.address, 'mesh:1');
  t.equal(logsOf(outbound[1])[0]!.log_format.json_format.address, 'db:1');
  const off = apply([
    mal('a-mesh', { to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('mesh:1') as never] } }] }),
    mal('z-this-proxy', { targetRef: { kind: 'Dataplane', name: 'web-1' }, to: [{ targetRef: { kind: 'Mesh' }, default: { backends: [] } }] }),
  ]);
  t.same(logsOf(off.outbound[0]), [], 'the Dataplane-targeted policy wins, whatever the names');
  const other = apply([
    mal('for-others', {
      targetRef: { kind: 'MeshService', name: 'payments' },
      from: [{ targetRef: { kind: 'Mesh' }, default: { backends: [tcp('x:1') as never] } }],
    }),
  ]);
  t.same(logsOf(other.inbound[0]), [], "a policy for another service's proxies leaves this one alone");
  t.end();
});
