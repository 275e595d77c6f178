// Keeps every file of the app (listed in precache.json) so that it works offline.
// Cache first: the files of one version never change; a new build writes its version into this file, so its
// bytes change and the browser installs the new worker, which fills a new cache (every file fetched past the
// HTTP cache, never a stale copy) and then deletes the app's older caches, and no one else's.
const VERSION = "__DIGITLAB_APP_VERSION__";  // offline_app.service_worker() writes the build's version here
const PREFIX = "digitlab-";
const LIST = "precache.json";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const {version, files} = await (await fetch(LIST, {cache: "no-store"})).json();
    if (version !== VERSION) throw new Error(`precache.json is version ${version}, this worker ${VERSION}`);
    const cache = await caches.open(PREFIX + VERSION);
    await cache.addAll(files.map((file) => new Request(file, {cache: "reload"})));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith(PREFIX) && name !== PREFIX + VERSION)
      .map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith((async () => {
    const cache = await caches.open(PREFIX + VERSION);
    const cached = await cache.match(event.request, {ignoreSearch: true});
    return cached || fetch(event.request);
  })());
});
