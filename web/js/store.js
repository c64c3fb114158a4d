// The client's picture of the world: chats, message history per chat, users, read and delivery
// marks, pinned messages and who is typing. Only this module changes it; screens read `state` and
// re-render on its events: "chats", "removed" (chatId), "messages" (chatId), "reads" (chatId),
// "pins" (chatId), "typing" (chatId), "user" (userId).
import { createEmitter } from './emitter.js';

const TYPING_EXPIRE_MS = 8_000; // the server ends a typing state after 6 s; this only covers a lost event

const events = createEmitter();
export const on = events.on;

export const state = {
  me: null,
  chats: new Map(),
  chatsLoaded: false,
  chatsError: null,
  users: new Map(),
  boxes: new Map(), // chatId → message box, see box()
  reads: new Map(), // chatId → Map(userId → highest seq read)
  delivered: new Map(), // chatId → Map(userId → highest seq delivered to their devices)
  pins: new Map(), // chatId → [Message], most recently pinned first, once fetched
  typing: new Map(), // chatId → Map(userId → expiry timer)
  viewing: null, // the chat on screen while the page is visible
};

export function reset(me) {
  for (const typers of state.typing.values()) for (const timer of typers.values()) clearTimeout(timer);
  Object.assign(state, {
    me,
    chats: new Map(),
    chatsLoaded: false,
    chatsError: null,
    users: new Map(me ? [[me.id, me]] : []),
    boxes: new Map(),
    reads: new Map(),
    delivered: new Map(),
    pins: new Map(),
    typing: new Map(),
    viewing: null,
  });
}

export function setViewing(chatId) {
  state.viewing = chatId;
}

// ---- Users ----

export function putUser(user) {
  const merged = { ...state.users.get(user.id), ...user };
  state.users.set(user.id, merged);
  if (state.me?.id === user.id) state.me = merged;
  events.emit('user', user.id);
}

export function setPresence({ userId, status, lastSeen }) {
  const known = state.users.get(userId);
  putUser({ id: userId, isOnline: status === 'online', lastSeen: lastSeen ?? known?.lastSeen ?? null });
}

// ---- Chats ----

const activity = (chat) => Date.parse(chat.lastMessage?.createdAt || chat.updatedAt || chat.createdAt) || 0;

export function sortedChats() {
  return [...state.chats.values()].sort((a, b) => activity(b) - activity(a));
}

// `ownCount`: the chat came from a request of this user, so its unreadCount is this user's.
function mergeChat(old, chat, ownCount) {
  const merged = { ...old, ...chat, addedAt: old?.addedAt ?? Date.now() };
  const oldLast = old?.lastMessage;
  // An answer that predates a message already here also predates its unread count.
  const stale = Boolean(oldLast) && (!chat.lastMessage || chat.lastMessage.seq < oldLast.seq);
  if (stale) merged.lastMessage = oldLast;
  if ((!ownCount || stale) && old) merged.unreadCount = old.unreadCount;
  merged.unreadCount = merged.unreadCount || 0;
  if (merged.lastMessage) seedReads(merged.id, [merged.lastMessage]);
  return merged;
}

// The full list from GET /api/chats. Chats added locally after `requestedAt` are kept, since the
// answer may predate them.
export function setChats(list, requestedAt) {
  const next = new Map(list.map((chat) => [chat.id, mergeChat(state.chats.get(chat.id), chat, true)]));
  const gone = [];
  for (const [id, chat] of state.chats) {
    if (next.has(id)) continue;
    if (chat.addedAt > requestedAt) next.set(id, chat);
    else gone.push(id);
  }
  state.chats = next;
  state.chatsLoaded = true;
  state.chatsError = null;
  for (const id of gone) forget(id);
  events.emit('chats');
}

export function setChatsError(error) {
  state.chatsError = error;
  events.emit('chats');
}

export function upsertChat(chat, ownCount = false) {
  const old = state.chats.get(chat.id);
  state.chats.set(chat.id, mergeChat(old, chat, ownCount || !old));
  events.emit('chats');
  events.emit('messages', chat.id); // membership changes read status and sender names
}

export function removeChat(chatId) {
  if (!state.chats.has(chatId) && !state.boxes.has(chatId)) return;
  state.chats.delete(chatId);
  forget(chatId);
  events.emit('chats');
}

function forget(chatId) {
  state.boxes.delete(chatId);
  state.reads.delete(chatId);
  state.delivered.delete(chatId);
  state.pins.delete(chatId);
  for (const timer of state.typing.get(chatId)?.values() || []) clearTimeout(timer);
  state.typing.delete(chatId);
  events.emit('removed', chatId);
}

export function bumpUnread(chatId) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  chat.unreadCount += 1;
  events.emit('chats');
}

export function clearUnread(chatId) {
  const chat = state.chats.get(chatId);
  if (!chat || !chat.unreadCount) return;
  chat.unreadCount = 0;
  events.emit('chats');
}

