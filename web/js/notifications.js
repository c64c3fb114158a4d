// Web Push on this device: the browser's permission, its push subscription and the server's copy
// of it (POST / DELETE /api/push/subscriptions, made for the signed-in session). Only secure pages
// (https://, this machine's own address) get push; on a plain-http LAN address the app says where
// the secure address is instead. The subscription is sent again on every start, since a browser
// may have replaced it, and taken back on sign-out. Also when to offer notifications: not on the
// first visit, but once the person has opened a chat, until they accept or dismiss the offer.
import * as api from './api.js';
import { createEmitter } from './emitter.js';

const PREFERENCE_KEY = 'clavox.push'; // "off": turned off on this device, so not renewed on start
const OFFER_KEY = 'clavox.pushOffer'; // "ready": a chat was opened · "dismissed"
const READY_WAIT_MS = 10_000;

const events = createEmitter();
let subscribed = false;
let failure = null; // why the last attempt failed (an ApiError or a DOMException)

export const onChange = (fn) => events.on('change', fn);
export const lastFailure = () => failure;

function remember(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage blocked: the choice lasts for this page only.
  }
}

function recall(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export const needsSecureAddress = () => window.isSecureContext === false;
const capable = () => 'Notification' in window && 'PushManager' in window && 'serviceWorker' in navigator;

// insecure · unsupported · denied · on · off
export function status() {
  if (needsSecureAddress()) return 'insecure';
  if (!capable()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  return subscribed && Notification.permission === 'granted' ? 'on' : 'off';
}

function changed() {
  events.emit('change');
}

// The worker's registration; null when there is none (storage blocked, private windows).
async function registration() {
  const timeout = new Promise((resolve) => {
    setTimeout(() => resolve(null), READY_WAIT_MS);
  });
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const text = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const have = new Uint8Array(buffer);
  return have.length === bytes.length && have.every((b, i) => b === bytes[i]);
}

// Subscribes with the server's key (again, if the one kept was made with another key) and hands
// the subscription to the server.
async function subscribeHere({ create }) {
  const reg = await registration();
  if (!reg) throw Object.assign(new Error('no service worker'), { code: 'no_worker' });
  const { publicKey } = await api.get('/api/push/key');
  const key = keyBytes(publicKey);
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options?.applicationServerKey, key)) {
    await subscription.unsubscribe().catch(() => {});
    subscription = null;
  }
  if (!subscription && !create) return false;
  subscription ||= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await api.post('/api/push/subscriptions', subscription.toJSON());
  return true;
}

async function attempt(create) {
  try {
    subscribed = await subscribeHere({ create });
    failure = null;
  } catch (err) {
    subscribed = false;
    failure = err;
  }
  changed();
  return subscribed;
}

// On start: where notifications are allowed and not turned off here, renew the subscription.
export async function resume() {
  if (status() === 'insecure' || status() === 'unsupported') return;
  if (Notification.permission !== 'granted' || recall(PREFERENCE_KEY) === 'off') {
    subscribed = false;
    changed();
    return;
  }
  await attempt(true);
}

// Asks for permission (call it from a click) and subscribes; resolves to the permission.
export async function enable() {
  if (!capable() || needsSecureAddress()) return 'denied';
  const permission = await Notification.requestPermission();
  if (permission === 'granted') {
    remember(PREFERENCE_KEY, null);
    remember(OFFER_KEY, 'dismissed');
    await attempt(true);
  } else {
    changed();
  }
  return permission;
}

// Takes the subscription back from the server and the browser.
async function withdraw() {
  const reg = capable() && !needsSecureAddress() ? await navigator.serviceWorker.getRegistration().catch(() => null) : null;
  const subscription = await reg?.pushManager.getSubscription().catch(() => null);
  if (subscription) {
    await api.del('/api/push/subscriptions', { endpoint: subscription.endpoint }).catch(() => {});
    await subscription.unsubscribe().catch(() => {});
  }
  subscribed = false;
  failure = null;
  changed();
}

// Turned off in the settings: stays off on this device until turned on again.
export async function disable() {
  remember(PREFERENCE_KEY, 'off');
  await withdraw();
}

// Signing out: the next person to sign in here starts without this one's notifications.
export const signOut = () => withdraw();

// ---- When to offer ----

export function wantsOffer() {
  if (recall(OFFER_KEY) !== 'ready') return false;
  if (needsSecureAddress()) return true;
  return status() === 'off' && Notification.permission === 'default';
}

// The person opened a chat: from now on the offer may show.
export function engaged() {
  if (recall(OFFER_KEY)) return;
  remember(OFFER_KEY, 'ready');
  changed();
}

export function dismissOffer() {
  remember(OFFER_KEY, 'dismissed');
  changed();
}

// ---- Shown notifications ----

// The chat is on screen: its notifications have been seen.
export async function clearShown(chatId) {
  if (status() === 'insecure' || status() === 'unsupported' || Notification.permission !== 'granted') return;
  const reg = await navigator.serviceWorker.getRegistration().catch(() => null);
  const shown = await reg?.getNotifications({ tag: chatId }).catch(() => []);
  for (const notification of shown || []) notification.close();
}

// Once per page: the worker asks which chat is on screen (`chatOnScreen()`, to leave a push for it
// unshown) or to open a chat (a notification was pressed), or says the browser replaced the
// subscription.
export function listen({ onOpenChat, chatOnScreen }) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    const data = event.data || {};
    if (data.type === 'chat-on-screen') event.ports[0]?.postMessage({ chatId: chatOnScreen() });
    else if (data.type === 'open-chat' && typeof data.chatId === 'string' && data.chatId) onOpenChat(data.chatId);
    else if (data.type === 'push-changed' && subscribed) resume();
  });
}
