// kuma-mini-cp's GUI: reads the control plane's own API (the same access
// rules apply), re-reads it when /gui/events says something changed, and
// polls when that stream is unavailable. No framework, no network beyond
// this control plane.
'use strict';

const config = JSON.parse(document.getElementById('kuma-config')?.textContent || '{"mode":"standalone"}');
const ZONE_LABEL = 'kuma.io/zone';
const DISPLAY_NAME = 'kuma.io/display-name';
const ORIGIN = 'kuma.io/origin';
const POLL_MS = 3000;

const $ = (id) => document.getElementById(id);

/** An element with text and children; text is always set as text, never parsed as HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  return node;
}

const chip = (text, title) => el('span', { class: 'chip', title }, text);

function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function lastSubscription(insight) {
  const subs = (insight && insight.subscriptions) || [];
  return subs[subs.length - 1];
}

const isOnline = (insight) => {
  const last = lastSubscription(insight);
  return !!last && !last.disconnectTime;
};

function status(online, title) {
  return el('span', { class: `status ${online ? 'online' : 'offline'}`, title }, online ? 'online' : 'offline');
}

// The API's own access rule: what a proxy is sent is readable from the control plane's host, or with
// its admin token (<work-dir>/admin-token). A token pasted here is kept for this tab only.
const TOKEN_KEY = 'kuma-mini-cp-admin-token';
const adminToken = () => sessionStorage.getItem(TOKEN_KEY) || '';

async function get(path) {
  const headers = { accept: 'application/json' };
  if (adminToken()) headers.authorization = `Bearer ${adminToken()}`;
  const res = await fetch(path, { headers, cache: 'no-store' });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = new Error(body.detail || body.title || `HTTP ${res.status}`);
    error.status = res.status;
    throw error;
  }
  return body;
}

function table(node, headers, rows, empty) {
  node.replaceChildren(
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el('tbody', {}, rows.length > 0 ? rows : el('tr', {}, el('td', { class: 'empty', colspan: headers.length }, empty))),
  );
}

const selection = () => {
  const match = /^#dp\/([^/]+)\/(.+)$/.exec(location.hash);
  return match ? { mesh: decodeURIComponent(match[1]), name: decodeURIComponent(match[2]) } : undefined;
};

let latest;

function render(data) {
  latest = data;
  const { meshes, dataplanes, policies, zones } = data;
  const zoneOnline = new Map(zones.map((z) => [z.name, isOnline(z.zoneInsight)]));
  const dpOnline = (dp) => {
    const zone = dp.labels && dp.labels[ZONE_LABEL];
    if (config.mode === 'global' && zone && zoneOnline.get(zone) === false) return false;
    return isOnline(dp.dataplaneInsight);
  };
  const online = dataplanes.filter(dpOnline).length;

  $('mode').textContent = config.mode === 'zone' ? `zone: ${config.zone}` : config.mode;
  const cards = [
    [dataplanes.length, 'data plane proxies', `${online} online, ${dataplanes.length - online} offline`],
    [meshes.length, meshes.length === 1 ? 'mesh' : 'meshes', meshes.map((m) => m.name).join(', ')],
    [policies.length, policies.length === 1 ? 'policy' : 'policies', ''],
  ];
  if (config.mode === 'global') {
    const up = zones.filter((z) => zoneOnline.get(z.name)).length;
    cards.unshift([zones.length, zones.length === 1 ? 'zone' : 'zones', `${up} online, ${zones.length - up} offline`]);
  }
  $('summary').replaceChildren(
    ...cards.map(([n, label, sub]) =>
      el('div', { class: 'card' }, el('div', { class: 'n' }, n), el('div', { class: 'l' }, label), el('div', { class: 'muted' }, sub)),
    ),
  );

  $('zones-section').hidden = config.mode !== 'global';
  if (config.mode === 'global') {
    table(
      $('zones'),
      ['Status', 'Zone', 'Connected', 'Last update', 'Proxies'],
      zones.map((z) => {
        const sub = lastSubscription(z.zoneInsight) || {};
        const count = dataplanes.filter((dp) => dp.labels && dp.labels[ZONE_LABEL] === z.name).length;
        return el(
          'tr',
          { 'data-zone': z.name, 'data-status': zoneOnline.get(z.name) ? 'online' : 'offline' },
          el('td', {}, status(zoneOnline.get(z.name))),
          el('td', {}, z.name),
          el('td', {}, sub.disconnectTime ? `left ${ago(sub.disconnectTime)}` : sub.connectTime ? `since ${ago(sub.connectTime)}` : ''),
          el('td', {}, ago(sub.status && sub.status.lastUpdateTime)),
          el('td', {}, count),
        );
      }),
      'No zone has connected yet.',
    );
  }

  const selected = selection();
  table(
    $('dataplanes'),
    ['Status', 'Name', 'Mesh', 'Zone', 'Address', 'Inbounds', 'Outbounds', 'Tags', 'Last config ACK'],
    dataplanes.map((dp) => {
      const labels = dp.labels || {};
      const net = (dp.dataplane && dp.dataplane.networking) || {};
      const inbounds = net.inbound || [];
      const outbounds = net.outbound || [];
      const tags = new Map();
      for (const ib of inbounds) for (const [k, v] of Object.entries(ib.tags || {})) tags.set(`${k}=${v}`, true);
      const sub = lastSubscription(dp.dataplaneInsight);
      const up = dpOnline(dp);
      const acked = sub && sub.status && sub.status.lastUpdateTime;
      return el(
        'tr',
        {
          class: `clickable${selected && selected.mesh === dp.mesh && selected.name === dp.name ? ' selected' : ''}`,
          'data-dataplane': labels[DISPLAY_NAME] || dp.name,
          'data-status': up ? 'online' : 'offline',
          onclick: () => {
            location.hash = `#dp/${encodeURIComponent(dp.mesh)}/${encodeURIComponent(dp.name)}`;
          },
        },
        el(
          'td',
          {},
          status(up, sub ? (sub.disconnectTime ? `disconnected ${ago(sub.disconnectTime)}` : `connected ${ago(sub.connectTime)}`) : 'never connected'),
        ),
        el('td', {}, el('strong', {}, labels[DISPLAY_NAME] || dp.name), labels[DISPLAY_NAME] ? el('div', { class: 'muted' }, dp.name) : null),
        el('td', {}, dp.mesh),
        el('td', {}, labels[ZONE_LABEL] || (config.mode === 'zone' ? config.zone : el('span', { class: 'muted' }, 'local'))),
        el('td', {}, net.address || ''),
        el(
          'td',
          {},
          inbounds.map((ib) =>
            chip(
              `:${ib.port} → ${(ib.tags || {})['kuma.io/service'] || '?'}${ib.servicePort ? ` :${ib.servicePort}` : ''}`,
              (ib.tags || {})['kuma.io/protocol'] || 'tcp',
            ),
          ),
        ),
        el(
          'td',
          {},
          outbounds.length
            ? outbounds.map((ob) => chip(`:${ob.port} → ${(ob.tags || {})['kuma.io/service'] || (ob.backendRef && ob.backendRef.name) || '?'}`))
            : el('span', { class: 'muted' }, 'none'),
        ),
        el(
          'td',
          {},
          [...tags.keys()].filter((t) => !t.startsWith('kuma.io/service=')).map((t) => chip(t)),
        ),
        el('td', {}, acked ? ago(acked) : el('span', { class: 'muted' }, '—')),
      );
    }),
    'No data plane proxy yet: start kuma-dp against this control plane (or PUT a Dataplane).',
  );

  table(
    $('meshes'),
    ['Mesh', 'Proxies', 'Policies', 'Origin'],
    meshes.map((m) =>
      el(
        'tr',
        {},
        el('td', {}, m.name),
        el('td', {}, dataplanes.filter((dp) => dp.mesh === m.name).length),
        el('td', {}, policies.filter((p) => p.mesh === m.name).length),
        el('td', {}, (m.labels && m.labels[ORIGIN]) || el('span', { class: 'muted' }, 'local')),
      ),
    ),
    'No mesh.',
  );

  table(
    $('policies'),
    ['Type', 'Name', 'Mesh', 'Target', 'Origin'],
    policies.map((p) => {
      const ref = (p.spec && p.spec.targetRef) || {};
      return el(
        'tr',
        { 'data-policy': `${p.type}/${p.name}` },
        el('td', {}, p.type),
        el('td', {}, p.name),
        el('td', {}, p.mesh),
        el('td', {}, ref.kind ? chip(`${ref.kind}${ref.name ? ` ${ref.name}` : ''}`) : el('span', { class: 'muted' }, 'Mesh')),
        el('td', {}, (p.labels && p.labels[ORIGIN]) || el('span', { class: 'muted' }, 'local')),
      );
    }),
    'No policy.',
  );
  void renderDetails(dataplanes, dpOnline);
}

let detailsFor = '';
async function renderDetails(dataplanes, dpOnline) {
  const selected = selection();
  const dp = selected && dataplanes.find((d) => d.mesh === selected.mesh && d.name === selected.name);
  $('details').hidden = !dp;
  if (!dp) return;
  const labels = dp.labels || {};
  const key = `${dp.mesh}/${dp.name}/${dp.modificationTime}/${JSON.stringify(dp.dataplaneInsight)}`;
  if (key === detailsFor) return;
  detailsFor = key;
  $('details-title').textContent = `${labels[DISPLAY_NAME] || dp.name} — mesh ${dp.mesh}`;
  const sub = lastSubscription(dp.dataplaneInsight);
  const facts = el(
    'p',
    {},
    status(dpOnline(dp)),
    ' ',
    sub ? (sub.disconnectTime ? `disconnected ${ago(sub.disconnectTime)}` : `connected ${ago(sub.connectTime)}`) : 'never connected',
    sub && sub.status
      ? Object.entries(sub.status)
          .filter(([, v]) => v && typeof v === 'object' && v.lastAckedVersion)
          .map(([type, v]) => chip(`${type.toUpperCase()} ACK ${v.lastAckedVersion} ${ago(v.lastAckTime)}`))
      : null,
  );
  let configPart;
  const servedBy = config.mode === 'global' ? ` (by zone '${labels[ZONE_LABEL] || '?'}', fetched over KDS)` : '';
  try {
    const served = await get(`/meshes/${encodeURIComponent(dp.mesh)}/dataplanes/${encodeURIComponent(dp.name)}/_config`);
    const resources = served.resources || {};
    configPart = el(
      'div',
      {},
      el('h3', {}, `Envoy configuration served to this proxy${servedBy}`),
      el(
        'p',
        {},
        Object.entries(resources).map(([type, list]) =>
          el(
            'span',
            {},
            `${type}: `,
            list.map((r) => chip(r.name || r.cluster_name || '?')),
            ' ',
          ),
        ),
      ),
      el('pre', {}, JSON.stringify(served, null, 2)),
    );
  } catch (err) {
    configPart = el('p', { class: 'error' }, `Envoy configuration: ${err.message}`);
    if (err.status === 403) configPart = el('div', {}, configPart, tokenForm());
  }
  $('details-body').replaceChildren(facts, configPart);
}

function tokenForm() {
  const input = el('input', { type: 'password', placeholder: 'admin token', 'aria-label': 'admin token', autocomplete: 'off' });
  const use = () => {
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    detailsFor = '';
    if (latest) render(latest);
  };
  input.addEventListener('keydown', (event) => event.key === 'Enter' && use());
  return el(
    'p',
    { class: 'token' },
    "Paste the admin token from the control plane's <work-dir>/admin-token: ",
    input,
    ' ',
    el('button', { type: 'button', onclick: use }, 'Use'),
  );
}

let loading = false;
let again = false;
async function refresh() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    const [meshes, dataplanes, types, zones] = await Promise.all([
      get('/meshes'),
      get('/dataplanes/_overview'),
      get('/policies'),
      config.mode === 'global' ? get('/zones/_overview') : { items: [] },
    ]);
    const lists = await Promise.all(types.policies.map((t) => get(`/${t.path}`)));
    render({ meshes: meshes.items, dataplanes: dataplanes.items, policies: lists.flatMap((l) => l.items), zones: zones.items });
    $('error').hidden = true;
    document.body.dataset.updated = new Date().toISOString();
  } catch (err) {
    $('error').hidden = false;
    $('error').textContent = `Cannot read the control plane's API: ${err.message}`;
  } finally {
    loading = false;
    if (again) {
      again = false;
      void refresh();
    }
  }
}

let pollTimer;
function poll() {
  clearInterval(pollTimer);
  pollTimer = setInterval(refresh, POLL_MS);
}

function live() {
  if (!('EventSource' in window)) {
    $('live').textContent = `polling every ${POLL_MS / 1000}s`;
    poll();
    return;
  }
  const events = new EventSource('/gui/events');
  events.addEventListener('change', () => void refresh());
  events.onopen = () => {
    clearInterval(pollTimer);
    $('live').textContent = '● live';
  };
  events.onerror = () => {
    $('live').textContent = `reconnecting… (polling every ${POLL_MS / 1000}s)`;
    poll();
  };
}

window.addEventListener('hashchange', () => latest && render(latest));
// Relative times ("12s ago") stay current between changes.
setInterval(() => latest && render(latest), 5000);
void refresh();
live();
