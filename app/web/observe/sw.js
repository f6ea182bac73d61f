// The residents' app's service worker (VERSION and SHELL are written above by the server).
// - the shell (HTML, modules, styles, icons, messages) is cached at install: the app opens
//   with no network at all;
// - the species list and the zones are fetched from the network when there is one and kept,
//   so that the last copy serves offline;
// - everything else of the API goes to the network untouched: records live in IndexedDB and
//   are synced by the app itself, never replayed from here.
"use strict";

const SHELL_CACHE = `observe-shell-${VERSION}`;
const DATA_CACHE = "observe-reference";
const REFERENCE = [/^\/api\/v1\/species(\?|$)/, /^\/api\/v1\/zones(\?|$)/];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("observe-shell-") && name !== SHELL_CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function fromShell(request) {
  const cache = await caches.open(SHELL_CACHE);
  const url = new URL(request.url);
  // Any page of the app is the one shell; the view is in the fragment.
  const key = request.mode === "navigate" ? "/observe/" : url.pathname;
  const hit = await cache.match(key);
  if (hit) return hit;
  return fetch(request);
}

async function networkFirst(request) {
  const cache = await caches.open(DATA_CACHE);
  try {
    const answer = await fetch(request);
    if (answer.ok) await cache.put(request, answer.clone());
    return answer;
  } catch (error) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === "/observe/sw.js") return;
  if (url.pathname.startsWith("/observe/") || url.pathname === "/observe") {
    event.respondWith(fromShell(request));
  } else if (REFERENCE.some((pattern) => pattern.test(url.pathname + url.search))) {
    event.respondWith(networkFirst(request));
  }
});
