// KDS's delta rule, as delta xDS: a peer that names what it holds gets only
// what differs and the names it must drop; afterwards only changes are sent.
import t from 'tap';
import { fromMessage, PeerState, resourceKey, versionOf, type KdsResource } from '../../src/kds/resources.js';

const mesh = (name: string, labels: Record<string, string> = {}): KdsResource => ({ type: 'Mesh', mesh: '', name, labels, spec: {} });
const policy = (name: string, idle: string): KdsResource => ({
  type: 'MeshTimeout',
  mesh: 'default',
  name,
  labels: { 'kuma.io/origin': 'global' },
  spec: { targetRef: { kind: 'Mesh' }, default: { idleTimeout: idle } },
});
const state = (...resources: KdsResource[]) => new Map(resources.map((r) => [resourceKey(r), r]));
const names = (response: ReturnType<PeerState['delta']>) => response?.resources.map((r) => r.name) ?? [];

t.test('a resync sends what differs and removes what the peer should not have', (t) => {
  const current = state(mesh('default'), policy('a', '10s'), policy('b', '10s'));
  const peer = new PeerState({
    [resourceKey(mesh('default'))]: versionOf(mesh('default')), // up to date
    [resourceKey(policy('a', '10s'))]: versionOf(policy('a', '5s')), // stale
    'MeshTimeout/default/gone': 'v1', // deleted while the peer was away
  });
  const response = peer.delta(current, 'type');
  t.same(names(response).sort(), ['MeshTimeout/default/a', 'MeshTimeout/default/b']);
  t.same(response?.removed_resources, ['MeshTimeout/default/gone']);
  t.equal(peer.delta(current, 'type'), undefined, 'nothing more to send');
  t.end();
});

t.test('then only changes travel', (t) => {
  const peer = new PeerState();
  peer.delta(state(mesh('default'), policy('a', '10s')), 'type');
  const changed = peer.delta(state(mesh('default'), policy('a', '20s')), 'type');
  t.same(names(changed), ['MeshTimeout/default/a']);
  t.same(changed?.removed_resources, []);
  const removed = peer.delta(state(mesh('default')), 'type');
  t.same(names(removed), []);
  t.same(removed?.removed_resources, ['MeshTimeout/default/a']);
  t.not(peer.delta(state(mesh('default'), policy('a', '20s')), 'type')?.nonce, removed?.nonce, 'each response has its own nonce');
  t.end();
});

t.test('versions ignore key order; an unknown version is sent again', (t) => {
  const a: KdsResource = { type: 'Mesh', mesh: '', name: 'm', labels: { x: '1', y: '2' }, spec: { b: 1, a: 2 } };
  const b: KdsResource = { type: 'Mesh', mesh: '', name: 'm', labels: { y: '2', x: '1' }, spec: { a: 2, b: 1 } };
  t.equal(versionOf(a), versionOf(b));
  t.same(names(new PeerState({ 'Mesh//m': '' }).delta(state(a), 'type')), ['Mesh//m']);
  t.end();
});

t.test('a received resource is checked before it is applied', (t) => {
  t.match(fromMessage({ type: '', meta: { name: '', mesh: '', version: '', labels: {} }, spec_json: '[]' }, 'resources[0]').errors, [
    { field: 'resources[0].type' },
    { field: 'resources[0].meta.name' },
  ]);
  t.match(fromMessage({ type: 'Mesh', meta: { name: 'm', mesh: '', version: '', labels: {} }, spec_json: '{' }, 'r').errors, [
    { field: 'r.spec_json', message: /not valid JSON/ },
  ]);
  t.match(fromMessage({ type: 'Mesh', meta: { name: 'm', mesh: '', version: '', labels: {} }, spec_json: '[]' }, 'r').errors, [
    { field: 'r.spec_json', message: 'must be a JSON object' },
  ]);
  t.same(fromMessage({ type: 'Mesh', meta: { name: 'm', mesh: '', version: 'v', labels: { k: 'v' } }, spec_json: '{}' }, 'r').resource, mesh('m', { k: 'v' }));
  t.end();
});
