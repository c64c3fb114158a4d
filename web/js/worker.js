// The service worker (../sw.js, served at /sw.js): registered where the browser offers one, that
// is on https and on this machine's own addresses; on a plain-http LAN address there is none and
// the app works as before, online only. Says when a new release's worker is waiting, and hands
// over to it when asked.
import { createEmitter } from './emitter.js';

const UPDATE_CHECK_MS = 60 * 60_000; // an installed app may stay open for days
const events = createEmitter();
let waiting = null;
let switching = false;

export const onUpdate = (fn) => events.on('update', fn);
export const updateWaiting = () => Boolean(waiting);

function offer(worker) {
  waiting = worker;
  events.emit('update');
}

// A worker installed while another controls the page is a new release. Without a controller it is
// the first one, which simply takes over: there is nothing to update.
function watch(registration) {
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
    });
  });
}

// After the page has loaded, so that filling the cache does not compete with it.
export function register() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (switching) window.location.reload();
  });
  const start = () => navigator.serviceWorker.register('/sw.js', { scope: '/' }).then((registration) => {
    watch(registration);
    setInterval(() => registration.update().catch(() => {}), UPDATE_CHECK_MS);
  }, () => {
    // No worker (storage blocked, private mode): the app still works online.
  });
  if (document.readyState === 'complete') start();
  else window.addEventListener('load', start, { once: true });
}

// Activates the waiting release; the page reloads once it controls the page. If another tab has
// already switched, the new worker is in charge and a reload is all that is left.
export function applyUpdate() {
  if (waiting?.state !== 'installed') {
    window.location.reload();
    return;
  }
  switching = true;
  waiting.postMessage({ type: 'skip-waiting' });
}
