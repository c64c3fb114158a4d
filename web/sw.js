// The service worker, served at /sw.js with this release's version filled in. It keeps the app
// shell (the page and the bundled files it loads) in a cache named after the version, so the app
// opens without a network; a new release changes these bytes, the browser installs the new worker
// beside this one, and the app offers to switch (see js/worker.js). Messages, sockets,
// notifications, uploads and the server's own pages always go to the network and are never kept.
// It also shows the server's Web Push messages as notifications, one per chat, and opens the chat
// when one is pressed.
const VERSION = '%ASSET_VERSION%';
const BASE = `/assets/${VERSION}/`;
const CACHE = `clavox-${VERSION}`;
const SHELL = '/';
const OFFLINE = `${BASE}offline.html`;
const FILES = ["%ASSET_FILES%"];
// Paths the server answers itself: their navigations never fall back to the app shell.
const SERVER_PATHS = ['/api', '/ws', '/socket.io', '/notify', '/join', '/healthz', '/readyz', '/metrics'];

const isServerPath = (path) => SERVER_PATHS.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));

async function precache() {
  const cache = await caches.open(CACHE);
  // During an upgrade the page may already come from the next release; a shell whose files are
  // not this version's would break offline, so the install fails and the browser tries later.
  const page = await fetch(SHELL, { cache: 'no-cache' });
  if (!page.ok || !(await page.clone().text()).includes(BASE)) throw new Error(`the page is not release ${VERSION}`);
  await cache.addAll(FILES.map((name) => BASE + name));
  await cache.put(SHELL, page);
}

async function activate() {
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name.startsWith('clavox-') && name !== CACHE).map((name) => caches.delete(name)));
  // The page's request goes out while the worker starts, instead of after.
  await self.registration.navigationPreload?.enable();
  // The first visit's page works offline at once, without a reload.
  await self.clients.claim();
}

// Network first, so every visit online gets the current release; the kept shell, else the offline
// page, when the server cannot be reached.
async function navigate(event, path) {
  try {
    return (await event.preloadResponse) || (await fetch(event.request));
  } catch {
    const cache = await caches.open(CACHE);
    const page = (isServerPath(path) ? null : await cache.match(SHELL)) || (await cache.match(OFFLINE));
    return page || new Response('Clavox cannot be reached. Check the connection and try again.', {
      status: 503,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    });
  }
}

async function fromCache(request) {
  return (await caches.match(request, { cacheName: CACHE })) || fetch(request);
}

self.addEventListener('install', (event) => event.waitUntil(precache()));
self.addEventListener('activate', (event) => event.waitUntil(activate()));

// A new release waits until the person chooses to reload (the app's "new version" prompt).
self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') event.respondWith(navigate(event, url.pathname));
  else if (url.pathname.startsWith(BASE)) event.respondWith(fromCache(request));
  // Anything else (the API, sockets, uploads, other releases' files) is left to the browser.
});

// ---- Notifications ----

const ICON = `${BASE}icons/icon-192.png`;
// The app's path of a chat: /chat/<id> in the page, /chats/<id> in pushes and ntfy links.
const CHAT_PATH = /^\/chats?\/([^/]+)\/?$/;
const ASK_MS = 500;

// Which chat a window has on screen (null: none, or the page is hidden). The page answers for
// itself, since a client's url does not follow the app's in-page navigation; a window that does
// not answer in time is judged by its address.
function chatShownBy(client) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => {
      channel.port1.close();
      resolve(decodeURIComponent(new URL(client.url).pathname.match(CHAT_PATH)?.[1] ?? '') || null);
    }, ASK_MS);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve(event.data?.chatId ?? null);
    };
    client.postMessage({ type: 'chat-on-screen' }, [channel.port2]);
  });
}

// A push is `{chatId, seq, title, body, url}`. Nothing is shown when a focused window shows that
// chat already (the message appears there); otherwise the chat's notification is replaced, so a
// phone shows only its latest message.
async function showPush(event) {
  let push = {};
  try {
    push = event.data?.json() ?? {};
  } catch {
    push = { body: event.data?.text() ?? '' };
  }
  const chatId = typeof push.chatId === 'string' ? push.chatId : '';
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const looking = windows.filter((client) => client.focused && client.visibilityState === 'visible');
  const shown = await Promise.all(looking.map(chatShownBy));
  if (chatId && shown.includes(chatId)) return;
  await self.registration.showNotification(push.title || 'Clavox', {
    body: push.body || '',
    icon: ICON,
    tag: chatId || 'clavox',
    renotify: true,
    timestamp: Date.now(),
    data: { url: push.url || (chatId ? `/chats/${chatId}` : '/'), chatId, seq: push.seq ?? null },
  });
}

// An open window of the app is brought forward and told which chat to show (it routes without a
// reload); with none open, a new one opens at the chat's address.
async function openFrom(notification) {
  const { url = '/', chatId = '' } = notification.data || {};
  const target = new URL(url, self.location.origin);
  if (target.origin !== self.location.origin) return;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => client.focused) || windows.find((client) => client.visibilityState === 'visible') || windows[0];
  if (open) {
    const focused = await open.focus().catch(() => open);
    (focused || open).postMessage({ type: 'open-chat', chatId, url: target.pathname });
    return;
  }
  await self.clients.openWindow(target.href);
}

self.addEventListener('push', (event) => event.waitUntil(showPush(event)));

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(openFrom(event.notification));
});

// The browser replaced the subscription: an open page sends the new one to the server (only the
// page holds the sign-in that may).
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true })
    .then((windows) => windows.forEach((client) => client.postMessage({ type: 'push-changed' }))));
});
