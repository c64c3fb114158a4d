// Attachments on their way out. Each shows at once as a pending bubble (with the photo itself, a
// progress bar and a cancel button), is kept with its bytes until uploaded (upload-store.js), and is
// uploaded one at a time in the order picked; offline it waits and goes on after reconnecting. Once
// the server has the bytes, the message is handed to the outbox under the same clientId, which
// sends it like typed text (and the server dedupes a resend by that clientId).
import * as api from './api.js';
import * as store from './store.js';
import * as outbox from './outbox.js';
import * as uploadStore from './upload-store.js';
import { createEmitter } from './emitter.js';

const RETRY_MS = 8_000;
// Failures that trying again cannot mend: the bubble says "Not sent" with retry and discard.
const PERMANENT = new Set(['payload_too_large', 'quota_exceeded', 'validation_failed', 'unsupported_media_type', 'forbidden', 'http_507']);

const events = createEmitter();
let userId = null;
let items = []; // { item, blob, preview, progress, controller }
let running = false;
let retryTimer = 0;
let order = 0;

export const size = () => items.length;
const find = (clientId) => items.find((entry) => entry.item.clientId === clientId);

// The photo's own bytes as a URL, for its pending bubble; null for other kinds.
export function previewOf(clientId) {
  const entry = find(clientId);
  if (!entry || !entry.blob.type.startsWith('image/')) return null;
  if (!entry.preview) entry.preview = URL.createObjectURL(entry.blob);
  return entry.preview;
}

export const progressOf = (clientId) => find(clientId)?.progress ?? 0;

// `fn(fraction)` on each progress report for `clientId`; returns the unsubscribe.
export const onProgress = (clientId, fn) => events.on(`progress:${clientId}`, fn);

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function forget(entry) {
  items = items.filter((other) => other !== entry);
  if (entry.preview) URL.revokeObjectURL(entry.preview);
  uploadStore.remove(entry.item.clientId);
}

export async function load(id) {
  userId = id;
  const records = await uploadStore.allOf(id);
  if (userId !== id) return;
  for (const record of records) {
    items.push({ item: record.item, blob: record.blob, preview: null, progress: 0, controller: null });
    store.addPending(record.item);
  }
  flush();
}

// `discard`: the user signed out on purpose; nothing of theirs may stay on the device.
export function unload({ discard = false } = {}) {
  clearTimeout(retryTimer);
  for (const entry of items) {
    entry.controller?.abort();
    if (entry.preview) URL.revokeObjectURL(entry.preview);
  }
  if (discard && userId) uploadStore.removeAllOf(userId);
  items = [];
  userId = null;
}

// Queues `blob` to be sent into `chatId` as a `type` message ('image', 'file' or 'voice') with
// `metadata` (name, size, contentType, width/height, durationMs, album: url comes after the
// upload), `content` (a caption) and the outbox's `replyTo` / `mentions`. Returns its clientId.
export function enqueue(chatId, blob, { type, metadata, content = '', replyTo = null, mentions = [] }) {
  const item = {
    clientId: newClientId(), chatId, content, type, metadata, replyTo, mentions, upload: true, createdAt: new Date().toISOString(),
  };
  const entry = { item, blob, preview: null, progress: 0, controller: null };
  items.push(entry);
  uploadStore.put({ clientId: item.clientId, userId, item, blob, order: (order += 1) });
  store.addPending(item);
  flush();
  return item.clientId;
}

// Stops the upload of `clientId` (if it is still an upload) and takes its bubble away.
export function cancel(chatId, clientId) {
  const entry = find(clientId);
  if (entry) {
    entry.controller?.abort();
    forget(entry);
  }
  store.removePending(chatId, clientId);
  flush();
}

// A failed attachment tried again, keeping its clientId.
export function retry(pending) {
  const entry = find(pending.clientId);
  if (!entry) return;
  entry.item.failed = false;
  store.removePending(pending.chatId, pending.clientId);
  store.addPending(entry.item);
  // Behind the others, as when it was picked.
  items = [...items.filter((other) => other !== entry), entry];
  flush();
}

function report(entry, fraction) {
  entry.progress = fraction;
  events.emit(`progress:${entry.item.clientId}`, fraction);
}

async function send(entry) {
  const { item, blob } = entry;
  entry.controller = new AbortController();
  report(entry, 0);
  const uploaded = await api.uploadTracked(blob, item.metadata.name, {
    signal: entry.controller.signal,
    onProgress: (fraction) => report(entry, fraction),
  });
  report(entry, 1);
  const metadata = { ...item.metadata, url: uploaded.url, size: uploaded.size ?? blob.size };
  if (uploaded.contentType) metadata.contentType = uploaded.contentType;
  // The outbox's pending copy takes this one's place in the chat, and its own storage over ours.
  store.removePending(item.chatId, item.clientId);
  outbox.enqueue(item.chatId, item.content, item.type, metadata, { replyTo: item.replyTo, mentions: item.mentions, clientId: item.clientId });
  forget(entry);
}

export async function flush() {
  if (running || !userId) return;
  running = true;
  clearTimeout(retryTimer);
  const owner = userId;
  let waiting = false;
  try {
    for (let entry = items.find((e) => !e.item.failed); entry && userId === owner; entry = items.find((e) => !e.item.failed)) {
      try {
        await send(entry);
      } catch (err) {
        if (err.code === 'aborted') continue;
        if (!PERMANENT.has(err.code) && err.status !== 413) {
          waiting = true;
          break;
        }
        entry.item.failed = true;
        store.failPending(entry.item.chatId, entry.item.clientId);
      } finally {
        entry.controller = null;
      }
    }
  } finally {
    running = false;
  }
  if (waiting && userId === owner) retryTimer = setTimeout(flush, RETRY_MS);
}

// Back on the network: go on at once rather than at the next retry.
window.addEventListener('online', () => flush());

// "Retry" on a failed bubble: each unsent message of it (an album has several) goes again, the
// typed ones through the outbox.
export function retryFailed(message) {
  for (const member of message.albumMessages || [message]) {
    if (!member.failed) continue;
    if (member.upload) retry(member);
    else outbox.retry(member);
  }
}

// "Discard" on a failed bubble: its failed messages go.
export function discardFailed(message) {
  for (const member of message.albumMessages || [message]) {
    if (!member.failed) continue;
    if (member.upload) cancel(member.chatId, member.clientId);
    else store.removePending(member.chatId, member.clientId);
  }
}
