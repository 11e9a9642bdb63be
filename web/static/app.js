/*
 * app.js - the lienwatch page: sign in, the agent's cases nearest first,
 * the map, locate now, the 24 h trail, where the car usually parks (its
 * places), live updates, and for ops the open alerts, the watched vehicles
 * and opening cases.
 *
 * Text from the database is only ever set with textContent: a plate or a
 * description is shown as written, never interpreted as HTML.
 *
 * Offline: the cases, their last positions and trails are kept in
 * localStorage (the service worker, sw.js, keeps the page itself); shown
 * with their age and marked offline. A "Locate now" pressed offline waits
 * in localStorage and is sent when the connection returns. Everything
 * saved is dropped at logout and when a case ends.
 */
'use strict';

const API = '/api/v1';
const STORE_KEY = 'lienwatch.cache';
const PENDING_KEY = 'lienwatch.pendingLocate';
const REFRESH_MS = 30000;

let me = null;          // {username, role, roles, csrf}
let cfg = {};           // /config.json
let map = null;
let here = null;        // {lat, lon} of the phone
let cases = [];         // what the list shows
let selected = null;    // device of the selected case
let offline = false;
let events = null;      // EventSource
let refreshTimer = null;
const layers = {};      // device -> {marker, circle}
let trail = null;       // L.polyline of the selected case
let hereMarker = null;  // the phone's own position
const trails = {};      // device -> [[lat, lon], ...]
const places = {};      // device -> the /places answer's list
let placeLayers = [];   // the selected vehicle's places on the map
const PLACES_SHOWN = 5; // the top places listed and drawn
const PLACE_MIN_RADIUS_M = 40;
const PLACE_COLOUR = '#6a4c93';
const M_PER_DEG_LAT = 111320;

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/* ---- talking to the server ---------------------------------------------- */

async function api(method, path, body) {
  const h = {};
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method !== 'GET' && me && me.csrf) h['X-CSRF-Token'] = me.csrf;
  const res = await fetch(API + path, {
    method, headers: h, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  return { status: res.status, ok: res.ok, data };
}

function setOffline(v) {
  offline = v;
  $('netstate').hidden = !v;
  $('offline-note').hidden = !v;
  render();
}

/* ---- saved state (offline) ------------------------------------------------ */

function save() {
  if (!me) return;
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({
      me: { username: me.username, role: me.role, roles: me.roles },
      cases, trails, places, saved_at: Date.now(),
    }));
  } catch (e) { /* storage full or refused: nothing saved */ }
}

function loadSaved() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY) || 'null'); }
  catch (e) { return null; }
}

function forgetAll() {
  localStorage.removeItem(STORE_KEY);
  localStorage.removeItem(PENDING_KEY);
  if (navigator.serviceWorker && navigator.serviceWorker.controller)
    navigator.serviceWorker.controller.postMessage('forget');
}

/* ---- words -------------------------------------------------------------------- */

function ageWords(iso) {
  if (!iso) return 'no position yet';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.round(s / 60) + ' min ago';
  if (s < 86400) return Math.round(s / 3600) + ' h ago';
  return Math.round(s / 86400) + ' days ago';
}

function ageClass(iso) {
  if (!iso) return 'old';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s < 600 ? 'fresh' : s < 3 * 3600 ? 'stale' : 'old';
}

const COLOURS = { fresh: '#2a9d8f', stale: '#e9a23b', old: '#e63946' };

function distWords(m) {
  if (m === null || m === undefined) return '';
  return m < 1000 ? Math.round(m) + ' m' : (m / 1000).toFixed(1) + ' km';
}

function haversine(a, b, c, d) {
  const r = Math.PI / 180, R = 6371008.8;
  const x = Math.sin((c - a) * r / 2) ** 2 +
    Math.cos(a * r) * Math.cos(c * r) * Math.sin((d - b) * r / 2) ** 2;
  return 2 * R * Math.asin(Math.sqrt(x));
}

/* ---- the map ------------------------------------------------------------------ */