// This user read up to `seq` on another device.
export function readElsewhere(chatId, seq) {
  const chat = state.chats.get(chatId);
  if (!chat) return;
  const history = state.boxes.get(chatId);
  if (!chat.lastMessage || chat.lastMessage.seq <= seq) chat.unreadCount = 0;
  else if (history?.loaded) {
    const newer = history.messages.filter((m) => m.seq > seq && m.senderId !== state.me?.id).length;
    chat.unreadCount = Math.min(chat.unreadCount, newer);
  }
  events.emit('chats');
}

// ---- Messages ----

// A chat's messages as far as known: `messages` is a contiguous-or-gapped run sorted by seq,
// `pending` holds this device's unsent messages in the order they were typed.
export function box(chatId) {
  let b = state.boxes.get(chatId);
  if (!b) {
    b = { messages: [], pending: [], loaded: false, loading: false, error: null, hasOlder: false, loadingOlder: false };
    state.boxes.set(chatId, b);
  }
  return b;
}

export function patchBox(chatId, fields) {
  Object.assign(box(chatId), fields);
  events.emit('messages', chatId);
}

export const lastSeq = (chatId) => state.boxes.get(chatId)?.messages.at(-1)?.seq ?? 0;

// The highest seq below which nothing is missing: where a catch-up must start.
export function contiguousSeq(chatId) {
  const list = state.boxes.get(chatId)?.messages || [];
  for (let i = 1; i < list.length; i += 1) if (list[i].seq !== list[i - 1].seq + 1) return list[i - 1].seq;
  return list.at(-1)?.seq ?? 0;
}

function insert(b, message) {
  const list = b.messages;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].seq < message.seq) lo = mid + 1;
    else hi = mid;
  }
  if (list[lo]?.seq === message.seq) list[lo] = newer(list[lo], message);
  else list.splice(lo, 0, message);
}

// The later of two versions of one message: a change-feed page can cross a live update, and an
// older `rev` must never overwrite a newer one. Hiding is this user's own and is never undone.
function newer(old, next) {
  if ((old.rev ?? 0) > (next.rev ?? 0)) return old;
  return { ...old, ...next, hidden: Boolean(old.hidden || next.hidden) };
}

export function findMessage(chatId, seq) {
  return state.boxes.get(chatId)?.messages.find((m) => m.seq === seq) ?? null;
}

function dropPending(b, clientId) {
  if (!clientId) return;
  const i = b.pending.findIndex((p) => p.clientId === clientId);
  if (i >= 0) b.pending.splice(i, 1);
}

function seedReads(chatId, messages) {
  for (const m of messages) {
    for (const r of m.readBy || []) raiseMark(state.reads, chatId, r.userId, m.seq);
    for (const d of m.deliveredTo || []) raiseMark(state.delivered, chatId, d.userId, m.seq);
  }
}

function absorb(chatId, messages) {
  const b = box(chatId);
  for (const m of messages) {
    dropPending(b, m.clientId);
    insert(b, m);
  }
  seedReads(chatId, messages);
  return b;
}

export function setHistory(chatId, messages, hasOlder) {
  const b = absorb(chatId, messages);
  // Changes that arrived while the page was in flight, to messages the page holds.
  for (const m of b.early?.values() || []) if (b.messages.some((known) => known.seq === m.seq)) insert(b, m);
  Object.assign(b, { loaded: true, loading: false, error: null, hasOlder, early: null });
  events.emit('messages', chatId);
}

export function addOlder(chatId, messages, hasOlder) {
  const b = absorb(chatId, messages);
  Object.assign(b, { hasOlder, loadingOlder: false });
  events.emit('messages', chatId);
}

export function addMessages(chatId, messages) {
  if (!messages.length) return;
  absorb(chatId, messages);
  const chat = state.chats.get(chatId);
  const newest = messages.at(-1);
  if (chat && (!chat.lastMessage || newest.seq > chat.lastMessage.seq)) chat.lastMessage = newest;
  events.emit('messages', chatId);
  events.emit('chats');
}

// One message from the socket or an ack. `isNew`: newer than anything known for the chat (counts
// as unread); `gap`: seqs are missing below it and a catch-up is needed. Unloaded chats only keep
// their lastMessage; their history is fetched when opened.
export function putMessage(message) {
  const chat = state.chats.get(message.chatId);
  const b = box(message.chatId);
  const isNew = !chat?.lastMessage || message.seq > chat.lastMessage.seq;
  const gap = b.loaded && b.messages.length > 0 && message.seq > lastSeq(message.chatId) + 1;
  dropPending(b, message.clientId);
  if (b.loaded) insert(b, message);
  seedReads(message.chatId, [message]);
  if (chat && isNew) {
    chat.lastMessage = message;
    chat.updatedAt = message.createdAt;
  }
  events.emit('messages', message.chatId);
  events.emit('chats');
  return { isNew, gap };
}

