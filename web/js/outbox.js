// Messages on their way out. Each typed message gets a clientId, shows at once as pending, and is
// kept in localStorage until the server has it, so a reload or a dead connection loses nothing.
// Delivery is one at a time in typing order, over the socket or, when the socket has been down a
// while, over REST; resending with the same clientId is safe because the server dedupes by it.
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';

const RETRY_MS = 8_000;
const REST_AFTER_MS = 10_000;
const PERMANENT = new Set(['validation_failed', 'not_found', 'forbidden', 'payload_too_large', 'bad_request', 'not_a_group', 'blocked']);

let storageKey = null;
let items = [];
let running = false;
let retryTimer = 0;

function save() {
  try {
    localStorage.setItem(storageKey, JSON.stringify(items));
  } catch {
    // Storage full or blocked: the queue still works for this page's lifetime.
  }
}

export function load(userId) {
  storageKey = `clavox.outbox.${userId}`;
  try {
    items = JSON.parse(localStorage.getItem(storageKey)) || [];
  } catch {
    items = [];
  }
  for (const item of items) store.addPending(item);
}

// `discard`: the user signed out on purpose, so unsent messages must not linger on the device.
export function unload({ discard = false } = {}) {
  clearTimeout(retryTimer);
  if (discard && storageKey) localStorage.removeItem(storageKey);
  storageKey = null;
  items = [];
}

export const size = () => items.length;

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; plain-http LAN installs still have getRandomValues.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

// `replyTo`: the quoted message's ReplyPreview (shown while pending; its seq is what is sent);
// `mentions`: user ids named with @ in the text; `clientId`: one the message already has (an
// attachment that was pending as an upload).
export function enqueue(chatId, content, type = 'text', metadata = null, { replyTo = null, mentions = [], clientId = newClientId() } = {}) {
  const item = { clientId, chatId, content, type, metadata, replyTo, mentions, createdAt: new Date().toISOString() };
  items.push(item);
  save();
  store.addPending(item);
  flush();
}

// A failed message sent again keeps its clientId, so it can never arrive twice.
export function retry(pending) {
  store.removePending(pending.chatId, pending.clientId);
  const { clientId, chatId, content, type, metadata, replyTo = null, mentions = [] } = pending;
  const item = { clientId, chatId, content, type, metadata, replyTo, mentions, createdAt: new Date().toISOString() };
  items.push(item);
  save();
  store.addPending(item);
  flush();
}

function deliver(item) {
  const body = { content: item.content, type: item.type, clientId: item.clientId };
  if (item.metadata) body.metadata = item.metadata;
  if (item.replyTo?.seq) body.replyTo = item.replyTo.seq;
  if (item.mentions?.length) body.mentions = item.mentions;
  if (item.type !== 'text' && !item.content) delete body.content;
  if (connection.isOnline()) return connection.request('send_message', { chatId: item.chatId, ...body });
  if (connection.downFor() >= REST_AFTER_MS) return api.post(`/api/chats/${item.chatId}/messages`, body);
  return Promise.reject(Object.assign(new Error('offline'), { code: 'offline' }));
}

export async function flush() {
  if (running || !items.length) return;
  running = true;
  clearTimeout(retryTimer);
  const key = storageKey;
  try {
    while (items.length && storageKey === key) {
      const item = items[0];
      try {
        store.putMessage(await deliver(item));
      } catch (err) {
        if (!PERMANENT.has(err.code)) break;
        store.failPending(item.chatId, item.clientId, err.code);
      }
      if (storageKey !== key) return;
      items.shift();
      save();
    }
  } finally {
    running = false;
  }
  if (items.length && storageKey === key) retryTimer = setTimeout(flush, RETRY_MS);
}