function setupMap() {
  if (map || typeof L === 'undefined') return;
  map = L.map('map', { zoomControl: true }).setView([20, 0], 2);
  if (cfg.tile_url) {
    const tiles = L.tileLayer(cfg.tile_url, {
      maxZoom: 19, attribution: cfg.tile_attribution || '',
    });
    let errors = 0;
    tiles.on('tileerror', () => { if (++errors >= 1) $('tile-note').hidden = false; });
    tiles.on('tileload', () => { $('tile-note').hidden = true; });
    tiles.addTo(map);
  } else {
    $('tile-note').hidden = false;
  }
}

function placeMarker(c) {
  if (!map || !c.fix) return;
  const ll = [c.fix.lat, c.fix.lon];
  const colour = COLOURS[ageClass(c.fix.fix_time)];
  let l = layers[c.device];
  if (!l) {
    l = layers[c.device] = {
      circle: L.circle(ll, { radius: c.fix.accuracy_m || 0, weight: 1, color: colour, fillOpacity: 0.1 }).addTo(map),
      marker: L.circleMarker(ll, { radius: 8, color: '#fff', weight: 2, fillColor: colour, fillOpacity: 1 }).addTo(map),
    };
    l.marker.on('click', () => select(c.device));
    const tip = el('span', null, c.plate || c.device);
    l.marker.bindTooltip(tip);
  }
  l.marker.setLatLng(ll).setStyle({ fillColor: colour });
  l.circle.setLatLng(ll).setRadius(c.fix.accuracy_m || 0).setStyle({ color: colour });
  l.marker.getElement && l.marker.getElement() &&
    l.marker.getElement().setAttribute('data-device', c.device);
}

function dropMarker(device) {
  const l = layers[device];
  if (!l) return;
  map.removeLayer(l.marker);
  map.removeLayer(l.circle);
  delete layers[device];
}

function fitAll() {
  if (!map) return;
  const pts = cases.filter((c) => c.fix).map((c) => [c.fix.lat, c.fix.lon]);
  if (here) pts.push([here.lat, here.lon]);
  if (pts.length === 1) map.setView(pts[0], 15);
  else if (pts.length > 1) map.fitBounds(pts, { padding: [30, 30], maxZoom: 16 });
}

/* ---- the list ------------------------------------------------------------------ */

function render() {
  const ul = $('cases');
  ul.replaceChildren();
  $('cases-empty').hidden = cases.length > 0;
  for (const c of cases) {
    if (here && c.fix) c.distance_m = haversine(here.lat, here.lon, c.fix.lat, c.fix.lon);
  }
  if (here) cases.sort((a, b) => (a.distance_m ?? Infinity) - (b.distance_m ?? Infinity));
  for (const c of cases) {
    const li = el('li', ageClass(c.fix && c.fix.fix_time));
    li.dataset.device = c.device;
    if (c.device === selected) li.classList.add('selected');
    li.append(el('span', 'plate', c.plate || c.device), document.createTextNode(' '));
    if (c.distance_m !== undefined && c.distance_m !== null)
      li.append(el('span', 'dist', distWords(c.distance_m)));
    li.append(el('div', 'desc', c.description || ''));
    const meta = el('div', 'meta', (c.fix ? ageWords(c.fix.fix_time) : 'no position yet') +
      (c.fix && c.fix.speed_mps > 0.5 ? ' · moving' : c.fix ? ' · stopped' : '') +
      (c.expires_at ? ' · case until ' + new Date(c.expires_at).toLocaleString() : ''));
    li.append(meta);
    if (offline) li.append(el('div', 'offline-mark', 'offline: saved ' + ageWords(c.saved_at)));
    li.addEventListener('click', () => select(c.device));
    ul.append(li);
    placeMarker(c);
  }
  for (const d of Object.keys(layers))
    if (!cases.find((c) => c.device === d)) dropMarker(d);
  renderDetail();
}

