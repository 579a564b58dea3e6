// Jifen's service worker (served at /sw.js, scope "/"; VERSION, OFFLINE_URL and PRECACHE are written
// above this line by service/web/scanner_pages.py).
//
// - Static files (/assets/<hash>/<name>) never change at a URL: cache first. A page kept from an older
//   release asks for older hashes: offline it gets the current file of the same name.
// - Pages go to the network. A page somebody asked to keep (the scanner, the personal code; they post
//   {keep: [url]}) is refreshed in the cache whenever it loads, and is answered from the cache when
//   the network fails or takes longer than SLOW_MS. Any other page that cannot load gets Jifen's own
//   offline page, never the browser's error page.
// - API calls are not touched: the scanner decides itself what to do when they fail.
"use strict";
const ASSETS = "jifen-assets-" + VERSION;
const PAGES = "jifen-pages";
const SLOW_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const assets = await caches.open(ASSETS);
    await assets.addAll(PRECACHE);
    const pages = await caches.open(PAGES);
    await pages.add(new Request(OFFLINE_URL, { credentials: "same-origin" }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("jifen-assets-") && name !== ASSETS) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (Array.isArray(data.keep)) event.waitUntil(keep(data.keep));
  if (data.forget === true) event.waitUntil(forget());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (request.method === "GET" && url.pathname.startsWith("/assets/")) {
    event.respondWith(asset(request, url));
  }
});

async function keep(urls) {
  // Pages to keep for offline use: fetched now (with the login cookie) and stored.
  const pages = await caches.open(PAGES);
  for (const raw of urls.slice(0, 10)) {
    const url = new URL(raw, self.location.origin);
    if (url.origin !== self.location.origin) continue;
    try {
      const response = await fetch(url.href, { credentials: "same-origin", redirect: "follow" });
      if (response.ok && !response.redirected) await pages.put(url.href, response);
    } catch (e) { /* offline now: kept at the next visit */ }
  }
}

async function forget() {
  // On logout: the kept pages show a person's code, so they leave with the login.
  const pages = await caches.open(PAGES);
  for (const request of await pages.keys()) {
    if (new URL(request.url).pathname !== OFFLINE_URL) await pages.delete(request);
  }
}

function timeout(ms) {
  return new Promise((resolve) => setTimeout(() => resolve(null), ms));
}

async function navigate(request) {
  const pages = await caches.open(PAGES);
  const kept = request.method === "GET" ? await pages.match(request.url) : undefined;
  const network = fetch(request).then((response) => {
    if (kept && response.ok && !response.redirected && response.type === "basic") {
      pages.put(request.url, response.clone());
    }
    return response;
  });
  try {
    if (!kept) return await network;
    const first = await Promise.race([network, timeout(SLOW_MS)]);
    if (first) return first;
    network.catch(() => null);
    return kept;
  } catch (e) {
    if (kept) return kept;
    return (await pages.match(OFFLINE_URL)) || new Response(
      "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>" +
      "<title>无法连接</title><h1>无法连接积分服务器</h1><p>请检查手机网络，稍后再试。</p>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  }
}

async function asset(request, url) {
  const cache = await caches.open(ASSETS);
  const hit = await cache.match(request);
  if (hit) return hit;
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) cache.put(request, response.clone());
    return response;
  } catch (e) {
    const name = url.pathname.split("/").pop();
    for (const key of await cache.keys()) {
      if (new URL(key.url).pathname.split("/").pop() === name) return cache.match(key);
    }
    throw e;
  }
}
