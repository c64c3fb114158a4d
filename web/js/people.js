// Who is who: fetches a user the first time they are shown (GET /api/users/:id, once per id,
// retried at most every 30 s) and names chats after their participants.
import * as api from './api.js';
import { state, putUser, sortedChats } from './store.js';
import { t } from './i18n.js';

const RETRY_MS = 30_000;
const attempts = new Map(); // userId → time of the last fetch

function want(userId) {
  // Fetched already: presence events alone leave no createdAt, and a number may be hidden (null).
  if (!userId || state.users.get(userId)?.createdAt) return;
  const last = attempts.get(userId);
  if (last && Date.now() - last < RETRY_MS) return;
  attempts.set(userId, Date.now());
  api.get(`/api/users/${encodeURIComponent(userId)}`).then(putUser, () => {});
}

// Looks these users up now (for a chat that just appeared), so its row shows names at once.
export function prefetch(userIds) {
  for (const id of userIds) want(id);
}

export function forgetAll() {
  attempts.clear();
}

export function user(userId) {
  want(userId);
  return state.users.get(userId) || null;
}

export function nameOf(userId) {
  const u = user(userId);
  return u?.name || u?.phoneNumber || t('people.someone');
}

export const firstName = (userId) => nameOf(userId).split(/\s+/)[0];

export function peerOf(chat) {
  if (chat.type !== 'private') return null;
  return chat.participants.find((id) => id !== state.me?.id) ?? state.me?.id;
}

export function chatTitle(chat) {
  if (chat.type === 'group') return chat.name || t('chat.untitledGroup');
  return nameOf(peerOf(chat));
}

// What an avatar needs to draw a chat: the group's own picture, or the other person's.
export function chatFace(chat) {
  if (chat.type === 'group') return { id: chat.id, name: chat.name, url: chat.avatar, group: true };
  const peerId = peerOf(chat);
  const peer = user(peerId);
  return { id: peerId, name: peer?.name, url: peer?.avatar, online: Boolean(peer?.isOnline) };
}

export const userFace = (u) => ({ id: u.id, name: u.name, url: u.avatar });

// Finds a user by phone number (GET /api/users/lookup); an ApiError 404 means nobody has signed in
// with that number yet.
export async function lookup(phoneNumber) {
  const found = await api.get(`/api/users/lookup?phoneNumber=${encodeURIComponent(phoneNumber)}`);
  putUser(found);
  return found;
}

// People this user already has a private chat with, most recent first: quick picks for groups.
export function contacts() {
  const seen = new Set();
  const result = [];
  for (const chat of sortedChats()) {
    const id = peerOf(chat);
    if (!id || id === state.me?.id || seen.has(id)) continue;
    seen.add(id);
    const u = user(id);
    if (u?.phoneNumber) result.push(u);
  }
  return result;
}