function renderDetail() {
  const c = cases.find((x) => x.device === selected);
  $('detail').hidden = !c;
  if (!c) { clearPlaces(); return; }
  $('d-plate').textContent = c.plate || c.device;
  $('d-desc').textContent = c.description || '';
  $('d-age').textContent = c.fix ? 'Position ' + ageWords(c.fix.fix_time) + '.' : 'No position yet.';
  $('d-motion').textContent = c.fix ? (c.fix.speed_mps > 0.5 ?
    'Moving at ' + Math.round(c.fix.speed_mps * 3.6) + ' km/h.' : 'Stopped.') : '';
  $('d-acc').textContent = c.fix && c.fix.accuracy_m ? '±' + Math.round(c.fix.accuracy_m) + ' m.' : '';
  if (c.fix) {
    const la = c.fix.lat.toFixed(6), lo = c.fix.lon.toFixed(6);
    $('d-nav').href = 'geo:' + la + ',' + lo + '?q=' + la + ',' + lo;
    $('d-osm').href = 'https://www.openstreetmap.org/?mlat=' + la + '&mlon=' + lo + '#map=17/' + la + '/' + lo;
  }
  $('d-nav').hidden = $('d-osm').hidden = !c.fix;
  $('d-close').hidden = offline || !me || !me.roles || me.roles.indexOf('ops') < 0;
}

async function closeCase(outcome) {
  const c = cases.find((x) => x.device === selected);
  if (!c || !confirm('Close case ' + c.case_id + ' (' + outcome + ')?')) return;
  const r = await api('POST', '/cases/' + c.case_id + '/close', { outcome });
  showCmd(r.ok ? 'Case ' + c.case_id + ' closed: ' + outcome + '.' : (r.data && r.data.error) || ('error ' + r.status));
  if (r.ok) { selected = null; loadCases(); }
}

async function select(device) {
  selected = device;
  render();
  const c = cases.find((x) => x.device === device);
  if (c && c.fix && map) map.setView([c.fix.lat, c.fix.lon], 16);
  renderPlaces(device);
  await Promise.all([loadTrail(device), loadPlaces(device)]);
}

/* ---- places: where the car usually parks ------------------------------------ */

/* "19:00–07:59" style ranges of the hours the car is usually at a place
 * (share at least one half), as lienwatch places prints them. */
function usualWords(hours) {
  if (!Array.isArray(hours) || hours.length !== 24) return '';
  const on = hours.map((x) => x >= 0.5);
  if (on.every((x) => x)) return 'all day';
  if (!on.some((x) => x)) return '';
  let h = 0;
  while (on[h]) h++;
  const out = [];
  let start = -1;
  for (let i = 1; i <= 24; i++) {
    const k = (h + i) % 24;
    if (on[k] && start < 0) start = k;
    if (!on[k] && start >= 0) {
      const last = (k + 23) % 24;
      out.push(String(start).padStart(2, '0') + ':00–' + String(last).padStart(2, '0') + ':59');
      start = -1;
    }
  }
  return out.join(', ');
}

function dwellWords(s) {
  if (s >= 86400) return Math.round(s / 3600 / 24 * 10) / 10 + ' days';
  if (s >= 3600) return Math.round(s / 360) / 10 + ' h';
  return Math.round(s / 60) + ' min';
}

function clearPlaces() {
  for (const l of placeLayers) map && map.removeLayer(l);
  placeLayers = [];
}

async function loadPlaces(device) {
  if (!offline) {
    try {
      const r = await api('GET', '/vehicles/' + encodeURIComponent(device) + '/places');
      if (r.ok && r.data && Array.isArray(r.data.places)) {
        places[device] = r.data.places.slice(0, PLACES_SHOWN);
        save();
      }
    } catch (e) { setOffline(true); }
  }
  if (device === selected) renderPlaces(device);
}

/* The selected vehicle's places: a numbered list (text only) and circles
 * on the map, numbered alike. */
