// The GUI's HTTP side, without a browser: the page and its assets on both API
// ports (5681 and 5682), self-contained (nothing loaded from elsewhere), and
// /gui/events announcing a change.
import { request } from 'node:https';
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { dataplane, inProcessCp } from '../minicp/fixtures.js';
import { apiCall } from '../helpers/mesh.js';

const { cp } = await inProcessCp();
t.teardown(() => cp.close());
const ca = await readFile(cp.caCertPath, 'utf8');

function getHttps(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('the page and its assets on HTTP and HTTPS', async (t) => {
  for (const base of [cp.addresses.apiHttp, cp.addresses.apiHttps]) {
    const get = base.startsWith('https:')
      ? getHttps
      : async (url: string) => {
          const res = await fetch(url);
          return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
        };
    const page = await get(`${base}/gui/`);
    t.equal(page.status, 200, `${base}/gui/`);
    t.match(page.type, /text\/html/);
    t.match(page.body, /<script id="kuma-config" type="application\/json">\{"mode":"standalone","zone":null\}<\/script>/, 'the mode, for the page');
    t.notMatch(page.body, /https?:\/\//, 'nothing loaded from another host');
    for (const asset of ['/gui/app.js', '/gui/app.css']) {
      const res = await get(`${base}${asset}`);
      t.equal(res.status, 200, asset);
      t.notMatch(res.body, /https?:\/\//, `${asset} loads nothing from another host`);
    }
  }
  const redirect = await fetch(`${cp.addresses.apiHttp}/gui`, { redirect: 'manual' });
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.get('location'), '/gui/');
  t.equal((await fetch(`${cp.addresses.apiHttp}/gui/`, { method: 'POST' })).status, 405, 'the GUI is read-only');
});

t.test('/gui/events says when something changed', async (t) => {
  const controller = new AbortController();
  const res = await fetch(`${cp.addresses.apiHttp}/gui/events`, { signal: controller.signal });
  t.match(res.headers.get('content-type'), /text\/event-stream/);
  const reader = res.body!.getReader();
  let seen = '';
  const next = async (): Promise<string> => {
    const chunk = (await reader.read()) as { value?: Uint8Array };
    return (seen += Buffer.from(chunk.value ?? new Uint8Array()).toString());
  };
  t.match(await next(), /event: change/, 'a first event, for the page to load');
  seen = '';
  t.equal((await apiCall(cp.addresses.apiHttp, 'PUT', '/meshes/default/dataplanes/web-1', dataplane('web-1', { service: 'web' }))).status, 201);
  while (!seen.includes('event: change')) await next();
  t.pass('a change after a Dataplane is created');
  controller.abort();
});
