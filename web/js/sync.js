// Keeps the store in step with the server: the chat list, history pages, catch-up after a
// reconnect or a gap, and socket events. Catch-up has two halves: new messages (after=<seq>) and
// changes to cached ones (changes?since=<rev>), each repeated while hasMore.
//
// Per chat, `cursors` holds the rev up to which every change to the cached messages is known. Live
// socket events raise it only while the chat is `live`: caught up since the socket last joined,
// because events arrive in rev order only on one unbroken connection. A reconnect, or opening a chat
// that is not live, asks for the changes since the cursor.
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';
import * as outbox from './outbox.js';
import * as people from './people.js';
import * as receipts from './receipts.js';

export { markRead } from './receipts.js';

const PAGE_SIZE = 30;
const CATCH_UP_SIZE = 100;
const CHANGES_SIZE = 200;
const OLDER_RETRY_MS = 3_000;
const PREFETCH_MEMBERS = 20; // a large group's other members are looked up when they are shown

const unsubscribers = [];
const catchUps = new Map(); // chatId → running catch-up
const chatFetches = new Map(); // chatId → running GET /api/chats/:id
const olderLoads = new Map(); // chatId → running GET …/messages?before=
const pinFetches = new Map(); // chatId → running GET …/pins
const cursors = new Map(); // chatId → rev up to which the cached messages are current
const live = new Set(); // chatIds whose socket events have arrived unbroken since their catch-up
let epoch = 0; // moves on every join and every loss of the socket

export function start() {
  unsubscribers.push(
    connection.on('joined', onJoined),
    connection.on('state', onState),
    connection.on('new_message', onNewMessage),
    connection.on('message_updated', onUpdated),
    connection.on('user_typing', (d) => store.setTyping(d.chatId, d.userId, d.isTyping)),
    connection.on('user_status', store.setPresence),
    connection.on('message_read', onRead),
    connection.on('message_delivered', (d) => store.setDelivered(d.chatId, d.userId, d.seq)),
    connection.on('chat_updated', onChatUpdated),
  );
  loadChats().catch(() => {});
}

export function stop() {
  unsubscribers.splice(0).forEach((off) => off());
  catchUps.clear();
  chatFetches.clear();
  olderLoads.clear();
  pinFetches.clear();
  cursors.clear();
  live.clear();
  receipts.reset();
}

function onState(next) {
  if (next === 'online') return;
  epoch += 1;
  live.clear();
}

async function onJoined(user) {
  epoch += 1;
  live.clear();
  if (user) store.putUser(user);
  outbox.flush();
  // Marks sent while offline may have been lost; report again.
  receipts.forgetSent();
  try {
    await loadChats();
  } catch {
    return;
  }
  for (const [chatId, b] of store.state.boxes) {
    if (b.loaded) catchUp(chatId);
    else if (b.error) loadHistory(chatId);
    if (store.state.pins.has(chatId)) loadPins(chatId);
  }
  if (store.state.viewing) receipts.markRead(store.state.viewing);
}