function renderPlaces(device) {
  clearPlaces();
  const list = places[device];
  const ol = $('d-places-list');
  ol.replaceChildren();
  $('d-places').hidden = list === undefined;
  if (list === undefined) return;
  $('d-places-note').textContent = list.length ? '' :
    'No usual places yet: it has not stopped anywhere for 15 minutes in the last 30 days.';
  list.forEach((p, i) => {
    const n = i + 1;
    const li = el('li', p.here_now ? 'here' : null);
    li.dataset.rank = String(n);
    const bits = [];
    if (p.here_now) bits.push('there now');
    bits.push(Math.round(p.likely_now * 100) + '% likely now');
    bits.push(p.visits + (p.visits === 1 ? ' visit' : ' visits'));
    if (p.nights) bits.push(p.nights + (p.nights === 1 ? ' night' : ' nights'));
    bits.push(dwellWords(p.dwell_s) + ' in all');
    const usual = usualWords(p.usual_hours);
    li.append(el('span', null, bits.join(' · ')));
    li.append(el('div', 'meta', (usual ? 'usually ' + usual + ' · ' : '') +
      'last there ' + ageWords(p.last_seen) + ' · ±' + Math.round(p.radius_m) + ' m'));
    li.addEventListener('click', () => { if (map) map.setView([p.lat, p.lon], 17); });
    ol.append(li);
    if (map) {
      const ll = [p.lat, p.lon];
      placeLayers.push(L.circle(ll, {
        radius: Math.max(p.radius_m, PLACE_MIN_RADIUS_M), color: PLACE_COLOUR,
        weight: 2, dashArray: '4 4', fillOpacity: 0.08,
      }).addTo(map));
      // the number on the circle's northern edge: the car's own marker
      // (often at the place) stays visible
      const edge = [p.lat + Math.max(p.radius_m, PLACE_MIN_RADIUS_M) / M_PER_DEG_LAT, p.lon];
      const m = L.circleMarker(edge, { radius: 1, opacity: 0, fillOpacity: 0, interactive: false })
        .addTo(map);
      m.bindTooltip(el('span', null, String(n)), {
        permanent: true, direction: 'top', className: 'place-label',
      });
      const t = m.getTooltip && m.getTooltip();
      if (t && t.getElement && t.getElement()) t.getElement().setAttribute('data-place', String(n));
      placeLayers.push(m);
    }
  });
}

async function loadTrail(device) {
  if (!offline) {
    try {
      const r = await api('GET', '/vehicles/' + encodeURIComponent(device) + '/history');
      if (r.ok && Array.isArray(r.data)) {
        trails[device] = r.data.map((f) => [f.lat, f.lon]);
        save();
      }
    } catch (e) { setOffline(true); }
  }
  drawTrail(device);
}

function drawTrail(device) {
  if (!map) return;
  if (trail) { map.removeLayer(trail); trail = null; }
  const pts = trails[device];
  if (pts && pts.length > 1)
    trail = L.polyline(pts, { color: '#1d3557', weight: 3, opacity: 0.7 }).addTo(map);
}

/* ---- loading ---------------------------------------------------------------------- */

async function loadCases() {
  const q = here ? '?lat=' + here.lat + '&lon=' + here.lon : '';
  let r;
  try { r = await api('GET', '/cases' + q); }
  catch (e) { setOffline(true); return; }
  if (r.status === 401) { signedOut(); return; }
  if (!r.ok) return;
  setOffline(false);
  const now = new Date().toISOString();
  const gone = cases.filter((c) => !r.data.find((x) => x.device === c.device));
  for (const c of gone) { delete trails[c.device]; delete places[c.device]; } // a case ended: forget it
  cases = r.data.map((c) => Object.assign(c, { saved_at: now }));
  if (selected && !cases.find((c) => c.device === selected)) selected = null;
  render();
  save();
  sendPendingLocates();
}

async function loadOps() {
  if (!me || !me.roles || me.roles.indexOf('ops') < 0 || offline) return;
  $('ops').hidden = false;
  try {
    const a = await api('GET', '/alerts?open=1');
    const ul = $('alerts');
    ul.replaceChildren();
    const list = a.ok ? a.data : [];
    $('alerts-empty').hidden = list.length > 0;
    for (const x of list) {
      const li = el('li', null, x.kind + ' · ' + x.device + ' · ' + ageWords(x.raised_at) +
        (x.geofence ? ' · ' + x.geofence : '') + ' · ' + x.state);
      if (x.state === 'open') {
        const b = el('button', null, 'Acknowledge');
        b.type = 'button';
        b.addEventListener('click', async () => {
          const note = prompt('Note (optional)') || '';
          await api('POST', '/alerts/' + x.id + '/ack', { note });
          loadOps();
        });
        li.append(b);
      }
      ul.append(li);
    }
    const w = await api('GET', '/watched');
    const wl = $('watched');
    wl.replaceChildren();
    for (const v of (w.ok ? w.data : [])) {
      const li = el('li', ageClass(v.fix && v.fix.fix_time));
      li.append(el('span', 'plate', v.plate || v.device), el('div', 'desc', v.description || ''),
        el('div', 'meta', v.device + ' · ' + ageWords(v.fix && v.fix.fix_time)));
      wl.append(li);
    }
  } catch (e) { setOffline(true); }
}

