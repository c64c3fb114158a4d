// What this device tells the server about other people's messages: "received" as soon as they
// reach it (mark_received, debounced, with the highest seq) and "read" while a chat is on screen
// (mark_read). A read mark implies delivery, so a received mark already covered by one is not sent.
// Both go over the socket, else over REST.
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';

const RECEIVED_DEBOUNCE_MS = 250;

const sentRead = new Map(); // chatId → highest seq reported read
const sentReceived = new Map(); // chatId → highest seq reported received
const waiting = new Map(); // chatId → highest seq to report received
let timer = 0;

export function reset() {
  sentRead.clear();
  sentReceived.clear();
  waiting.clear();
  clearTimeout(timer);
}

// Marks sent while offline may have been lost; report again after a reconnect.
export function forgetSent() {
  sentRead.clear();
  sentReceived.clear();
}

const covered = (chatId, seq) => Math.max(sentRead.get(chatId) ?? 0, sentReceived.get(chatId) ?? 0) >= seq;

// Someone else's messages up to `seq` of this chat are on this device.
export function received(chatId, seq) {
  if (!seq || covered(chatId, seq) || (waiting.get(chatId) ?? 0) >= seq) return;
  waiting.set(chatId, seq);
  clearTimeout(timer);
  timer = setTimeout(flushReceived, RECEIVED_DEBOUNCE_MS);
}

// The newest of these messages from someone else that this user has not yet had delivered.
export function receivedAll(chatId, messages) {
  const me = store.state.me?.id;
  const mine = (list) => (list || []).some((mark) => mark.userId === me);
  const fresh = messages.filter((m) => m.senderId !== me && !mine(m.deliveredTo) && !mine(m.readBy));
  if (fresh.length) received(chatId, Math.max(...fresh.map((m) => m.seq)));
}

function flushReceived() {
  for (const [chatId, seq] of waiting) {
    waiting.delete(chatId);
    // The chat was open and read meanwhile: that mark already said so.
    if (covered(chatId, seq)) continue;
    sentReceived.set(chatId, seq);
    connection
      .request('mark_received', { chatId, seq })
      .catch(() => api.post(`/api/chats/${chatId}/received`, { seq }))
      .catch(() => {
        if (sentReceived.get(chatId) === seq) sentReceived.delete(chatId);
      });
  }
}

// Reports everything on screen as read: over the socket, else over REST, and clears the badge.
export function markRead(chatId) {
  const chat = store.state.chats.get(chatId);
  if (!chat) return;
  const top = Math.max(store.lastSeq(chatId), chat.lastMessage?.seq ?? 0);
  if (!top || (top <= (sentRead.get(chatId) ?? 0) && !chat.unreadCount)) return;
  sentRead.set(chatId, top);
  store.clearUnread(chatId);
  connection
    .request('mark_read', { chatId, seq: top })
    .catch(() => api.post(`/api/chats/${chatId}/read`, { seq: top }))
    .catch(() => {
      if (sentRead.get(chatId) === top) sentRead.delete(chatId);
    });
}
