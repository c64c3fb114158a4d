// Keeps the store in step with the server: the chat list, history pages, catch-up after a
// reconnect or a gap (after=<seq>, repeated while hasMore), read marks, and socket events.
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';
import * as outbox from './outbox.js';
import * as people from './people.js';

const PAGE_SIZE = 30;
const CATCH_UP_SIZE = 100;
const OLDER_RETRY_MS = 3_000;
const PREFETCH_MEMBERS = 20; // a large group's other members are looked up when they are shown

const unsubscribers = [];
const catchUps = new Map(); // chatId → running catch-up
const chatFetches = new Map(); // chatId → running GET /api/chats/:id
const sentReadMarks = new Map(); // chatId → highest seq reported read

export function start() {
  unsubscribers.push(
    connection.on('joined', onJoined),
    connection.on('new_message', onNewMessage),
    connection.on('user_typing', (d) => store.setTyping(d.chatId, d.userId, d.isTyping)),
    connection.on('user_status', store.setPresence),
    connection.on('message_read', onRead),
    connection.on('chat_updated', onChatUpdated),
  );
  loadChats().catch(() => {});
}

export function stop() {
  unsubscribers.splice(0).forEach((off) => off());
  catchUps.clear();
  chatFetches.clear();
  sentReadMarks.clear();
}

async function onJoined(user) {
  if (user) store.putUser(user);
  outbox.flush();
  try {
    await loadChats();
  } catch {
    return;
  }
  for (const [chatId, b] of store.state.boxes) {
    if (b.loaded) catchUp(chatId);
    else if (b.error) loadHistory(chatId);
  }
  // Marks sent while offline may have been lost; let the open chat report again.
  sentReadMarks.clear();
  if (store.state.viewing) markRead(store.state.viewing);
}

export async function loadChats() {
  const requestedAt = Date.now();
  try {
    const { chats } = await api.get('/api/chats');
    store.setChats(chats, requestedAt);
  } catch (err) {
    store.setChatsError(err);
    throw err;
  }
}

// One chat, e.g. one that appeared through its first message or a deep link. 404: not a member.
export function fetchChat(chatId) {
  if (!chatFetches.has(chatId)) {
    const run = api
      .get(`/api/chats/${encodeURIComponent(chatId)}`)
      .then((chat) => {
        store.upsertChat(chat, true);
        return chat;
      })
      .catch((err) => {
        if (err.status === 404) store.removeChat(chatId);
        throw err;
      })
      .finally(() => chatFetches.delete(chatId));
    chatFetches.set(chatId, run);
  }
  return chatFetches.get(chatId);
}

export async function loadHistory(chatId) {
  const b = store.box(chatId);
  if (b.loaded || b.loading) return;
  store.patchBox(chatId, { loading: true, error: null });
  try {
    const page = await api.get(`/api/chats/${chatId}/messages?limit=${PAGE_SIZE}`);
    store.setHistory(chatId, page.messages, page.hasMore);
    // Messages that arrived while the page was in flight are only known as lastMessage.
    const last = store.state.chats.get(chatId)?.lastMessage;
    if (last && last.seq > store.lastSeq(chatId)) catchUp(chatId);
  } catch (err) {
    store.patchBox(chatId, { loading: false, error: err });
    if (err.status === 404) store.removeChat(chatId);
  }
}

export async function loadOlder(chatId) {
  const b = store.box(chatId);
  const oldest = b.messages[0];
  if (!b.loaded || !b.hasOlder || b.loadingOlder || !oldest) return;
  store.patchBox(chatId, { loadingOlder: true });
  try {
    const page = await api.get(`/api/chats/${chatId}/messages?before=${oldest.seq}&limit=${PAGE_SIZE}`);
    store.addOlder(chatId, page.messages, page.hasMore);
  } catch {
    // Keep the flag up a moment so scrolling does not hammer a failing server.
    setTimeout(() => store.patchBox(chatId, { loadingOlder: false }), OLDER_RETRY_MS);
  }
}

function catchUp(chatId) {
  if (!catchUps.has(chatId)) {
    const run = (async () => {
      for (;;) {
        const after = store.contiguousSeq(chatId);
        const page = await api.get(`/api/chats/${chatId}/messages?after=${after}&limit=${CATCH_UP_SIZE}`);
        if (!store.state.boxes.has(chatId)) return;
        store.addMessages(chatId, page.messages);
        if (!page.hasMore || !page.messages.length) return;
      }
    })()
      .catch(() => {})
      .finally(() => catchUps.delete(chatId));
    catchUps.set(chatId, run);
  }
  return catchUps.get(chatId);
}

// Reports everything on screen as read: over the socket, else over REST, and clears the badge.
export function markRead(chatId) {
  const chat = store.state.chats.get(chatId);
  if (!chat) return;
  const top = Math.max(store.lastSeq(chatId), chat.lastMessage?.seq ?? 0);
  if (!top || (top <= (sentReadMarks.get(chatId) ?? 0) && !chat.unreadCount)) return;
  sentReadMarks.set(chatId, top);
  store.clearUnread(chatId);
  connection
    .request('mark_read', { chatId, seq: top })
    .catch(() => api.post(`/api/chats/${chatId}/read`, { seq: top }))
    .catch(() => {
      if (sentReadMarks.get(chatId) === top) sentReadMarks.delete(chatId);
    });
}

function onNewMessage(message) {
  const me = store.state.me?.id;
  const known = store.state.chats.has(message.chatId);
  const { isNew, gap } = store.putMessage(message);
  if (message.senderId !== me) {
    store.setTyping(message.chatId, message.senderId, false);
    if (isNew && store.state.viewing !== message.chatId) store.bumpUnread(message.chatId);
  }
  if (gap) catchUp(message.chatId);
  if (!known) fetchChat(message.chatId).catch(() => {});
}

function onRead({ chatId, userId, seq }) {
  store.setRead(chatId, userId, seq);
  if (userId === store.state.me?.id) store.readElsewhere(chatId, seq);
}

// A chat changed, or this user was just given one: someone started a private chat with them or
// added them to a group. A chat new to this device shows in the list at once, before its first
// message; its participants are looked up for names and pictures, and the chat itself is fetched
// once more, since the event may have been shaped for the person who made the change.
function onChatUpdated(chat) {
  if (!chat.participants.includes(store.state.me?.id)) {
    store.removeChat(chat.id);
    return;
  }
  const known = store.state.chats.has(chat.id);
  store.upsertChat(chat);
  if (known) return;
  const others = chat.participants.filter((id) => id !== store.state.me?.id);
  people.prefetch(chat.type === 'private' ? others : others.slice(0, PREFETCH_MEMBERS));
  fetchChat(chat.id).catch(() => {});
}
