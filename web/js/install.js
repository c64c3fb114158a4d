// Installing the app on a device. Chromium (Android, desktop) fires `beforeinstallprompt` when it
// would install the app; the event is kept so an "Install app" button can show the browser's
// dialog later. Its own mini-infobar is left alone: people who miss our button still get it. Safari
// on iPhone and iPad has no such event; there the app can only say where "Add to Home Screen" is.
import { createEmitter } from './emitter.js';

const HINT_KEY = 'clavox.installHint';
const events = createEmitter();
let deferred = null;

export const onChange = (fn) => events.on('change', fn);
export const canPrompt = () => Boolean(deferred);

export function listen() {
  window.addEventListener('beforeinstallprompt', (event) => {
    deferred = event;
    events.emit('change');
  });
  window.addEventListener('appinstalled', () => {
    deferred = null;
    events.emit('change');
  });
}

// Shows the browser's install dialog; resolves to true when the person accepted.
export async function prompt() {
  const event = deferred;
  if (!event) return false;
  // One event shows one dialog; the browser fires a new one if it may ask again.
  deferred = null;
  events.emit('change');
  await event.prompt();
  const { outcome } = await event.userChoice;
  return outcome === 'accepted';
}

export function isInstalled() {
  return window.matchMedia('(display-mode: standalone)').matches || navigator.standalone === true;
}

// Safari on iOS and iPadOS (which calls itself a Mac, but has a touch screen). Other iOS browsers
// name themselves (CriOS, FxiOS, EdgiOS) and have their own menus.
export function isIosSafari() {
  const agent = navigator.userAgent;
  const apple = /iPhone|iPad|iPod/.test(agent) || (/Macintosh/.test(agent) && navigator.maxTouchPoints > 1);
  return apple && /Safari\//.test(agent) && !/CriOS|FxiOS|EdgiOS|OPiOS/.test(agent);
}

// The "Add to Home Screen" hint is for Safari on iOS, until the app is installed or the hint dismissed.
export function wantsHomeScreenHint() {
  if (!isIosSafari() || isInstalled()) return false;
  try {
    return localStorage.getItem(HINT_KEY) !== 'dismissed';
  } catch {
    return false; // nowhere to remember a dismissal: better not to nag on every visit
  }
}

export function dismissHomeScreenHint() {
  try {
    localStorage.setItem(HINT_KEY, 'dismissed');
  } catch {
    // Not remembered; it goes away for this visit.
  }
}