export async function loadChats() {
  const requestedAt = Date.now();
  try {
    const { chats } = await api.get('/api/chats');
    store.setChats(chats, requestedAt);
    // The list's newest messages have reached this device.
    for (const chat of chats) if (chat.lastMessage) receipts.receivedAll(chat.id, [chat.lastMessage]);
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

const highestRev = (messages) => messages.reduce((top, m) => Math.max(top, m.rev ?? 0), 0);

// Opening a chat: its newest page, or, when its cached history may be stale, what changed since.
export async function loadHistory(chatId) {
  const b = store.box(chatId);
  if (b.loaded && !live.has(chatId) && connection.isOnline()) catchUp(chatId);
  if (b.loaded || b.loading) return;
  store.patchBox(chatId, { loading: true, error: null });
  const since = epoch;
  try {
    const page = await api.get(`/api/chats/${chatId}/messages?limit=${PAGE_SIZE}`);
    cursors.set(chatId, Math.max(cursors.get(chatId) ?? 0, highestRev(page.messages)));
    if (since === epoch && connection.isOnline()) live.add(chatId);
    store.setHistory(chatId, page.messages, page.hasMore);
    receipts.receivedAll(chatId, page.messages);
    // Messages that arrived while the page was in flight are only known as lastMessage.
    const last = store.state.chats.get(chatId)?.lastMessage;
    if (last && last.seq > store.lastSeq(chatId)) catchUp(chatId);
  } catch (err) {
    store.patchBox(chatId, { loading: false, error: err });
    if (err.status === 404) store.removeChat(chatId);
  }
}

// One page of older history; resolves true when it was added. Calls during a load share it.
export function loadOlder(chatId, size = PAGE_SIZE) {
  if (olderLoads.has(chatId)) return olderLoads.get(chatId);
  const b = store.box(chatId);
  const oldest = b.messages[0];
  if (!b.loaded || !b.hasOlder || b.loadingOlder || !oldest) return Promise.resolve(false);
  store.patchBox(chatId, { loadingOlder: true });
  const run = api.get(`/api/chats/${chatId}/messages?before=${oldest.seq}&limit=${size}`)
    .then((page) => {
      store.addOlder(chatId, page.messages, page.hasMore);
      receipts.receivedAll(chatId, page.messages);
      return true;
    }, () => {
      // Keep the flag up a moment so scrolling does not hammer a failing server.
      setTimeout(() => store.patchBox(chatId, { loadingOlder: false }), OLDER_RETRY_MS);
      return false;
    })
    .finally(() => olderLoads.delete(chatId));
  olderLoads.set(chatId, run);
  return run;
}

// Loads older pages until `seq` is in the history (a reply's original, a pinned message);
// resolves false when it does not exist any more or could not be fetched.
export async function loadBackTo(chatId, seq) {
  for (;;) {
    const b = store.box(chatId);
    if (!b.loaded) return false;
    if (b.messages.length && b.messages[0].seq <= seq) return true;
    if (!(await loadOlder(chatId, CATCH_UP_SIZE))) return false;
  }
}

function catchUp(chatId) {
  if (!catchUps.has(chatId)) {
    const run = catchUpChanges(chatId)
      .then(() => catchUpNew(chatId))
      .catch(() => {})
      .finally(() => catchUps.delete(chatId));
    catchUps.set(chatId, run);
  }
  return catchUps.get(chatId);
}

async function catchUpNew(chatId) {
  for (;;) {
    const after = store.contiguousSeq(chatId);
    const page = await api.get(`/api/chats/${chatId}/messages?after=${after}&limit=${CATCH_UP_SIZE}`);
    if (!store.state.boxes.has(chatId)) return;
    store.addMessages(chatId, page.messages);
    receipts.receivedAll(chatId, page.messages);
    if (!page.hasMore || !page.messages.length) return;
  }
}

// Edits, deletions, reactions, pins and new messages since the cursor, oldest change first.
async function catchUpChanges(chatId) {
  const started = epoch;
  const online = connection.isOnline();
  let since = cursors.get(chatId) ?? 0;
  for (;;) {
    const page = await api.get(`/api/chats/${chatId}/changes?since=${since}&limit=${CHANGES_SIZE}`);
    if (!store.state.boxes.has(chatId)) return;
    store.updateMessages(chatId, page.messages);
    receipts.receivedAll(chatId, page.messages);
    const last = page.messages.at(-1)?.rev ?? since;
    if (!page.hasMore || !page.messages.length) {
      since = Math.max(last, page.rev ?? 0);
      break;
    }
    since = last;
  }
  cursors.set(chatId, Math.max(cursors.get(chatId) ?? 0, since));
  if (online && started === epoch && connection.isOnline()) live.add(chatId);
}

function follow(message) {
  if (live.has(message.chatId) && message.rev) cursors.set(message.chatId, Math.max(cursors.get(message.chatId) ?? 0, message.rev));
}

function onNewMessage(message) {
  const me = store.state.me?.id;
  const known = store.state.chats.has(message.chatId);
  const { isNew, gap } = store.putMessage(message);
  follow(message);
  if (message.senderId !== me) {
    store.setTyping(message.chatId, message.senderId, false);
    if (isNew && store.state.viewing !== message.chatId) store.bumpUnread(message.chatId);
    receipts.received(message.chatId, message.seq);
  }
  if (gap) catchUp(message.chatId);
  if (!known) fetchChat(message.chatId).catch(() => {});
}

function onUpdated(message) {
  const gap = store.updateMessage(message);
  follow(message);
  if (gap) catchUp(message.chatId);
}

// The chat's pinned messages, most recently pinned first; kept live by message updates after.
export function loadPins(chatId) {
  if (!pinFetches.has(chatId)) {
    const run = api.get(`/api/chats/${chatId}/pins`)
      .then(({ messages }) => store.setPins(chatId, messages), () => {})
      .finally(() => pinFetches.delete(chatId));
    pinFetches.set(chatId, run);
  }
  return pinFetches.get(chatId);
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