function startEvents() {
  if (events || typeof EventSource === 'undefined') return;
  events = new EventSource(API + '/events');
  events.addEventListener('fix', (ev) => {
    const d = JSON.parse(ev.data);
    const c = cases.find((x) => x.device === d.device);
    if (!c) return;
    c.fix = d.fix;
    c.saved_at = new Date().toISOString();
    if (trails[d.device]) trails[d.device].push([d.fix.lat, d.fix.lon]);
    render();
    if (d.device === selected) drawTrail(d.device);
    save();
  });
  events.addEventListener('revoked', (ev) => {
    const d = JSON.parse(ev.data);
    cases = cases.filter((c) => c.device !== d.device);
    delete trails[d.device];
    delete places[d.device];
    if (selected === d.device) selected = null;
    render();
    save();
  });
  events.addEventListener('alert', () => loadOps());
  events.addEventListener('end', () => { events.close(); events = null; });
  events.onerror = () => {
    if (events && events.readyState === EventSource.CLOSED) events = null;
  };
}

/* ---- locate now ---------------------------------------------------------------------- */

function showCmd(text) { $('d-cmd').textContent = text; }

async function locateNow() {
  const device = selected;
  if (!device) return;
  if (offline) {
    const p = JSON.parse(localStorage.getItem(PENDING_KEY) || '[]');
    if (p.indexOf(device) < 0) p.push(device);
    localStorage.setItem(PENDING_KEY, JSON.stringify(p));
    showCmd('Locate now: waiting for a connection');
    return;
  }
  showCmd('Locate now: sending…');
  let r;
  try { r = await api('POST', '/vehicles/' + encodeURIComponent(device) + '/locate'); }
  catch (e) { setOffline(true); return locateNow(); }
  if (r.status !== 202) { showCmd('Locate now failed: ' + (r.data && r.data.error || r.status)); return; }
  followCommand(r.data.command_id, device);
}

