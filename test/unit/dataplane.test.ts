import t from 'tap';
import { parseDataplane, renderTemplate, templateVars } from '../../src/dataplane/parse.js';
import { validateDataplane } from '../../src/dataplane/validate.js';

const good = `
type: Dataplane
mesh: default
name: web-1
networking:
  address: 192.168.0.10
  inbound:
    - port: 10000
      servicePort: 8080
      tags: { kuma.io/service: web, kuma.io/protocol: http }
  outbound:
    - port: 20000
      tags: { kuma.io/service: backend }
`;

t.test('a valid Dataplane parses and has no errors', (t) => {
  const dp = parseDataplane(good, 'dp.yaml');
  t.equal(dp.networking.inbound?.[0]?.servicePort, 8080);
  t.same(validateDataplane(dp), []);
  t.end();
});

t.test('an unknown field is an error that names it', (t) => {
  t.throws(
    () => parseDataplane(good.replace('servicePort:', 'servicePrt:'), 'dp.yaml'),
    /dp\.yaml: invalid Dataplane: networking\.inbound\[0\]\.servicePrt: unknown field/,
  );
  t.end();
});

t.test('snake_case proto names are accepted and normalised', (t) => {
  const dp = parseDataplane(good.replace('servicePort:', 'service_port:'), 'dp.yaml');
  t.equal(dp.networking.inbound?.[0]?.servicePort, 8080);
  t.end();
});

t.test('semantic errors name the field', (t) => {
  const dp = parseDataplane(good.replace('192.168.0.10', '0.0.0.0').replace('port: 20000', 'port: 10000').replace('type: Dataplane', 'type: Mesh'), 'dp.yaml');
  const fields = validateDataplane(dp).map((e) => e.field);
  t.same(fields.sort(), ['networking.address', 'networking.outbound[0].port', 'type']);
  t.end();
});

t.test('outbound needs tags or backendRef, not both', (t) => {
  const both = parseDataplane(
    good.replace('tags: { kuma.io/service: backend }', 'tags: { kuma.io/service: backend }\n      backendRef: { kind: MeshService, name: backend, port: 80 }'),
    'dp.yaml',
  );
  t.match(validateDataplane(both), [{ field: 'networking.outbound[0]', message: /not both/ }]);
  t.end();
});

t.test('template variables nest on dots and must all be given', (t) => {
  t.same(templateVars(['a.b=c', 'd=e=f']), { a: { b: 'c' }, d: 'e=f' });
  t.equal(renderTemplate('x: {{a.b}} {{d}}', templateVars(['a.b=c', 'd=<&>']), 'f'), 'x: c <&>');
  t.throws(() => renderTemplate('name: {{name}}', {}, 'dp.yaml'), /template variable 'name' not set; pass --dataplane-var name=<value>/);
  t.end();
});
