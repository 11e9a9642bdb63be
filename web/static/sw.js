/*
 * sw.js - keeps the page itself (HTML, script, style, Leaflet) on the phone
 * so it opens without signal. API answers are never cached here: the page
 * keeps the agent's cases in localStorage, and drops them at logout.
 */
'use strict';
const CACHE = 'lienwatch-page-v1';
const SHELL = ['/', '/index.html', '/app.js', '/style.css', '/config.json',
  '/leaflet/leaflet.js', '/leaflet/leaflet.css'];

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
});

self.addEventListener('message', (ev) => {
  if (ev.data === 'forget') {
    // the page's own files stay; nothing of a borrower is in this cache
  }
});

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== self.location.origin ||
      url.pathname.startsWith('/api/')) return;
  // network first (updates reach the phone), the cache when offline
  ev.respondWith(fetch(ev.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      caches.open(CACHE).then((c) => c.put(ev.request, copy));
    }
    return res;
  }).catch(() => caches.match(ev.request).then((m) => m || caches.match('/index.html'))));
});
