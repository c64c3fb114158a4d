// Changing a stored message: what this user may do to it (the server's rules, so the menu offers
// only what will work) and the calls that do it. Each call puts the answer in the store at once;
// the message_updated event that follows carries the same rev and changes nothing more. Edits,
// deletions and reactions go over the socket when it is up, else over REST; the rest are REST only.
import * as api from './api.js';
import * as connection from './connection.js';
import * as store from './store.js';

export const EDIT_WINDOW_MS = 2 * 86_400_000; // the server's default EDIT_WINDOW
export const DELETE_WINDOW_MS = 2 * 86_400_000; // and DELETE_WINDOW
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

const base = (chatId, seq) => `/api/chats/${encodeURIComponent(chatId)}/messages/${seq}`;
const within = (message, ms, now) => now - Date.parse(message.createdAt) < ms;

// What the menu offers for `message` in `chat`. Unsent messages and ones hidden on this device
// offer nothing; deleted ones only "Delete for me".
export function allowed(message, chat, now = Date.now()) {
  const me = store.state.me?.id;
  if (message.seq == null || message.hidden || !chat) return new Set();
  if (message.deletedAt) return new Set(['hide']);
  const own = message.senderId === me;
  const group = chat.type === 'group';
  const admin = group && chat.admins?.includes(me);
  const can = new Set(['reply', 'react', 'forward', 'hide']);
  if (message.content?.trim()) can.add('copy');
  if (own && within(message, EDIT_WINDOW_MS, now)) can.add('edit');
  if ((own && within(message, DELETE_WINDOW_MS, now)) || admin) can.add('delete');
  if (!group || admin) can.add(message.pinned ? 'unpin' : 'pin');
  if (group && own) can.add('info');
  return can;
}

// Over the socket while it is up; over REST when the link (not the server) said no.
async function either(event, data, rest) {
  try {
    return await connection.request(event, data);
  } catch (err) {
    if (!err.transient) throw err;
    return rest();
  }
}

function stored(message) {
  if (message?.seq != null) store.updateMessage(message);
  return message;
}

export async function edit(message, content) {
  const { chatId, seq } = message;
  return stored(await either('edit_message', { chatId, seq, content }, () => api.patch(base(chatId, seq), { content })));
}

export async function deleteForEveryone(message) {
  const { chatId, seq } = message;
  return stored(await either('delete_message', { chatId, seq }, () => api.del(base(chatId, seq))));
}

export async function hide(message) {
  return stored(await api.post(`${base(message.chatId, message.seq)}/hide`));
}

export const hasReacted = (message, emoji) =>
  Boolean(message.reactions?.some((r) => r.emoji === emoji && r.userIds.includes(store.state.me?.id)));

// Adds this user's `emoji`, or takes it away when it is already theirs.
export async function toggleReaction(message, emoji) {
  const { chatId, seq } = message;
  const on = !hasReacted(message, emoji);
  const path = `${base(chatId, seq)}/reactions/${encodeURIComponent(emoji)}`;
  return stored(await either('react', { chatId, seq, emoji, on }, () => (on ? api.put(path) : api.del(path))));
}

export async function setPinned(message, pinned) {
  const path = `/api/chats/${encodeURIComponent(message.chatId)}/pins/${message.seq}`;
  const answer = pinned ? await api.put(path) : await api.del(path);
  // The answer may be the message or nothing; the pinned list follows either way.
  stored(answer?.seq != null ? answer : { ...message, pinned });
  return answer;
}

export async function forward(message, chatIds) {
  const { messages } = await api.post(`${base(message.chatId, message.seq)}/forward`, { chatIds });
  for (const copy of messages || []) store.putMessage(copy);
  return messages || [];
}

// The message as the server has it now, with current readBy and deliveredTo (for Message info).
export async function fetchFresh(message) {
  const page = await api.get(`/api/chats/${encodeURIComponent(message.chatId)}/messages?after=${message.seq - 1}&limit=1`);
  const fresh = page.messages.find((m) => m.seq === message.seq);
  return fresh ? stored(fresh) : message;
}

// The one emoji at the start of `text` (a grapheme cluster, so flags and skin tones stay whole),
// or null when it does not start with one.
export function firstEmoji(text) {
  const trimmed = String(text || '').trim();
  if (!trimmed) return null;
  const first = typeof Intl.Segmenter === 'function'
    ? new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(trimmed)[Symbol.iterator]().next().value.segment
    : Array.from(trimmed)[0];
  return /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u.test(first) ? first : null;
}
