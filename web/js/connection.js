// The one WebSocket to the server. It authenticates with join_user, matches each request to its
// ack or error by id, pings to notice dead links, reconnects with jittered exponential backoff,
// and re-joins on the live socket whenever the access token rotates (which extends it). After each
// join and whenever the page shows or hides, it tells the server whether the app is in view
// (`visibility`): a person whose every socket is hidden gets notifications.
// Server events are re-emitted under their own names; "joined" fires after every successful join.
import * as session from './session.js';
import { refresh } from './api.js';
import { createEmitter } from './emitter.js';

const ACK_TIMEOUT_MS = 10_000;
// A link that died without a close (a sleeping server, a dropped Wi-Fi) is noticed within about
// 10 s: a ping every 4 s, and no pong within 5 s means the socket is dead.
const PING_EVERY_MS = 4_000;
const PONG_WAIT_MS = 5_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CLOSE_AUTH = 4001;

const events = createEmitter();
const awaiting = new Map(); // frame id → { resolve, reject, timer }

let socket = null;
let state = 'idle'; // idle | connecting | online | waiting
let running = false;
let attempt = 0;
let nextId = 1;
let retryTimer = 0;
let pingTimer = 0;
let pinging = false; // a ping is out and unanswered
let retryAt = 0;
let downSince = Date.now();
let joinedToken = null;
let offSession = null;

export const on = events.on;
export const getState = () => state;
export const isOnline = () => state === 'online';
export const downFor = () => (state === 'online' ? 0 : Date.now() - downSince);
export const retryIn = () => Math.max(0, retryAt - Date.now());

export function start() {
  if (running) return;
  running = true;
  attempt = 0;
  downSince = Date.now();
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', goneOffline);
  document.addEventListener('visibilitychange', onVisibility);
  offSession = session.onChange(onTokens);
  connect();
}

export function stop() {
  running = false;
  clearTimeout(retryTimer);
  window.removeEventListener('online', reconnectNow);
  window.removeEventListener('offline', goneOffline);
  document.removeEventListener('visibilitychange', onVisibility);
  offSession?.();
  drop();
  setState('idle');
}

export function reconnectNow() {
  if (!running || socket) return;
  clearTimeout(retryTimer);
  connect();
}

// Sends one frame and resolves with the ack's data; rejects with { code } from the server's error,
// or "offline" / "timeout" / "disconnected" when the link failed.
export function request(event, data, beforeJoin = false, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const open = socket?.readyState === WebSocket.OPEN;
    if (!open || (!beforeJoin && state !== 'online')) {
      reject(linkError('offline'));
      return;
    }
    const id = nextId++;
    const timer = setTimeout(() => {
      awaiting.delete(id);
      reject(linkError('timeout'));
    }, timeoutMs);
    awaiting.set(id, { resolve, reject, timer });
    socket.send(JSON.stringify({ event, data, id }));
  });
}

function linkError(code) {
  return Object.assign(new Error(code), { code, transient: true });
}

function setState(next, since = Date.now()) {
  if (state === 'online' && next !== 'online') downSince = since;
  if (state === next) return;
  state = next;
  events.emit('state', next);
}

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  let sock;
  try {
    sock = new WebSocket(`${scheme}://${location.host}/ws`);
  } catch {
    scheduleRetry();
    return;
  }
  socket = sock;
  setState('connecting');
  sock.onopen = () => join(sock, true);
  sock.onmessage = (event) => receive(event.data);
  sock.onclose = (event) => {
    if (socket === sock) closed(event.code);
  };
}

async function join(sock, mayRefresh) {
  const token = session.get()?.accessToken;
  try {
    const ack = await request('join_user', { token }, true);
    if (socket !== sock) return;
    joinedToken = token;
    attempt = 0;
    setState('online');
    startPing();
    sendVisibility();
    events.emit('joined', ack?.user);
  } catch (err) {
    if (socket !== sock) return;
    if (err.code === 'unauthorized' && mayRefresh && (await renewed(token))) {
      join(sock, false);
      return;
    }
    drop();
    scheduleRetry();
  }
}

// A 401 from the refresh ends the session (api.js clears it and the app returns to login).
async function renewed(token) {
  try {
    await refresh(token);
    return true;
  } catch {
    return false;
  }
}

function closed(code) {
  socket = null;
  stopPing();
  rejectAll();
  if (!running) return;
  if (code === CLOSE_AUTH) {
    setState('waiting');
    renewed(session.get()?.accessToken).then(scheduleRetry);
    return;
  }
  scheduleRetry();
}

function scheduleRetry() {
  if (!running) return;
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  attempt += 1;
  // While the device says it has no network, the "online" event is the signal to try; the long
  // wait only covers a browser that never sends it.
  const offline = navigator.onLine === false;
  const delay = offline ? BACKOFF_MAX_MS : Math.round(base * (0.7 + Math.random() * 0.6));
  retryAt = Date.now() + delay;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
  setState('waiting');
}

// Forgets the current socket at once, without waiting for a closing handshake that a dead link
// would never finish.
function drop() {
  const sock = socket;
  socket = null;
  stopPing();
  rejectAll();
  if (!sock) return;
  sock.onopen = null;
  sock.onmessage = null;
  sock.onclose = null;
  sock.close();
}

function rejectAll() {
  for (const { reject, timer } of awaiting.values()) {
    clearTimeout(timer);
    reject(linkError('disconnected'));
  }
  awaiting.clear();
}

function receive(text) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  if (!frame || typeof frame.event !== 'string') return;
  const waiter = frame.id != null ? awaiting.get(frame.id) : null;
  if (waiter && (frame.event === 'ack' || frame.event === 'error')) {
    awaiting.delete(frame.id);
    clearTimeout(waiter.timer);
    if (frame.event === 'ack') waiter.resolve(frame.data ?? {});
    else waiter.reject(Object.assign(new Error(frame.data?.error || 'error'), { code: frame.data?.code || 'error' }));
    return;
  }
  events.emit(frame.event, frame.data);
}

function startPing() {
  stopPing();
  pingTimer = setInterval(checkAlive, PING_EVERY_MS);
}

function stopPing() {
  clearInterval(pingTimer);
  pinging = false;
}

// An unanswered ping means the link is dead even if the browser has not noticed yet. It has been
// down since the ping went out, so the banner's grace for short blips is already spent.
function checkAlive() {
  if (pinging) return;
  pinging = true;
  const sock = socket;
  const sentAt = Date.now();
  request('ping', {}, false, PONG_WAIT_MS).then(() => {
    if (socket === sock) pinging = false;
  }, (err) => {
    if (socket !== sock) return;
    pinging = false;
    if (err.code !== 'timeout') return;
    setState('waiting', sentAt);
    drop();
    scheduleRetry();
  });
}

// The device says it has no network: the socket is dead even if the browser has not noticed, so
// let it go now (and show it) instead of waiting for a ping to go unanswered. "online" reconnects.
function goneOffline() {
  if (!running || !socket) return;
  drop();
  scheduleRetry();
}

function sendVisibility() {
  if (state !== 'online') return;
  request('visibility', { visible: document.visibilityState === 'visible' }).catch(() => {});
}

function onVisibility() {
  sendVisibility();
  if (document.visibilityState !== 'visible') return;
  if (state === 'online') checkAlive();
  else reconnectNow();
}

function onTokens() {
  const token = session.get()?.accessToken;
  if (state !== 'online' || !token || token === joinedToken) return;
  joinedToken = token;
  request('join_user', { token }).then(sendVisibility, () => {});
}
