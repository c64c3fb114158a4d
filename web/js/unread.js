// The unread count outside the chat list: in the page title ("(3) Clavox") and on the installed
// app's icon (the Badging API, where the browser has it), always the sum of the list's counts.
// Also where a chat's unread messages begin, for the divider a chat opens at.
import * as store from './store.js';

const TITLE = 'Clavox';
let shown = -1;
let off = null;

function total() {
  let sum = 0;
  for (const chat of store.state.chats.values()) sum += chat.unreadCount || 0;
  return sum;
}

function show(count) {
  if (count === shown) return;
  shown = count;
  document.title = count ? `(${count}) ${TITLE}` : TITLE;
  if (!('setAppBadge' in navigator)) return;
  // Refused where the app is not installed or the page is not allowed to; the title still counts.
  const done = count ? navigator.setAppBadge(count) : navigator.clearAppBadge();
  done.catch(() => {});
}

export function start() {
  off?.();
  off = store.on('chats', () => show(total()));
  show(total());
}

export function stop() {
  off?.();
  off = null;
  show(0);
}

// The seq of the first of a chat's `count` unread messages: the count-th newest from someone else
// among `messages` (oldest first), or the oldest such one when fewer are loaded; null for none.
export function firstUnreadSeq(messages, me, count) {
  if (!count) return null;
  let seen = 0;
  let first = null;
  for (let i = messages.length - 1; i >= 0 && seen < count; i -= 1) {
    const m = messages[i];
    if (m.seq == null || m.senderId === me) continue;
    seen += 1;
    first = m.seq;
  }
  return first;
}
