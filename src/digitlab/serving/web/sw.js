// Keeps every file of the app (listed, with a version, in precache.json) so that it works offline.
// Cache first: the files of one version never change; a new build has a new version and a new cache.
const LIST = "precache.json";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const {version, files} = await (await fetch(LIST, {cache: "no-store"})).json();
    const cache = await caches.open(`digitlab-${version}`);
    await cache.addAll(files);
    await cache.put("version", new Response(version));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    const newest = [];
    for (const name of names) {
      const cache = await caches.open(name);
      if (await cache.match("version")) newest.push(name);
    }
    const keep = newest[newest.length - 1];
    await Promise.all(names.filter((name) => name !== keep).map((name) => caches.delete(name)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  event.respondWith((async () => {
    const cached = await caches.match(event.request, {ignoreSearch: true});
    return cached || fetch(event.request);
  })());
});