// A changed message (message_updated, an action's answer, the change feed): replaced where it is
// known, its chat's preview and pinned list kept in step. Messages older than the loaded history
// are left for when they are fetched; one newer than it means new messages were missed (`gap`).
function applyUpdate(message) {
  const { chatId } = message;
  const chat = state.chats.get(chatId);
  const b = box(chatId);
  let gap = false;
  if (b.loaded && (!b.messages.length || message.seq >= b.messages[0].seq)) {
    gap = b.messages.length > 0 && message.seq > lastSeq(chatId) + 1;
    dropPending(b, message.clientId);
    insert(b, message);
  } else if (b.loading) {
    if (!b.early) b.early = new Map();
    b.early.set(message.seq, message);
  }
  seedReads(chatId, [message]);
  if (chat?.lastMessage && chat.lastMessage.seq === message.seq) chat.lastMessage = newer(chat.lastMessage, message);
  else if (chat && (!chat.lastMessage || message.seq > chat.lastMessage.seq)) chat.lastMessage = message;
  const pinned = state.pins.get(chatId);
  if (pinned) {
    const at = pinned.findIndex((m) => m.seq === message.seq);
    const keep = message.pinned && !message.deletedAt;
    if (at >= 0 && keep) pinned[at] = newer(pinned[at], message);
    else if (at >= 0) pinned.splice(at, 1);
    else if (keep) pinned.unshift(message);
  }
  return gap;
}

export function updateMessages(chatId, messages) {
  if (!messages.length) return false;
  let gap = false;
  for (const m of messages) gap = applyUpdate(m) || gap;
  events.emit('messages', chatId);
  events.emit('pins', chatId);
  events.emit('chats');
  return gap;
}

export const updateMessage = (message) => updateMessages(message.chatId, [message]);

export function setPins(chatId, messages) {
  state.pins.set(chatId, messages.filter((m) => m.pinned !== false && !m.deletedAt));
  events.emit('pins', chatId);
}

export const pinsOf = (chatId) => state.pins.get(chatId) || [];

export function addPending(item) {
  box(item.chatId).pending.push({
    ...item,
    id: null,
    seq: null,
    senderId: state.me?.id,
    isRead: false,
    readBy: [],
    reactions: [],
    failed: false,
  });
  events.emit('messages', item.chatId);
}

// `reason`: the server's error code ("blocked" is told apart on the bubble).
export function failPending(chatId, clientId, reason = null) {
  const pending = state.boxes.get(chatId)?.pending.find((p) => p.clientId === clientId);
  if (!pending) return;
  pending.failed = true;
  pending.failure = reason;
  events.emit('messages', chatId);
}

export function removePending(chatId, clientId) {
  const b = state.boxes.get(chatId);
  if (!b) return;
  dropPending(b, clientId);
  events.emit('messages', chatId);
}

// ---- Read and delivery marks ----

function raiseMark(table, chatId, userId, seq) {
  if (!table.has(chatId)) table.set(chatId, new Map());
  const marks = table.get(chatId);
  if ((marks.get(userId) ?? 0) >= seq) return false;
  marks.set(userId, seq);
  return true;
}

export function setRead(chatId, userId, seq) {
  if (raiseMark(state.reads, chatId, userId, seq)) events.emit('reads', chatId);
}

export function setDelivered(chatId, userId, seq) {
  if (raiseMark(state.delivered, chatId, userId, seq)) events.emit('reads', chatId);
}

// Delivered when the server says so, or when every other participant's devices have it; a read
// mark counts as delivery too.
export function isDelivered(chat, message) {
  if (message.isDelivered || isRead(chat, message)) return true;
  const reads = state.reads.get(chat.id);
  const delivered = state.delivered.get(chat.id);
  const reached = (id) => Math.max(reads?.get(id) ?? 0, delivered?.get(id) ?? 0) >= message.seq;
  const others = chat.participants.filter((id) => id !== message.senderId);
  return others.length > 0 && others.every(reached);
}

// Read when the server says so, or when every other participant's mark has reached it.
export function isRead(chat, message) {
  if (message.isRead) return true;
  const marks = state.reads.get(chat.id);
  const others = chat.participants.filter((id) => id !== message.senderId);
  return Boolean(marks) && others.length > 0 && others.every((id) => (marks.get(id) ?? 0) >= message.seq);
}

// ---- Typing ----

export function setTyping(chatId, userId, typing) {
  if (!state.typing.has(chatId)) state.typing.set(chatId, new Map());
  const typers = state.typing.get(chatId);
  const wasTyping = typers.has(userId);
  clearTimeout(typers.get(userId));
  if (typing) typers.set(userId, setTimeout(() => setTyping(chatId, userId, false), TYPING_EXPIRE_MS));
  else typers.delete(userId);
  if (typing !== wasTyping) events.emit('typing', chatId);
}

export const typers = (chatId) => [...(state.typing.get(chatId)?.keys() || [])].filter((id) => id !== state.me?.id);
