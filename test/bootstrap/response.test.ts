import t from 'tap';
import { decodeBootstrapResponse, encodeBootstrapResponse } from '../../src/bootstrap/response.js';

const YAML = '# from the CP\nadmin:\n  address: {}\nnode:\n  id: x\n';
const b64 = Buffer.from(YAML).toString('base64');

t.test('Kuma JSON: base64 bootstrap and the sidecar configuration', (t) => {
  const sidecar = { networking: { address: '10.0.0.1' }, metrics: { aggregate: [{ name: 'app', address: '127.0.0.1', port: 123, path: '/stats' }] } };
  t.same(decodeBootstrapResponse('application/json', JSON.stringify({ bootstrap: b64, kumaSidecarConfiguration: sidecar })), {
    bootstrapYaml: YAML,
    kumaSidecarConfiguration: sidecar,
  });
  t.same(decodeBootstrapResponse('application/json; charset=utf-8', JSON.stringify({ bootstrap: b64 })), { bootstrapYaml: YAML });
  t.same(decodeBootstrapResponse('application/json', encodeBootstrapResponse(YAML, sidecar)).kumaSidecarConfiguration, sidecar, 'encode/decode round trip');
  t.end();
});

t.test('raw YAML from older control planes', (t) => {
  t.same(decodeBootstrapResponse('text/x-yaml', YAML), { bootstrapYaml: YAML });
  t.same(decodeBootstrapResponse('application/yaml', YAML), { bootstrapYaml: YAML });
  t.same(decodeBootstrapResponse(undefined, YAML), { bootstrapYaml: YAML }, 'no content type: YAML by its look');
  t.same(decodeBootstrapResponse(undefined, JSON.stringify({ bootstrap: b64 })), { bootstrapYaml: YAML }, 'no content type: JSON by its look');
  t.end();
});

t.test('garbage is named', (t) => {
  const bad: Array<[string | undefined, string, RegExp]> = [
    ['application/json', 'not json', /not valid JSON/],
    ['application/json', '[1]', /not a JSON object with a "bootstrap" field/],
    ['application/json', '{"bootstrap": 5}', /no "bootstrap" field \(a base64 string\)/],
    ['application/json', '{"bootstrap": "!!!!"}', /"bootstrap" field is not base64/],
    ['application/json', JSON.stringify({ bootstrap: b64, kumaSidecarConfiguration: 'x' }), /"kumaSidecarConfiguration" field is not an object/],
    [
      'application/json',
      JSON.stringify({ bootstrap: Buffer.from('<html></html>').toString('base64') }),
      /decoded "bootstrap" field is not an Envoy bootstrap .* starts with "<html><\/html>"/,
    ],
    ['text/x-yaml', '- a list\n', /YAML response is not an Envoy bootstrap/],
    ['text/html', '<html/>', /unexpected content type 'text\/html'; expected application\/json/],
  ];
  for (const [type, body, message] of bad)
    t.throws(() => decodeBootstrapResponse(type, body), { name: 'BadBootstrapResponse', message }, `${type}: ${body.slice(0, 20)}`);
  t.end();
});
