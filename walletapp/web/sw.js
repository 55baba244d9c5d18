// The wallet's service worker: it keeps the app's files, so the wallet
// opens and pays from its purse with no network at all. A file is taken
// from the network while it answers within a few seconds (an ETag keeps
// that cheap), else from the cache; the wallet websocket is never cached.
"use strict";
const CACHE = "cbdc-wallet-v2";
const FILES = ["./", "app.js", "app.css", "wasm_exec.js", "purse.wasm", "manifest.webmanifest", "icon.svg"];
const NETWORK_WAIT = 4000; // ms

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith(new URL("./", location).pathname)) return;
  const fromNetwork = fetch(ev.request).then((resp) => {
    if (resp.ok && !resp.redirected) {
      const copy = resp.clone();
      ev.waitUntil(caches.open(CACHE).then((c) => c.put(ev.request, copy)));
    }
    return resp;
  });
  const late = new Promise((_, reject) => setTimeout(() => reject(new Error("no answer in time")), NETWORK_WAIT));
  ev.respondWith(
    Promise.race([fromNetwork, late]).catch(() =>
      caches.match(ev.request, { ignoreSearch: true }).then((hit) => hit || fromNetwork),
    ),
  );
});