async function followCommand(id, device) {
  const t0 = Date.now();
  for (;;) {
    let r;
    try { r = await api('GET', '/commands/' + id); } catch (e) { setOffline(true); return; }
    if (!r.ok) { showCmd('Locate now: ' + (r.data && r.data.error)); return; }
    const st = r.data.state;
    if (device === selected) showCmd('Locate now: ' + st +
      (st === 'sent' && r.data.sent_at ? ' (' + ageWords(r.data.sent_at) + ')' : '') +
      (st === 'answered' ? ' – new position ' + ageWords(r.data.answer_fix_time) : ''));
    if (st === 'answered') { loadCases(); if (device === selected) loadTrail(device); return; }
    if (st === 'failed') return;
    if (Date.now() - t0 > 10 * 60 * 1000) return;
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

let sendingPending = false;

/* Sends the "Locate now" presses made offline. Each is dropped from the
 * saved list only once the server answered it: a send cut short (the page
 * reloaded, the signal gone again) is tried again next time; the server
 * does not queue a second one for a device while one waits. */
async function sendPendingLocates() {
  if (offline || sendingPending) return;
  sendingPending = true;
  try {
    const pending = JSON.parse(localStorage.getItem(PENDING_KEY) || '[]');
    if (!pending.length) return;
    // a page that started offline has no CSRF token (it is never saved on
    // the phone): the session gives it before anything is sent
    if (!me || !me.csrf) {
      let s;
      try { s = await api('GET', '/session'); } catch (e) { return; }
      if (!s.ok) return;
      me = s.data;
    }
    for (const device of pending) {
      let r;
      try { r = await api('POST', '/vehicles/' + encodeURIComponent(device) + '/locate'); }
      catch (e) { break; }
      if (r.status === 401) break; // signed out: kept until signed in again
      const left = JSON.parse(localStorage.getItem(PENDING_KEY) || '[]').filter((x) => x !== device);
      localStorage.setItem(PENDING_KEY, JSON.stringify(left));
      if (r.status === 202) followCommand(r.data.command_id, device);
      else if (device === selected) showCmd('Locate now failed: ' + (r.data && r.data.error || r.status));
    }
  } finally {
    sendingPending = false;
  }
}

/* ---- sign in and out ---------------------------------------------------------------------- */

function signedIn() {
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('logout').hidden = false;
  $('who').textContent = me.username + ' (' + me.role + ')';
  $('cases-title').textContent = me.roles && me.roles.indexOf('ops') >= 0 ? 'Open cases' : 'My cases';
  setupMap();
  locateMe();
  loadCases().then(fitAll);
  loadOps();
  startEvents();
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => { loadCases(); loadOps(); }, REFRESH_MS);
}

function signedOut() {
  me = null;
  cases = [];
  selected = null;
  for (const d of Object.keys(layers)) dropMarker(d);
  for (const d of Object.keys(trails)) delete trails[d];
  for (const d of Object.keys(places)) delete places[d];
  clearPlaces();
  if (hereMarker) { map.removeLayer(hereMarker); hereMarker = null; }
  if (trail) { map.removeLayer(trail); trail = null; }
  if (events) { events.close(); events = null; }
  clearInterval(refreshTimer);
  forgetAll();
  $('app-view').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
  $('login-view').hidden = false;
}

function locateMe() {
  if (!navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition((p) => {
    here = { lat: p.coords.latitude, lon: p.coords.longitude };
    if (map) {
      const ll = [here.lat, here.lon];
      if (!hereMarker)
        hereMarker = L.circleMarker(ll, { radius: 6, color: '#1d3557', weight: 2, fillColor: '#a8dadc', fillOpacity: 1 })
          .addTo(map).bindTooltip('You');
      else hereMarker.setLatLng(ll);
    }
    loadCases();
  }, () => { /* refused or unavailable: the list keeps the server's order */ },
  { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
}

async function onLogin(ev) {
  ev.preventDefault();
  const f = ev.target;
  $('login-error').textContent = '';
  let r;
  try {
    r = await api('POST', '/session', { username: f.username.value, password: f.password.value });
  } catch (e) { $('login-error').textContent = 'No connection.'; return; }
  f.password.value = '';
  if (!r.ok) { $('login-error').textContent = (r.data && r.data.error) || ('error ' + r.status); return; }
  me = r.data;
  signedIn();
}

async function onLogout() {
  try { await api('DELETE', '/session'); } catch (e) { /* offline: forget anyway */ }
  signedOut();
}

async function onNewCase(ev) {
  ev.preventDefault();
  const f = ev.target;
  const body = { device: f.device.value, agent: f.agent.value, expires: f.expires.value, reason: f.reason.value };
  const r = await api('POST', '/cases', body);
  $('newcase-msg').textContent = r.ok ? 'Case ' + r.data.case_id + ' opened.' : (r.data && r.data.error) || ('error ' + r.status);
  if (r.ok) { f.reset(); loadCases(); }
}

async function start() {
  $('login').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  $('d-locate').addEventListener('click', locateNow);
  $('newcase').addEventListener('submit', onNewCase);
  $('d-recovered').addEventListener('click', () => closeCase('recovered'));
  $('d-cancelled').addEventListener('click', () => closeCase('cancelled'));
  window.addEventListener('online', () => { setOffline(false); loadCases(); });
  window.addEventListener('offline', () => setOffline(true));
  if ('serviceWorker' in navigator)
    navigator.serviceWorker.register('/sw.js').catch(() => {});
  try {
    const c = await fetch('/config.json');
    cfg = await c.json();
    localStorage.setItem('lienwatch.config', JSON.stringify(cfg));
  } catch (e) {
    cfg = JSON.parse(localStorage.getItem('lienwatch.config') || '{}');
  }
  let r = null;
  try { r = await api('GET', '/session'); } catch (e) { r = null; }
  if (r && r.ok) { me = r.data; signedIn(); return; }
  const saved = loadSaved();
  if (!r && saved && saved.me) {
    // no connection: what this phone saved, marked offline
    me = saved.me;
    cases = saved.cases || [];
    Object.assign(trails, saved.trails || {});
    Object.assign(places, saved.places || {});
    $('login-view').hidden = true;
    $('app-view').hidden = false;
    $('logout').hidden = false;
    $('who').textContent = me.username + ' (' + me.role + ')';
    setupMap();
    setOffline(true);
    fitAll();
    return;
  }
  if (r) forgetAll(); // signed out (session ended): nothing kept
  signedOut();
}

document.addEventListener('DOMContentLoaded', start);
